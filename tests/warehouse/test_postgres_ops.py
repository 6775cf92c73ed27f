"""PostgresWarehouse: deletes/restores, associations, pipelines, owners, state, reports, locks."""

from __future__ import annotations

import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
from hubspot_etl.warehouse import WarehouseLockError, get_warehouse
from hubspot_etl.warehouse.postgres import PostgresWarehouse

from tests.support.records import prop, record


@pytest.fixture
def contacts(wh: PostgresWarehouse, write_part) -> PostgresWarehouse:
    wh.ensure_object_table("contacts", [prop("email")])
    wh.load_part("contacts", "base", write_part([record(i, email=f"{i}@x") for i in (1, 2, 3, 4)]))
    return wh


def test_mark_deleted_kinds_and_tombstones(contacts: PostgresWarehouse, query) -> None:
    n = contacts.mark_deleted(
        "contacts",
        [
            (1, "archived", "2024-06-01T00:00:00Z", None),
            (2, "merged", None, 3),
            (4, "purged", None, None),
            (99, "merged", None, 3),  # never loaded: tombstone row
        ],
    )
    assert n == 4
    assert contacts.live_ids("contacts") == {3}
    rows = {r["id"]: r for r in query("SELECT * FROM contact")}
    assert rows[1]["_deletion_kind"] == "archived"
    assert rows[1]["_deleted_at"] == datetime(2024, 6, 1, tzinfo=UTC)
    assert rows[2]["_deletion_kind"] == "merged" and rows[2]["merged_into_id"] == 3
    assert rows[2]["_deleted_at"] is not None and rows[2]["email"] == "2@x"
    assert rows[4]["_deletion_kind"] == "purged"
    assert rows[99]["_is_deleted"] and rows[99]["email"] is None
    with pytest.raises(ValueError):
        contacts.mark_deleted("contacts", [(3, "vanished", None, None)])


def test_restore_and_live_record_clear_flags(contacts: PostgresWarehouse, query, write_part) -> None:
    contacts.mark_deleted("contacts", [(1, "archived", None, None), (2, "archived", None, None)])
    assert contacts.restore("contacts", [1]) == 1
    # Deleting does not bump updatedAt: the same record seen live again clears the flag.
    contacts.load_part("contacts", "again", write_part([record(2, email="back")]))
    rows = {
        r["id"]: r for r in query("SELECT id, email, _is_deleted, _deleted_at, _deletion_kind FROM contact")
    }
    for rid in (1, 2):
        assert rows[rid]["_is_deleted"] is False
        assert rows[rid]["_deleted_at"] is None and rows[rid]["_deletion_kind"] is None
    assert rows[2]["email"] == "back"
    assert contacts.live_ids("contacts") == {1, 2, 3, 4}


def test_archived_record_in_part_is_flagged(contacts: PostgresWarehouse, query, write_part) -> None:
    contacts.load_part("contacts", "arch", write_part([record(3, archived=True, email="gone")]))
    row = query("SELECT _is_deleted, _deletion_kind, _deleted_at FROM contact WHERE id = 3")[0]
    assert row == {
        "_is_deleted": True,
        "_deletion_kind": "archived",
        "_deleted_at": datetime(2024, 6, 1, tzinfo=UTC),
    }


def test_live_ids_synced_before_and_missing_table(contacts: PostgresWarehouse, write_part) -> None:
    cut = datetime.now(UTC) + timedelta(seconds=1)
    time.sleep(1.1)
    contacts.load_part("contacts", "later", write_part([record(2, updated="2025-01-01T00:00:00Z")]))
    assert contacts.live_ids("contacts", synced_before=cut) == {1, 3, 4}
    assert contacts.live_ids("tickets") == set()


def test_replace_associations(wh: PostgresWarehouse, query) -> None:
    rows = [
        {"from_id": 1, "to_id": 10, "type_id": 1, "category": "HUBSPOT_DEFINED", "label": None},
        {"from_id": 1, "to_id": 11, "type_id": 1, "category": "HUBSPOT_DEFINED", "label": None},
        {"from_id": 2, "to_id": 10, "type_id": 7, "category": "USER_DEFINED", "label": "Boss"},
        {
            "from_id": 2,
            "to_id": 10,
            "type_id": 7,
            "category": "USER_DEFINED",
            "label": "Boss v2",
        },  # dup: last wins
    ]
    assert wh.replace_associations("contacts", "companies", [1, 2], rows) == 3
    # the same rows again: nothing changes, nothing is written
    assert wh.replace_associations("contacts", "companies", [1, 2], rows) == 0
    # Record 1 lost its association to 11; record 2 is not in this batch and keeps its rows.
    assert (
        wh.replace_associations(
            "contacts",
            "companies",
            [1, 3],
            [{"from_id": 1, "to_id": 10, "type_id": 1, "category": "HUBSPOT_DEFINED"}],
        )
        == 1
    )
    got = query("SELECT from_id, to_id, type_id, label FROM contact_company ORDER BY 1, 2, 3")
    assert [(r["from_id"], r["to_id"], r["type_id"], r["label"]) for r in got] == [
        (1, 10, 1, None),
        (2, 10, 7, "Boss v2"),
    ]
    # a label change is one change
    relabelled = [{"from_id": 2, "to_id": 10, "type_id": 7, "category": "USER_DEFINED", "label": "Boss v3"}]
    assert wh.replace_associations("contacts", "companies", [2], relabelled) == 1
    assert wh.replace_associations("contacts", "companies", [2], []) == 1
    assert len(query("SELECT * FROM contact_company")) == 1
    assert wh.delete_associations_for("contacts", "companies", [10], side="to") == 1
    assert wh.delete_associations_for("contacts", "deals", [1]) == 0  # no table yet
    with pytest.raises(ValueError):
        wh.delete_associations_for("contacts", "companies", [1], side="sideways")


