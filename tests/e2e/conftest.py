"""End-to-end fixtures: the sandbox over HTTP, embedded PostgreSQL, real Airflow runs.

Each test gets its own generated portal, its own warehouse schema and its own sync config
(written to a temp file and selected with ``HUBSPOT_ETL_CONFIG``); DAGs run in-process
through ``dag.test()``, with connections supplied as ``AIRFLOW_CONN_*`` variables.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from hubspot_devtools import local
from hubspot_devtools.airflow_stack import MetadataDatabase
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal

from tests.support.oracle import BigQueryView, SnowflakeView, WarehouseView

TOKEN = "e2e-secret-token-7f3a9c"

DEFAULT_OBJECTS: dict[str, Any] = {
    "contacts": {"associations": ["companies", "deals"]},
    "companies": {"associations": ["contacts", "deals"]},
    "deals": {"associations": ["companies", "contacts"]},
    "tickets": {"associations": ["contacts"]},
    # the sandbox's custom object; a bare "services" would also mean HubSpot's Services (0-162)
    "services": {"object_type": "p12345678_services", "associations": ["contacts"]},
}


@dataclass
class SyncEnv:
    """One test's sandbox + warehouse schema + config, and helpers to drive them."""

    sandbox: SandboxServer
    pg: local.LocalPostgres
    schema: str
    config_path: Path
    staging: Path
    objects: dict[str, Any]
    defaults: dict[str, Any] = field(default_factory=dict)

    warehouse: str = "postgres"
    bq: Any = None
    snowflake: Any = None  # tests.conftest.SnowflakeConnFactory

    def step_context(
        self, run_id: str, hook_factory: Any = None, try_number: int = 1, **defaults: Any
    ) -> Any:
        """A ``StepContext`` for driving the sync steps of ``contacts`` in-process (PostgreSQL)."""
        from hubspot_etl.config import parse_config
        from hubspot_etl.hooks.hubspot import HubSpotHook
        from hubspot_etl.sync import steps
        from hubspot_etl.warehouse.postgres import PostgresWarehouse

        document = {
            "objects": {"contacts": {}},
            "defaults": {
                "destination": {"schema": self.schema},
                "staging_base": f"file://{self.staging}",
                "lease_wait_seconds": 0,
                **defaults,
            },
        }
        return steps.StepContext(
            cfg=parse_config(document).objects[0],
            dag_id="hubspot_contacts",
            run_id=run_id,
            try_number=try_number,
            hook_factory=hook_factory
            or (lambda: HubSpotHook.from_params(token=TOKEN, host=self.sandbox.url)),
            warehouse_factory=lambda: PostgresWarehouse(self.schema, conninfo=self.pg.uri),
        )

    @property
    def view(self) -> WarehouseView | BigQueryView | SnowflakeView:
        if self.warehouse == "bigquery":
            return BigQueryView(self.bq.client(), self.schema)
        if self.warehouse == "snowflake":
            return SnowflakeView(self.snowflake, self.schema)
        return WarehouseView(self.pg.uri, self.schema)

    def destination(self) -> dict[str, Any]:
        if self.warehouse == "bigquery":
            return {
                "type": "bigquery",
                "conn_id": "hubspot_warehouse",
                "schema": self.schema,
                "project": self.bq.project,
            }
        if self.warehouse == "snowflake":
            return {"type": "snowflake", "conn_id": "hubspot_warehouse", "schema": self.schema}
        return {"type": "postgres", "conn_id": "hubspot_warehouse", "schema": self.schema}

    def write_config(self, objects: dict[str, Any] | None = None, **defaults: Any) -> None:
        if objects is not None:
            self.objects = objects
        self.defaults.update(defaults)
        base = {
            "destination": self.destination(),
            "staging_base": f"file://{self.staging}",
            "schedule": None,
            "full_refresh_schedule": None,
            "retries": 0,
            "lookback_minutes": 1,
        }
        local.write_sync_config(self.config_path, self.objects, {**base, **self.defaults})

    def run(self, dag_id: str, expect: str = "success", **params: Any) -> Any:
        dag_run = local.run_dag(dag_id, params)
        state = str(getattr(dag_run.state, "value", dag_run.state))
        assert state == expect, f"{dag_id} ended {state}: {local.task_states(dag_run)}"
        return dag_run

    def report(self, dag_run: Any) -> dict[str, Any]:
        return local.xcom_result(dag_run, "finalize") or local.xcom_result(dag_run, "sync_owners")

    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        response = requests.request(method, f"{self.sandbox.url}/_sandbox/{path}", json=payload, timeout=30)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json() if response.content else None

    def snapshot(self, object_type: str) -> dict[str, Any]:
        return self.admin("GET", f"state/{object_type}")

    def api(self, path: str) -> Any:
        response = requests.get(
            f"{self.sandbox.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        response.raise_for_status()
        return response.json()


def make_portal(**sizes: int) -> Any:
    defaults = dict(
        seed=11, contacts=240, companies=50, deals=80, tickets=40, custom=30, extra_properties=6, owners=6
    )
    return generate_portal(**{**defaults, **sizes})


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(tokens={TOKEN: list(ALL_SCOPES)}, rate_limit_max=None, search_per_second=None)


WAREHOUSES = ("postgres", "bigquery", "snowflake")


@pytest.fixture
def warehouse_kind(request: pytest.FixtureRequest) -> str:
    """The destination of ``sync_env``: ``postgres`` unless a test parametrizes it (``indirect=True``)."""
    kind = getattr(request, "param", "postgres")
    if kind not in WAREHOUSES:
        raise ValueError(f"warehouse_kind must be one of {WAREHOUSES}, got {kind!r}")
    return kind


@pytest.fixture
def sync_env(
    request: pytest.FixtureRequest,
    warehouse_kind: str,
    local_pg: local.LocalPostgres,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_config: SandboxConfig,
) -> Iterator[SyncEnv]:
    marker = request.node.get_closest_marker("portal")
    portal = make_portal(**(marker.kwargs if marker else {}))
    with SandboxServer(portal, sandbox_config) as server:
        env = SyncEnv(
            sandbox=server,
            pg=local_pg,
            schema=f"e2e_{uuid.uuid4().hex[:10]}",
            config_path=tmp_path / "hubspot_sync.yaml",
            staging=tmp_path / "staging",
            objects=json.loads(json.dumps(DEFAULT_OBJECTS)),
            warehouse=warehouse_kind,
            bq=request.getfixturevalue("local_bq") if warehouse_kind == "bigquery" else None,
            snowflake=request.getfixturevalue("snowflake_conn_factory")
            if warehouse_kind == "snowflake"
            else None,
        )
        requested = getattr(getattr(request.node, "callspec", None), "params", {}).get("warehouse_kind")
        if requested is not None and env.warehouse != requested:  # never a silent fallback again
            pytest.fail(f"the test asked for warehouse {requested!r} but sync_env built {env.warehouse!r}")
        env.write_config()
        monkeypatch.setenv("HUBSPOT_ETL_CONFIG", str(env.config_path))
        monkeypatch.setenv("HUBSPOT_ETL_ENV", "")
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(local.hubspot_connection(server.url, TOKEN))
        )
        warehouse_conn = (
            env.bq.airflow_connection()
            if env.bq
            else env.snowflake.airflow_connection()
            if env.snowflake
            else local_pg.airflow_connection()
        )
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_WAREHOUSE", json.dumps(warehouse_conn))
        yield env
        if env.bq:
            env.bq.client().delete_dataset(env.schema, delete_contents=True, not_found_ok=True)


@pytest.fixture
def airflow_metadata(local_pg) -> Iterator[MetadataDatabase]:
    """For tests with a real scheduler (``AirflowStack``): a fresh ``airflow_<uuid>`` database on the session's PostgreSQL for the stack."""
    db = MetadataDatabase.create(local_pg.uri)
    yield db
    try:
        db.drop()
    except psycopg.Error as exc:  # cleanup only: the server and its data go at session end
        warnings.warn(f"could not drop {db.name}: {exc}", stacklevel=1)
