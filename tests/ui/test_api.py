"""The page's FastAPI app in-process (TestClient): Airflow's auth on every data route, the
figures it serves from a real PostgreSQL warehouse, and freshness against the schedule."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hubspot_etl.config import parse_config
from hubspot_etl.ui import api
from hubspot_etl.ui.data import FAILING, FRESH, LATE, NEVER, SyncsData, api_call_total, freshness
from hubspot_etl.warehouse.postgres import PostgresWarehouse

PATHS = ("/api/objects", "/api/objects/contacts/runs", "/api/scoring", "/api/runs/hubspot_contacts/r1")
HOURLY = "0 * * * *"
NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "last_success", "dag_state", "expected"),
    [
        (HOURLY, NOW - timedelta(minutes=50), "success", FRESH),
        (HOURLY, NOW - timedelta(minutes=89), "success", FRESH),  # 11:01: the 12:00 run is due...
        (HOURLY, NOW - timedelta(minutes=100), "success", LATE),  # 10:50: 11:00 and 12:00 missed
        (HOURLY, NOW - timedelta(minutes=5), "failed", FAILING),
        (HOURLY, None, None, NEVER),
        (None, NOW - timedelta(days=30), "success", FRESH),  # manual: no schedule to miss
    ],
)
def test_freshness(schedule: str | None, last_success: Any, dag_state: Any, expected: str) -> None:
    assert freshness(schedule, last_success, dag_state, NOW) == expected


def test_api_call_total_counts_numbers_only() -> None:
    assert api_call_total({"list": 3, "search": 2, "note": "x", "flag": True}) == 5
    assert api_call_total(None) == 0


@pytest.fixture
def warehouse(pg_uri: str) -> Iterator[PostgresWarehouse]:
    wh = PostgresWarehouse(f"ui_{uuid.uuid4().hex[:10]}", conninfo=pg_uri)
    wh.ensure_schema()
    yield wh


@pytest.fixture
def client(warehouse: PostgresWarehouse, airflow_db: Any) -> Iterator[TestClient]:
    from airflow.api_fastapi.app import init_auth_manager

    init_auth_manager()  # the configured (Simple) auth manager, as the API server does (tokens: metadata DB)
    config = parse_config({"objects": {"contacts": {}, "deals": {"schedule": None}}})
    states = {"hubspot_contacts": "success", "hubspot_deals": "failed"}
    data = SyncsData(
        config,
        warehouse_for=lambda destination: warehouse,
        dag_run_state=states.get,
        budget_for=lambda conn_id: {"max_calls": 180, "interval_ms": 10_000},
    )
    app = api.create_app()
    app.dependency_overrides[api.syncs_data] = lambda: data
    with TestClient(app) as test_client:
        yield test_client


def _token() -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="viewer", role="viewer"))


def test_every_data_route_needs_an_airflow_user(client: TestClient) -> None:
    for path in PATHS:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 403, path
    assert client.get("/").status_code == 200  # the page itself holds no data
    assert "HubSpot syncs" in client.get("/").text


def test_objects_runs_and_report(client: TestClient, warehouse: PostgresWarehouse) -> None:
    started = datetime.now(UTC) - timedelta(minutes=3)
    for n in (1, 2):
        warehouse.write_run_report(
            {
                "run_id": f"r{n}",
                "object_name": "contacts",
                "mode": "incremental",
                "status": "healthy",
                "started_at": (started + timedelta(seconds=n)).isoformat(),
                "finished_at": (started + timedelta(seconds=20 * n)).isoformat(),
                "records_fetched": 4 * n,
                "records_upserted": 3 * n,
                "rejects": n - 1,
                "api_calls": {"list": 2 * n, "batch_read": 1},
                "deletes": {"archived": n},
                "schema_changes": {"added": 1},
            }
        )
    warehouse.set_sync_state("contacts", watermark=started, run_id="r2")
    auth = {"Authorization": f"Bearer {_token()}"}

    objects = {o["key"]: o for o in client.get("/api/objects", headers=auth).json()}
    assert objects["contacts"]["freshness"] == FRESH and objects["deals"]["freshness"] == FAILING
    last = objects["contacts"]["last_run"]
    assert (last["run_id"], last["records_upserted"], last["rejects"]) == ("r2", 6, 1)
    assert last["api_calls"] == {"list": 4, "batch_read": 1} and last["deletes"] == {"archived": 2}
    assert objects["deals"]["last_run"] is None

    runs = client.get("/api/objects/contacts/runs", headers=auth).json()
    assert [(r["run_id"], r["records_upserted"], r["api_calls"]) for r in runs["runs"]] == [
        ("r1", 3, 3),
        ("r2", 6, 5),
    ]
    assert runs["rate_budget"] == {"max_calls": 180, "interval_ms": 10_000}
    assert client.get("/api/objects/nope/runs", headers=auth).status_code == 404

    report = client.get("/api/runs/hubspot_contacts/r1", headers=auth).json()
    assert (report["run_id"], report["records_fetched"], report["schema_changes"]) == ("r1", 4, {"added": 1})
    assert client.get("/api/runs/hubspot_contacts/missing", headers=auth).status_code == 404
    assert client.get("/api/runs/other_dag/r1", headers=auth).status_code == 404
    assert client.get("/api/scoring", headers=auth).json() == []  # no object scores


def test_an_unreadable_warehouse_gives_an_error_row_without_its_message(
    warehouse: PostgresWarehouse,
) -> None:
    config = parse_config({"objects": {"contacts": {}, "deals": {"destination": {"schema": "elsewhere"}}}})

    def warehouse_for(destination: Any) -> Any:
        if destination.tables_schema == "elsewhere":
            raise ConnectionError("host db.internal user etl password hunter2 refused")
        return warehouse

    rows = {
        r["key"]: r
        for r in SyncsData(config, warehouse_for=warehouse_for, dag_run_state=lambda d: None).summaries()
    }
    assert rows["contacts"]["freshness"] == NEVER and "error" not in rows["contacts"]
    assert rows["deals"]["freshness"] == "unknown"
    assert "ConnectionError" in rows["deals"]["error"] and "hunter2" not in rows["deals"]["error"]


def test_objects_of_dags_the_user_may_not_read_are_left_out(client: TestClient) -> None:
    client.app.dependency_overrides[api.dag_reader] = lambda: lambda dag_id: dag_id != "hubspot_deals"
    auth = {"Authorization": f"Bearer {_token()}"}
    assert [o["key"] for o in client.get("/api/objects", headers=auth).json()] == ["contacts"]
    assert client.get("/api/objects/deals/runs", headers=auth).status_code == 404
    assert client.get("/api/runs/hubspot_deals/r1", headers=auth).status_code == 404