def test_delete_associations_either_side(wh: PostgresWarehouse, query) -> None:
    rows = [
        {"from_id": 1, "to_id": 5, "type_id": 3, "category": "HUBSPOT_DEFINED"},
        {"from_id": 5, "to_id": 6, "type_id": 3, "category": "HUBSPOT_DEFINED"},
        {"from_id": 7, "to_id": 8, "type_id": 3, "category": "HUBSPOT_DEFINED"},
    ]
    wh.replace_associations("deals", "deals", [1, 5, 7], rows)
    assert wh.delete_associations_for("deals", "deals", [5]) == 2
    assert [r["from_id"] for r in query("SELECT from_id FROM deal_deal")] == [7]


def _pipeline(pid: str, stages: list[tuple[str, dict]], archived: bool = False) -> dict:
    return {
        "id": pid,
        "label": f"Pipeline {pid}",
        "displayOrder": 0,
        "archived": archived,
        "createdAt": "0" if pid == "default" else "2024-01-01T00:00:00Z",
        "updatedAt": "2024-02-01T00:00:00.000Z",
        "stages": [
            {
                "id": sid,
                "label": sid.title(),
                "displayOrder": i,
                "metadata": meta,
                "archived": meta.pop("_archived", False),
                "createdAt": "2024-01-01T00:00:00Z",
                "updatedAt": "2024-01-01T00:00:00Z",
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for i, (sid, meta) in enumerate(stages)
        ],
    }


def test_pipelines_upsert_and_deleted_flags(wh: PostgresWarehouse, query) -> None:
    first = [
        _pipeline(
            "default",
            [
                ("appointmentscheduled", {"probability": "0.2", "isClosed": "false"}),
                ("closedwon", {"probability": "1.0", "isClosed": "true"}),
                ("closedlost", {"probability": "0", "isClosed": "true"}),
            ],
        ),
        _pipeline("other", [("s1", {"probability": "0.5"})]),
    ]
    counts = wh.upsert_pipelines("deals", first)
    assert counts == {"pipelines": 2, "stages": 4, "pipelines_gone": 0, "stages_gone": 0}
    stage = query("SELECT * FROM deal_pipeline_stage WHERE id = 'closedwon'")[0]
    assert float(stage["probability"]) == 1.0 and stage["is_closed"] is True
    assert stage["metadata"] == {"probability": "1.0", "isClosed": "true"}
    default = query("SELECT created_at FROM deal_pipeline WHERE id = 'default'")[0]
    assert default["created_at"] == datetime(1970, 1, 1, tzinfo=UTC)

    second = [
        _pipeline(
            "default",
            [
                ("appointmentscheduled", {"probability": "0.3", "isClosed": "false"}),
                ("closedwon", {"probability": "1.0", "isClosed": "true", "_archived": True}),
            ],
        )
    ]
    counts = wh.upsert_pipelines("deals", second)
    assert counts["pipelines_gone"] == 1 and counts["stages_gone"] == 2
    pipes = {r["id"]: r["_is_deleted"] for r in query("SELECT id, _is_deleted FROM deal_pipeline")}
    assert pipes == {"default": False, "other": True}
    stages = {
        r["id"]: (r["_is_deleted"], r["archived"])
        for r in query("SELECT id, _is_deleted, archived FROM deal_pipeline_stage")
    }
    assert stages == {
        "appointmentscheduled": (False, False),
        "closedwon": (True, True),
        "closedlost": (True, False),
        "s1": (True, False),
    }
    # It comes back: flags clear.
    wh.upsert_pipelines("deals", first)
    assert not any(r["_is_deleted"] for r in query("SELECT _is_deleted FROM deal_pipeline_stage"))


def test_ticket_pipeline_state(wh: PostgresWarehouse, query) -> None:
    wh.upsert_pipelines(
        "tickets", [_pipeline("0", [("1", {"ticketState": "OPEN"}), ("4", {"ticketState": "CLOSED"})])]
    )
    got = {r["id"]: r["ticket_state"] for r in query("SELECT id, ticket_state FROM ticket_pipeline_stage")}
    assert got == {"1": "OPEN", "4": "CLOSED"}


def test_owners_upsert(wh: PostgresWarehouse, query) -> None:
    owner = {
        "id": "501",
        "email": "o@x.com",
        "firstName": "Olga",
        "lastName": "O",
        "userId": 9001,
        "userIdIncludingInactive": 9001,
        "type": "PERSON",
        "teams": [{"id": "1", "name": "Sales", "primary": True}],
        "archived": False,
        "createdAt": "2023-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:00:00.5Z",
    }
    assert wh.upsert_owners([owner, {**owner, "id": "502", "userId": None, "teams": []}]) == 2
    wh.upsert_owners([{**owner, "archived": True, "lastName": "Changed"}])
    rows = {r["id"]: r for r in query("SELECT * FROM owner")}
    assert rows[501]["archived"] is True and rows[501]["last_name"] == "Changed"
    assert rows[501]["teams"] == [{"id": "1", "name": "Sales", "primary": True}]
    assert rows[502]["user_id"] is None and rows[502]["archived"] is False


def test_sync_state_round_trip(wh: PostgresWarehouse) -> None:
    assert wh.get_sync_state("contacts") is None
    t1 = datetime(2024, 5, 1, tzinfo=UTC)
    wh.set_sync_state("contacts", t1, last_full_load_at=t1, run_id="r1")
    t2 = datetime(2024, 5, 2, tzinfo=UTC)
    wh.set_sync_state("contacts", t2, run_id="r2")  # last_full_load_at kept
    state = wh.get_sync_state("contacts")
    assert state is not None
    assert (state["watermark"], state["last_full_load_at"], state["last_run_id"]) == (t2, t1, "r2")
    assert state["updated_at"] is not None


def test_run_report_round_trip_and_rerun_replaces(wh: PostgresWarehouse) -> None:
    report = {
        "run_id": "manual__1",
        "object_name": "contacts",
        "mode": "full",
        "status": "healthy",
        "started_at": "2024-05-01T00:00:00+00:00",
        "finished_at": "2024-05-01T00:01:00+00:00",
        "duration_s": 60.0,
        "records_fetched": 10,
        "records_upserted": 10,
        "rejects": 0,
        "api_calls": {"list": 3},
        "search_splits": 0,
        "associations": {"companies": 4},
        "deletes": {"archived": 1, "merged": 0, "purged": 0},
        "schema_changes": {"added": 2},
        "columns_spilled": 0,
        "columns_renamed": 1,
        "dag_id": "hubspot_contacts",
        "watermark": None,
    }
    wh.write_run_report(report)
    wh.write_run_report({**report, "status": "with_errors", "rejects": 2})
    got = wh.get_run_report("contacts", "manual__1")
    assert got is not None
    assert got["status"] == "with_errors" and got["rejects"] == 2
    assert got["started_at"] == datetime(2024, 5, 1, tzinfo=UTC)
    assert got["api_calls"] == {"list": 3} and got["deletes"]["archived"] == 1
    assert got["details"] == {"dag_id": "hubspot_contacts", "watermark": None}
    with pytest.raises(ValueError):
        wh.write_run_report({"object_name": "contacts"})


def test_advisory_lock(wh: PostgresWarehouse) -> None:
    with wh.object_lock("contacts"):
        with pytest.raises(WarehouseLockError, match="another sync of 'contacts' holds the lock"):
            with wh.object_lock("contacts", wait=False):
                pass
        with pytest.raises(WarehouseLockError):
            with wh.object_lock("contacts", timeout_s=0.2):
                pass
        with wh.object_lock("companies", wait=False):  # other objects are independent
            pass
    with wh.object_lock("contacts", wait=False):  # released
        pass


def test_advisory_lock_waits_for_release(wh: PostgresWarehouse) -> None:
    acquired = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with wh.object_lock("deals"):
            acquired.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    acquired.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with wh.object_lock("deals", timeout_s=5):
        waited = time.monotonic() - started
    thread.join()
    assert waited >= 0.2


def test_postgres_hook_path_via_env_connection(
    pg_uri: str, schema_name: str, monkeypatch: pytest.MonkeyPatch, write_part
) -> None:
    socket_dir = urllib.parse.parse_qs(urllib.parse.urlparse(pg_uri).query)["host"][0]
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE_TEST",
        f"postgresql://postgres@/postgres?host={urllib.parse.quote(socket_dir, safe='')}",
    )

    class Destination:
        type = "postgres"
        conn_id = "warehouse_test"

    Destination.schema_name = schema_name
    wh = get_warehouse(Destination())
    assert isinstance(wh, PostgresWarehouse) and wh.postgres_conn_id == "warehouse_test"
    wh.ensure_schema()
    wh.ensure_object_table("contacts", [prop("email")])
    assert wh.load_part("contacts", "hook", write_part([record(1, email="via hook")])).rows == 1
    assert wh.live_ids("contacts") == {1}


def test_sessions_detect_vanished_clients(wh):
    """A worker host that disappears must not hold its locks until the OS gives up on TCP."""
    with wh.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                [["tcp_keepalives_idle", "client_connection_check_interval"]],
            ).fetchall()
        )
    # keepalives only take effect on TCP (the test server uses a Unix socket: 0 there)
    assert settings["client_connection_check_interval"] == "10000"
    assert "tcp_keepalives_idle" in settings
