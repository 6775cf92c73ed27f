"""BigQueryWarehouse on the emulator: deletes/restores, associations, pipelines, owners, state,
reports, the lease lock and the Airflow connection path."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hubspot_etl.hooks.bigquery import EndpointBigQueryHook
from hubspot_etl.warehouse import WarehouseLockError, get_warehouse
from hubspot_etl.warehouse.bigquery import BigQueryWarehouse

from tests.support.records import prop, record


@pytest.fixture
def contacts(bq_wh: BigQueryWarehouse, write_part) -> BigQueryWarehouse:
    bq_wh.ensure_object_table("contacts", [prop("email")])
    bq_wh.load_part("contacts", "base", write_part([record(i, email=f"{i}@x") for i in (1, 2, 3, 4)]))
    return bq_wh


def test_mark_deleted_kinds_and_tombstones(contacts: BigQueryWarehouse, bq_query) -> None:
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
    assert contacts.deletion_kinds("contacts") == {
        1: "archived",
        2: "merged",
        3: None,
        4: "purged",
        99: "merged",
    }
    rows = {r["id"]: r for r in bq_query("SELECT * FROM {ds}.contact")}
    assert rows[1]["_deleted_at"] == datetime(2024, 6, 1, tzinfo=UTC)
    assert rows[2]["merged_into_id"] == 3 and rows[2]["_deleted_at"] is not None and rows[2]["email"] == "2@x"
    assert rows[99]["_is_deleted"] and rows[99]["email"] is None
    # Deleting again without a time keeps the first deletion time.
    contacts.mark_deleted("contacts", [(1, "archived", None, None)])
    again = bq_query("SELECT _deleted_at FROM {ds}.contact WHERE id = 1")[0]
    assert again["_deleted_at"] == datetime(2024, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        contacts.mark_deleted("contacts", [(3, "vanished", None, None)])


def test_restore_and_live_record_clear_flags(contacts: BigQueryWarehouse, bq_query, write_part) -> None:
    contacts.mark_deleted("contacts", [(1, "archived", None, None), (2, "merged", None, 3)])
    assert contacts.restore("contacts", [1]) == 1
    assert contacts.restore("contacts", [1]) == 0  # not deleted any more
    contacts.load_part("contacts", "again", write_part([record(2, email="back")]))
    rows = {
        r["id"]: r
        for r in bq_query(
            "SELECT id, email, _is_deleted, _deleted_at, _deletion_kind, merged_into_id FROM {ds}.contact"
        )
    }
    for rid in (1, 2):
        assert rows[rid]["_is_deleted"] is False
        assert rows[rid]["_deleted_at"] is None and rows[rid]["_deletion_kind"] is None
        assert rows[rid]["merged_into_id"] is None
    assert rows[2]["email"] == "back"
    assert contacts.live_ids("contacts") == {1, 2, 3, 4}


def test_archived_record_in_part_is_flagged(contacts: BigQueryWarehouse, bq_query, write_part) -> None:
    contacts.load_part("contacts", "arch", write_part([record(3, archived=True, email="gone")]))
    row = bq_query("SELECT _is_deleted, _deletion_kind, _deleted_at FROM {ds}.contact WHERE id = 3")[0]
    assert row == {
        "_is_deleted": True,
        "_deletion_kind": "archived",
        "_deleted_at": datetime(2024, 6, 1, tzinfo=UTC),
    }


def test_live_ids_synced_before_and_missing_table(contacts: BigQueryWarehouse, write_part) -> None:
    cut = datetime.now(UTC) + timedelta(seconds=0.5)
    time.sleep(0.6)
    contacts.load_part("contacts", "later", write_part([record(2, updated="2025-01-01T00:00:00Z")]))
    assert contacts.live_ids("contacts", synced_before=cut) == {1, 3, 4}
    assert contacts.live_ids("tickets") == set()
    assert contacts.deletion_kinds("tickets") == {}


def test_replace_associations(bq_wh: BigQueryWarehouse, bq_query) -> None:
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
        },  # last wins
    ]
    assert bq_wh.replace_associations("contacts", "companies", [1, 2], rows) == 3
    # the same rows again: nothing changes, nothing is written
    assert bq_wh.replace_associations("contacts", "companies", [1, 2], rows) == 0
    # Record 1 lost its association to 11; record 2 is not in this batch and keeps its rows.
    assert (
        bq_wh.replace_associations(
            "contacts",
            "companies",
            [1, 3],
            [{"from_id": 1, "to_id": 10, "type_id": 1, "category": "HUBSPOT_DEFINED"}],
        )
        == 1
    )
    got = bq_query("SELECT from_id, to_id, type_id, label FROM {ds}.contact_company ORDER BY 1, 2, 3")
    assert [(r["from_id"], r["to_id"], r["type_id"], r["label"]) for r in got] == [
        (1, 10, 1, None),
        (2, 10, 7, "Boss v2"),
    ]
    # a label change is one change
    relabelled = [{"from_id": 2, "to_id": 10, "type_id": 7, "category": "USER_DEFINED", "label": "Boss v3"}]
    assert bq_wh.replace_associations("contacts", "companies", [2], relabelled) == 1
    assert bq_wh.replace_associations("contacts", "companies", [2], []) == 1
    assert len(bq_query("SELECT * FROM {ds}.contact_company")) == 1
    assert bq_wh.delete_associations_for("contacts", "companies", [10], side="to") == 1
    assert bq_wh.delete_associations_for("contacts", "deals", [1]) == 0  # no table yet
    with pytest.raises(ValueError):
        bq_wh.delete_associations_for("contacts", "companies", [1], side="sideways")
    registry = bq_query("SELECT * FROM {ds}._hubspot_association_tables")
    assert registry == [{"table_name": "contact_company", "from_object": "contact", "to_object": "company"}]


def test_delete_associations_either_side(bq_wh: BigQueryWarehouse, bq_query) -> None:
    rows = [
        {"from_id": 1, "to_id": 5, "type_id": 3, "category": "HUBSPOT_DEFINED"},
        {"from_id": 5, "to_id": 6, "type_id": 3, "category": "HUBSPOT_DEFINED"},
        {"from_id": 7, "to_id": 8, "type_id": 3, "category": "HUBSPOT_DEFINED"},
    ]
    bq_wh.replace_associations("deals", "deals", [1, 5, 7], rows)
    assert bq_wh.delete_associations_for("deals", "deals", [5]) == 2
    assert [r["from_id"] for r in bq_query("SELECT from_id FROM {ds}.deal_deal")] == [7]


def test_follow_merges_and_deletes(bq_wh: BigQueryWarehouse, bq_query) -> None:
    hd = "HUBSPOT_DEFINED"
    bq_wh.replace_associations(
        "contacts",
        "companies",
        [1, 2, 3],
        [
            {"from_id": 1, "to_id": 10, "type_id": 1, "category": hd},
            {"from_id": 2, "to_id": 11, "type_id": 1, "category": hd},
            {"from_id": 3, "to_id": 12, "type_id": 1, "category": hd},
        ],
    )
    bq_wh.replace_associations(
        "deals",
        "contacts",
        [100, 101],
        [
            {"from_id": 100, "to_id": 1, "type_id": 4, "category": hd, "label": "a"},
            {"from_id": 100, "to_id": 3, "type_id": 4, "category": hd, "label": "b"},
            {"from_id": 101, "to_id": 2, "type_id": 4, "category": hd},
            {"from_id": 101, "to_id": 5, "type_id": 4, "category": hd},
        ],
    )
    # Contact 1 merged into 3 (deal 100 already points at 3: no duplicate), contact 2 deleted.
    changed = bq_wh.follow_merges_and_deletes("contacts", {1: 3}, [2])
    own = bq_query("SELECT from_id, to_id FROM {ds}.contact_company ORDER BY 1")
    assert [(r["from_id"], r["to_id"]) for r in own] == [(3, 12)]
    other = bq_query("SELECT from_id, to_id FROM {ds}.deal_contact ORDER BY 1, 2")
    assert [(r["from_id"], r["to_id"]) for r in other] == [(100, 3), (101, 5)]
    assert changed == 4  # 2 own rows + 2 pointing rows deleted, nothing inserted
    # A merge into a new survivor re-points.
    assert bq_wh.follow_merges_and_deletes("contacts", {5: 7}, []) == 2
    other = bq_query("SELECT from_id, to_id FROM {ds}.deal_contact ORDER BY 1, 2")
    assert [(r["from_id"], r["to_id"]) for r in other] == [(100, 3), (101, 7)]
    assert bq_wh.follow_merges_and_deletes("tickets", {}, []) == 0


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


def test_pipelines_upsert_and_deleted_flags(bq_wh: BigQueryWarehouse, bq_query) -> None:
    def first() -> list[dict]:
        return [
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

    counts = bq_wh.upsert_pipelines("deals", first())
    assert counts == {"pipelines": 2, "stages": 4, "pipelines_gone": 0, "stages_gone": 0}
    stage = bq_query("SELECT * FROM {ds}.deal_pipeline_stage WHERE id = 'closedwon'")[0]
    assert float(stage["probability"]) == 1.0 and stage["is_closed"] is True
    assert stage["metadata"] == {"probability": "1.0", "isClosed": "true"}
    default = bq_query("SELECT created_at FROM {ds}.deal_pipeline WHERE id = 'default'")[0]
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
    counts = bq_wh.upsert_pipelines("deals", second)
    assert counts["pipelines_gone"] == 1 and counts["stages_gone"] == 2
    pipes = {r["id"]: r["_is_deleted"] for r in bq_query("SELECT id, _is_deleted FROM {ds}.deal_pipeline")}
    assert pipes == {"default": False, "other": True}
    stages = {
        r["id"]: (r["_is_deleted"], r["archived"])
        for r in bq_query("SELECT id, _is_deleted, archived FROM {ds}.deal_pipeline_stage")
    }
    assert stages == {
        "appointmentscheduled": (False, False),
        "closedwon": (True, True),
        "closedlost": (True, False),
        "s1": (True, False),
    }
    bq_wh.upsert_pipelines("deals", first())  # it comes back: flags clear
    assert not any(r["_is_deleted"] for r in bq_query("SELECT _is_deleted FROM {ds}.deal_pipeline_stage"))
    assert bq_wh.upsert_pipelines("deals", [])["pipelines_gone"] == 2


def test_owners_upsert(bq_wh: BigQueryWarehouse, bq_query) -> None:
    owner = {
        "id": "501",
        "email": "o@x.com",
        "firstName": "Olga",
        "lastName": "O'Hara `x`",
        "userId": 9001,
        "userIdIncludingInactive": 9001,
        "type": "PERSON",
        "teams": [{"id": "1", "name": "Sales", "primary": True}],
        "archived": False,
        "createdAt": "2023-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:00:00.5Z",
    }
    assert bq_wh.upsert_owners([owner, {**owner, "id": "502", "userId": None, "teams": []}]) == 2
    bq_wh.upsert_owners([{**owner, "archived": True, "lastName": "Changed"}])
    rows = {r["id"]: r for r in bq_query("SELECT * FROM {ds}.owner")}
    assert rows[501]["archived"] is True and rows[501]["last_name"] == "Changed"
    assert rows[501]["teams"] == [{"id": "1", "name": "Sales", "primary": True}]
    assert rows[501]["updated_at"] == datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert rows[502]["user_id"] is None and rows[502]["archived"] is False
    assert len(rows) == 2


def test_sync_state_round_trip(bq_wh: BigQueryWarehouse) -> None:
    assert bq_wh.get_sync_state("contacts") is None
    t1 = datetime(2024, 5, 1, tzinfo=UTC)
    bq_wh.set_sync_state("contacts", t1, last_full_load_at=t1, run_id="r1")
    t2 = datetime(2024, 5, 2, tzinfo=UTC)
    bq_wh.set_sync_state("contacts", t2, run_id="r2")  # last_full_load_at kept
    state = bq_wh.get_sync_state("contacts")
    assert state is not None
    assert (state["watermark"], state["last_full_load_at"], state["last_run_id"]) == (t2, t1, "r2")
    assert state["object_name"] == "contacts" and state["updated_at"] is not None


def test_run_report_round_trip_and_rerun_replaces(bq_wh: BigQueryWarehouse, bq_query) -> None:
    report = {
        "run_id": "manual__1",
        "object_name": "contacts",
        "mode": "full",
        "status": "healthy",
        "started_at": "2024-05-01T00:00:00+00:00",
        "finished_at": "2024-05-01T00:01:00+00:00",
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
    bq_wh.write_run_report(report)
    bq_wh.write_run_report({**report, "status": "with_errors", "rejects": 2})
    got = bq_wh.get_run_report("contacts", "manual__1")
    assert got is not None
    assert got["status"] == "with_errors" and got["rejects"] == 2 and got["duration_s"] == 60.0
    assert got["started_at"] == datetime(2024, 5, 1, tzinfo=UTC)
    assert got["api_calls"] == {"list": 3} and got["deletes"]["archived"] == 1
    assert got["details"] == {"dag_id": "hubspot_contacts", "watermark": None}
    assert len(bq_query("SELECT run_id FROM {ds}._hubspot_run_report")) == 1
    assert bq_wh.get_run_report("contacts", "nope") is None
    with pytest.raises(ValueError):
        bq_wh.write_run_report({"object_name": "contacts"})


def test_lease_lock(bq_wh: BigQueryWarehouse, bq_client, dataset_name, bq_query) -> None:
    other = BigQueryWarehouse(dataset_name, client=bq_client)  # another worker
    other.lock_poll_s = 0.1
    with bq_wh.object_lock("contacts"):
        holder = bq_query("SELECT owner, expires_at FROM {ds}._hubspot_locks WHERE object_name = 'contacts'")
        assert len(holder) == 1 and holder[0]["expires_at"] > datetime.now(UTC)
        with pytest.raises(WarehouseLockError, match="another sync of 'contacts' holds the lock"):
            with other.object_lock("contacts", wait=False):
                pass
        started = time.monotonic()
        with pytest.raises(WarehouseLockError, match="gave up after"):
            with other.object_lock("contacts", timeout_s=0.3):
                pass
        assert time.monotonic() - started >= 0.3
        with other.object_lock("companies", wait=False):  # other objects are independent
            pass
    assert bq_query("SELECT * FROM {ds}._hubspot_locks") == []  # released
    with other.object_lock("contacts", wait=False):
        pass


def test_lease_lock_waits_and_expired_lease_is_taken_over(
    bq_wh: BigQueryWarehouse, bq_client, dataset_name, bq_query
) -> None:
    acquired = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with bq_wh.object_lock("deals"):
            acquired.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert acquired.wait(10)
    threading.Timer(0.5, release.set).start()
    other = BigQueryWarehouse(dataset_name, client=bq_client)
    other.lock_poll_s = 0.1
    started = time.monotonic()
    with other.object_lock("deals", timeout_s=10):
        waited = time.monotonic() - started
    thread.join()
    assert waited >= 0.3
    # A crashed holder's lease expires and is taken over.
    bq_query(
        "INSERT INTO {ds}._hubspot_locks (object_name, owner, acquired_at, expires_at) "
        "VALUES ('tickets', 'dead-worker', CURRENT_TIMESTAMP(), TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 SECOND))"
    )
    with other.object_lock("tickets", wait=False):
        rows = bq_query("SELECT owner FROM {ds}._hubspot_locks WHERE object_name = 'tickets'")
        assert len(rows) == 1 and rows[0]["owner"] != "dead-worker"


def test_airflow_connection_path(bq_emulator, dataset_name, monkeypatch, write_part) -> None:
    url, project = bq_emulator
    monkeypatch.setenv(
        "AIRFLOW_CONN_BQ_EMULATOR_TEST",
        json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"project": project, "api_endpoint": url, "anonymous": True},
            }
        ),
    )
    hook = EndpointBigQueryHook(gcp_conn_id="bq_emulator_test")
    assert hook.api_endpoint == url and hook.anonymous and hook.project_id == project

    class Destination:
        type = "bigquery"
        conn_id = "bq_emulator_test"
        schema_name = dataset_name
        project = None
        location = None

    wh = get_warehouse(Destination())
    assert isinstance(wh, BigQueryWarehouse) and wh.gcp_conn_id == "bq_emulator_test"
    wh.ensure_schema()
    assert wh.project == project
    wh.ensure_object_table("contacts", [prop("email")])
    assert wh.load_part("contacts", "hook", write_part([record(1, email="via hook")])).rows == 1
    assert wh.live_ids("contacts") == {1}


def test_hook_extras_without_endpoint_keep_provider_credentials(monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BQ_PLAIN_TEST",
        json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "p", "endpoint": "http://x:1/"}}
        ),
    )
    hook = EndpointBigQueryHook(gcp_conn_id="bq_plain_test")
    assert hook.api_endpoint == "http://x:1" and hook.anonymous  # endpoint and no key: anonymous
    assert hook.get_client_options().api_endpoint == "http://x:1"
    monkeypatch.setenv(
        "AIRFLOW_CONN_BQ_PLAIN_TEST",
        json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "p", "key_path": "/nope.json"}}
        ),
    )
    hook = EndpointBigQueryHook(gcp_conn_id="bq_plain_test")
    assert hook.api_endpoint is None and not hook.anonymous
    assert hook.get_client_options().api_endpoint is None
