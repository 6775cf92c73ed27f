"""The warehouse contract, around the loads: deletes and restores, associations, pipelines,
owners, sync state, run reports and object locks.

Written once against ``dest`` (tests/contract/conftest.py) and run on PostgreSQL, BigQuery and
Snowflake. Object locks are a session lock where the dialect has one (PostgreSQL advisory
locks) and lease rows in ``_hubspot_locks`` elsewhere; the lease-row checks follow that
property of the dialect (``dest.uses_lease_rows``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hubspot_etl.warehouse import WarehouseLockError
from hubspot_etl.warehouse.dialect import P

from tests.support.records import prop, record

HD = "HUBSPOT_DEFINED"


def by_id(rows: list[dict]) -> dict:
    return {r["id"]: r for r in rows}


def pairs(dest, table: str, *columns: str) -> list[tuple]:
    return sorted(tuple(r[c] for c in columns) for r in dest.rows(table))


@pytest.fixture
def contacts(dest, write_part):
    dest.wh.ensure_object_table("contacts", [prop("email")])
    dest.wh.load_part("contacts", "base", write_part([record(i, email=f"{i}@x") for i in (1, 2, 3, 4)]))
    return dest


# ---------------------------------------------------------------------- deletes
def test_mark_deleted_kinds_and_tombstones(contacts) -> None:
    wh = contacts.wh
    n = wh.mark_deleted(
        "contacts",
        [
            (1, "archived", "2024-06-01T00:00:00Z", None),
            (2, "merged", None, 3),
            (4, "purged", None, None),
            (99, "merged", None, 3),  # never loaded: tombstone row
        ],
    )
    assert n == 4
    assert wh.live_ids("contacts") == {3}
    assert wh.deletion_kinds("contacts") == {1: "archived", 2: "merged", 3: None, 4: "purged", 99: "merged"}
    assert wh.merge_targets("contacts") == {2: 3, 99: 3}
    rows = by_id(contacts.rows("contact"))
    assert rows[1]["_is_deleted"] is True and rows[1]["_deletion_kind"] == "archived"
    assert rows[1]["_deleted_at"] == datetime(2024, 6, 1, tzinfo=UTC)
    assert rows[2]["_deletion_kind"] == "merged" and rows[2]["merged_into_id"] == 3
    assert rows[2]["_deleted_at"] is not None and rows[2]["email"] == "2@x"
    assert rows[4]["_deletion_kind"] == "purged" and rows[4]["merged_into_id"] is None
    assert rows[99]["_is_deleted"] is True and rows[99]["email"] is None and rows[99]["merged_into_id"] == 3
    assert rows[3]["_is_deleted"] is False and rows[3]["_deleted_at"] is None
    # Deleting again without a time keeps the first deletion time.
    wh.mark_deleted("contacts", [(1, "archived", None, None)])
    assert by_id(contacts.rows("contact"))[1]["_deleted_at"] == datetime(2024, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        wh.mark_deleted("contacts", [(3, "vanished", None, None)])
    assert wh.mark_deleted("contacts", []) == 0
    assert wh.live_ids("contacts") == {3}


def test_restore_and_live_record_clear_flags(contacts, write_part) -> None:
    wh = contacts.wh
    wh.mark_deleted("contacts", [(1, "archived", None, None), (2, "merged", None, 3)])
    assert wh.restore("contacts", [1]) == 1
    assert wh.restore("contacts", [1]) == 0  # not deleted any more
    # Deleting does not bump updatedAt: the same record seen live again clears the flags.
    wh.load_part("contacts", "again", write_part([record(2, email="back")]))
    rows = by_id(contacts.rows("contact"))
    for rid in (1, 2):
        assert rows[rid]["_is_deleted"] is False
        assert rows[rid]["_deleted_at"] is None and rows[rid]["_deletion_kind"] is None
        assert rows[rid]["merged_into_id"] is None
    assert rows[2]["email"] == "back" and rows[1]["email"] == "1@x"
    assert wh.live_ids("contacts") == {1, 2, 3, 4}
    assert wh.merge_targets("contacts") == {}


def test_archived_record_in_part_is_flagged(contacts, write_part) -> None:
    contacts.wh.load_part("contacts", "arch", write_part([record(3, archived=True, email="gone")]))
    row = by_id(contacts.rows("contact"))[3]
    assert {k: row[k] for k in ("_is_deleted", "_deletion_kind", "_deleted_at", "email")} == {
        "_is_deleted": True,
        "_deletion_kind": "archived",
        "_deleted_at": datetime(2024, 6, 1, tzinfo=UTC),
        "email": "gone",
    }
    assert contacts.wh.live_ids("contacts") == {1, 2, 4}


def test_live_ids_synced_before_and_missing_table(contacts, write_part) -> None:
    wh = contacts.wh
    cut = datetime.now(UTC) + timedelta(seconds=0.5)
    time.sleep(0.6)
    wh.load_part("contacts", "later", write_part([record(2, updated="2025-01-01T00:00:00Z")]))
    assert wh.live_ids("contacts", synced_before=cut) == {1, 3, 4}
    assert wh.live_ids("contacts") == {1, 2, 3, 4}
    assert wh.live_ids("tickets") == set()
    assert wh.deletion_kinds("tickets") == {}
    assert wh.merge_targets("tickets") == {}


# ---------------------------------------------------------------------- associations
def test_replace_associations(dest) -> None:
    wh = dest.wh
    rows = [
        {"from_id": 1, "to_id": 10, "type_id": 1, "category": HD, "label": None},
        {"from_id": 1, "to_id": 11, "type_id": 1, "category": HD, "label": None},
        {"from_id": 2, "to_id": 10, "type_id": 7, "category": "USER_DEFINED", "label": "Boss"},
        {
            "from_id": 2,
            "to_id": 10,
            "type_id": 7,
            "category": "USER_DEFINED",
            "label": "Boss v2",
        },  # last wins
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
            [{"from_id": 1, "to_id": 10, "type_id": 1, "category": HD}],
        )
        == 1
    )
    assert pairs(dest, "contact_company", "from_id", "to_id", "type_id", "category", "label") == [
        (1, 10, 1, HD, None),
        (2, 10, 7, "USER_DEFINED", "Boss v2"),
    ]
    assert all(r["_synced_at"] is not None for r in dest.rows("contact_company"))
    # a label change is one change
    relabelled = [{"from_id": 2, "to_id": 10, "type_id": 7, "category": "USER_DEFINED", "label": "Boss v3"}]
    assert wh.replace_associations("contacts", "companies", [2], relabelled) == 1
    assert pairs(dest, "contact_company", "from_id", "label") == [(1, None), (2, "Boss v3")]
    assert wh.replace_associations("contacts", "companies", [2], []) == 1
    assert pairs(dest, "contact_company", "from_id", "to_id") == [(1, 10)]
    assert wh.delete_associations_for("contacts", "companies", [10], side="to") == 1
    assert dest.rows("contact_company") == []
    assert wh.delete_associations_for("contacts", "deals", [1]) == 0  # no table yet
    with pytest.raises(ValueError):
        wh.delete_associations_for("contacts", "companies", [1], side="sideways")
    assert dest.rows("_hubspot_association_tables") == [
        {"table_name": "contact_company", "from_object": "contact", "to_object": "company"}
    ]


def test_delete_associations_either_side(dest) -> None:
    wh = dest.wh
    rows = [
        {"from_id": 1, "to_id": 5, "type_id": 3, "category": HD},
        {"from_id": 5, "to_id": 6, "type_id": 3, "category": HD},
        {"from_id": 7, "to_id": 8, "type_id": 3, "category": HD},
        {"from_id": 9, "to_id": 7, "type_id": 3, "category": HD},
    ]
    assert wh.replace_associations("deals", "deals", [1, 5, 7, 9], rows) == 4
    assert wh.delete_associations_for("deals", "deals", [5]) == 2
    assert pairs(dest, "deal_deal", "from_id", "to_id") == [(7, 8), (9, 7)]
    assert wh.delete_associations_for("deals", "deals", [7], side="from") == 1
    assert pairs(dest, "deal_deal", "from_id", "to_id") == [(9, 7)]
    assert wh.delete_associations_for("deals", "deals", []) == 0


def test_follow_merges_and_deletes(dest) -> None:
    wh = dest.wh
    wh.replace_associations(
        "contacts",
        "companies",
        [1, 2, 3],
        [
            {"from_id": 1, "to_id": 10, "type_id": 1, "category": HD},
            {"from_id": 2, "to_id": 11, "type_id": 1, "category": HD},
            {"from_id": 3, "to_id": 12, "type_id": 1, "category": HD},
        ],
    )
    wh.replace_associations(
        "deals",
        "contacts",
        [100, 101],
        [
            {"from_id": 100, "to_id": 1, "type_id": 4, "category": HD, "label": "a"},
            {"from_id": 100, "to_id": 3, "type_id": 4, "category": HD, "label": "b"},
            {"from_id": 101, "to_id": 2, "type_id": 4, "category": HD},
            {"from_id": 101, "to_id": 5, "type_id": 4, "category": HD},
        ],
    )
    # Contact 1 merged into 3 (deal 100 already points at 3: no duplicate), contact 2 deleted.
    changed = wh.follow_merges_and_deletes("contacts", {1: 3}, [2])
    assert pairs(dest, "contact_company", "from_id", "to_id") == [(3, 12)]
    assert pairs(dest, "deal_contact", "from_id", "to_id", "label") == [(100, 3, "b"), (101, 5, None)]
    assert changed == 4  # 2 own rows + 2 pointing rows deleted, nothing inserted
    # A merge into a new survivor re-points, keeping the row's label and category.
    assert wh.follow_merges_and_deletes("contacts", {5: 7}, []) == 2
    assert pairs(dest, "deal_contact", "from_id", "to_id", "category") == [(100, 3, HD), (101, 7, HD)]
    assert wh.follow_merges_and_deletes("tickets", {}, []) == 0
    assert wh.follow_merges_and_deletes("tickets", {1: 2}, [3]) == 0  # no association tables


# ---------------------------------------------------------------------- pipelines
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


def test_pipelines_upsert_and_deleted_flags(dest) -> None:
    wh = dest.wh

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

    counts = wh.upsert_pipelines("deals", first())
    assert counts == {"pipelines": 2, "stages": 4, "pipelines_gone": 0, "stages_gone": 0}
    stages = {(r["pipeline_id"], r["id"]): r for r in dest.rows("deal_pipeline_stage")}
    assert sorted(stages) == [
        ("default", "appointmentscheduled"),
        ("default", "closedlost"),
        ("default", "closedwon"),
        ("other", "s1"),
    ]
    won = stages[("default", "closedwon")]
    assert float(won["probability"]) == 1.0 and won["is_closed"] is True
    assert won["metadata"] == {"probability": "1.0", "isClosed": "true"}
    assert won["label"] == "Closedwon" and won["display_order"] == 1
    assert won["write_permissions"] == "CRM_PERMISSIONS_ENFORCEMENT"
    assert stages[("other", "s1")]["is_closed"] is None
    pipes = by_id(dest.rows("deal_pipeline"))
    assert pipes["default"]["created_at"] == datetime(1970, 1, 1, tzinfo=UTC)
    assert pipes["default"]["updated_at"] == datetime(2024, 2, 1, tzinfo=UTC)
    assert pipes["other"]["label"] == "Pipeline other" and pipes["other"]["_is_deleted"] is False
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
    assert {r["id"]: r["_is_deleted"] for r in dest.rows("deal_pipeline")} == {
        "default": False,
        "other": True,
    }
    stages = {r["id"]: r for r in dest.rows("deal_pipeline_stage")}
    assert {k: (r["_is_deleted"], r["archived"]) for k, r in stages.items()} == {
        "appointmentscheduled": (False, False),
        "closedwon": (True, True),
        "closedlost": (True, False),
        "s1": (True, False),
    }
    assert float(stages["appointmentscheduled"]["probability"]) == 0.3
    assert all(r["_deleted_at"] is not None for r in stages.values() if r["_is_deleted"])
    wh.upsert_pipelines("deals", first())  # it comes back: flags clear
    stages = dest.rows("deal_pipeline_stage")
    assert not any(r["_is_deleted"] for r in stages)
    assert all(r["_deleted_at"] is None for r in stages)
    assert wh.upsert_pipelines("deals", [])["pipelines_gone"] == 2


def test_ticket_pipeline_state(dest) -> None:
    dest.wh.upsert_pipelines(
        "tickets", [_pipeline("0", [("1", {"ticketState": "OPEN"}), ("4", {"ticketState": "CLOSED"})])]
    )
    got = {r["id"]: (r["ticket_state"], r["probability"]) for r in dest.rows("ticket_pipeline_stage")}
    assert got == {"1": ("OPEN", None), "4": ("CLOSED", None)}
    assert [r["id"] for r in dest.rows("ticket_pipeline")] == ["0"]


# ---------------------------------------------------------------------- owners
def test_owners_upsert(dest) -> None:
    wh = dest.wh
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
    assert wh.upsert_owners([owner, {**owner, "id": "502", "userId": None, "teams": []}]) == 2
    first = by_id(dest.rows("owner"))
    assert first[501]["last_name"] == "O'Hara `x`" and first[501]["user_id"] == 9001
    wh.upsert_owners([{**owner, "archived": True, "lastName": "Changed"}])
    rows = by_id(dest.rows("owner"))
    assert len(rows) == 2
    assert rows[501]["archived"] is True and rows[501]["last_name"] == "Changed"
    assert (
        rows[501]["first_name"] == "Olga"
        and rows[501]["email"] == "o@x.com"
        and rows[501]["type"] == "PERSON"
    )
    assert rows[501]["teams"] == [{"id": "1", "name": "Sales", "primary": True}]
    assert rows[501]["user_id_including_inactive"] == 9001
    assert rows[501]["created_at"] == datetime(2023, 1, 1, tzinfo=UTC)
    assert rows[501]["updated_at"] == datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert rows[502]["user_id"] is None and rows[502]["archived"] is False and rows[502]["teams"] == []
    assert wh.owner_versions() == {
        501: (datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), True),
        502: (datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), False),
    }
    assert wh.upsert_owners([]) == 0


# ---------------------------------------------------------------------- state and reports
def test_sync_state_round_trip(dest) -> None:
    wh = dest.wh
    assert wh.get_sync_state("contacts") is None
    t1 = datetime(2024, 5, 1, tzinfo=UTC)
    wh.set_sync_state("contacts", t1, last_full_load_at=t1, run_id="r1")
    t2 = datetime(2024, 5, 2, 3, 4, 5, 678000, tzinfo=UTC)
    wh.set_sync_state("contacts", t2, run_id="r2")  # last_full_load_at kept
    state = wh.get_sync_state("contacts")
    assert state is not None
    assert (state["watermark"], state["last_full_load_at"], state["last_run_id"]) == (t2, t1, "r2")
    assert state["object_name"] == "contacts" and state["updated_at"] is not None
    assert wh.get_sync_state("companies") is None
    wh.set_sync_state("companies", None)
    assert wh.get_sync_state("companies")["watermark"] is None
    assert len(dest.rows("_hubspot_sync_state")) == 2


def test_sync_state_keeps_deletes_checked_at(dest) -> None:
    wh = dest.wh
    t1 = datetime(2024, 5, 1, tzinfo=UTC)
    checked = datetime(2024, 5, 1, 0, 30, 0, 123000, tzinfo=UTC)
    wh.set_sync_state("contacts", t1, run_id="r1")
    assert wh.get_sync_state("contacts")["deletes_checked_at"] is None
    wh.set_sync_state("contacts", t1, run_id="r2", deletes_checked_at=checked)
    wh.set_sync_state("contacts", t1 + timedelta(hours=1), run_id="r3")  # not checked: kept
    assert wh.get_sync_state("contacts")["deletes_checked_at"] == checked


def test_stored_modified_gives_live_complete_rows_only(dest, write_part) -> None:
    """The stored last-modified values, to the millisecond, of live rows with a value synced
    after the last schema change; deleted, NULL, unknown and pre-change rows are left out."""
    wh = dest.wh
    modified = "lastmodifieddate"
    wh.ensure_object_table("contacts", [prop("email"), prop(modified, "datetime")])
    rows = [record(i, **{modified: f"2024-05-0{i}T10:00:00.{i}23Z"}) for i in (1, 2, 3)]
    rows.append(record(4, **{modified: None}))
    wh.load_part("contacts", "p1", write_part(rows))
    wh.mark_deleted("contacts", [(3, "archived", None, None)])
    stored = wh.stored_modified("contacts", modified, [1, 2, 3, 4, 99])
    assert stored.keys() == {1, 2}
    assert [stored[i].astimezone(UTC) for i in (1, 2)] == [
        datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC),
        datetime(2024, 5, 2, 10, 0, 0, 223000, tzinfo=UTC),
    ]
    assert wh.stored_modified("contacts", "email", []) == {}
    assert wh.stored_modified("contacts", "no_such_property", [1]) == {}
    # a new column: rows loaded before it may lack its value, so none is given until reloaded
    wh.ensure_object_table("contacts", [prop("email"), prop(modified, "datetime"), prop("phone")])
    assert wh.stored_modified("contacts", modified, [1, 2]) == {}
    time.sleep(0.01)  # rows synced at the very instant of a change are read too (strictly after)
    wh.load_part("contacts", "p2", write_part([rows[0]]))
    assert wh.stored_modified("contacts", modified, [1, 2]).keys() == {1}


def test_run_report_round_trip_and_rerun_replaces(dest) -> None:
    wh = dest.wh
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
    wh.write_run_report(report)
    wh.write_run_report({**report, "status": "with_errors", "rejects": 2})
    got = wh.get_run_report("contacts", "manual__1")
    assert got is not None
    assert got["status"] == "with_errors" and got["rejects"] == 2 and got["duration_s"] == 60.0
    assert got["started_at"] == datetime(2024, 5, 1, tzinfo=UTC)
    assert got["finished_at"] == datetime(2024, 5, 1, 0, 1, tzinfo=UTC)
    assert got["api_calls"] == {"list": 3} and got["deletes"]["archived"] == 1
    assert got["associations"] == {"companies": 4} and got["columns_renamed"] == 1
    assert got["details"] == {"dag_id": "hubspot_contacts", "watermark": None}
    stored = dest.rows("_hubspot_run_report")
    assert [(r["object_name"], r["run_id"], r["status"]) for r in stored] == [
        ("contacts", "manual__1", "with_errors")
    ]
    assert stored[0]["api_calls"] == {"list": 3}
    assert wh.get_run_report("contacts", "nope") is None
    with pytest.raises(ValueError):
        wh.write_run_report({"object_name": "contacts"})


# ---------------------------------------------------------------------- object locks
def _lease_rows(dest, object_name: str) -> list[dict]:
    return [r for r in dest.rows("_hubspot_locks") if r["object_name"] == object_name]


def test_object_lock_excludes_other_holders(dest) -> None:
    wh, other = dest.wh, dest.other()  # another worker on the same schema
    with wh.object_lock("contacts"):
        if dest.uses_lease_rows:
            holder = _lease_rows(dest, "contacts")
            assert len(holder) == 1 and holder[0]["expires_at"] > datetime.now(UTC)
        for contender in (other, wh):  # another worker, and a second sync in this one
            with pytest.raises(WarehouseLockError, match="another sync of 'contacts' holds the lock"):
                with contender.object_lock("contacts", wait=False):
                    pass
        started = time.monotonic()
        with pytest.raises(
            WarehouseLockError, match="another sync of 'contacts' holds the lock.*gave up after"
        ):
            with other.object_lock("contacts", timeout_s=0.3):
                pass
        assert time.monotonic() - started >= 0.3
        with other.object_lock("companies", wait=False):  # other objects are independent
            pass
    if dest.uses_lease_rows:
        assert dest.rows("_hubspot_locks") == []  # released
    with other.object_lock("contacts", wait=False):  # released
        pass
    with wh.object_lock("contacts", wait=False):
        pass


def test_object_lock_waits_for_release(dest) -> None:
    acquired = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with dest.wh.object_lock("deals"):
            acquired.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert acquired.wait(10)
        threading.Timer(0.5, release.set).start()
        other = dest.other()
        started = time.monotonic()
        with other.object_lock("deals", timeout_s=10):
            waited = time.monotonic() - started
            assert release.is_set()  # not before the holder let go
    finally:
        release.set()
        thread.join()
    assert waited >= 0.3


def test_expired_lease_is_taken_over(dest) -> None:
    """A crashed holder's lease row expires and is taken over (dialects without a session lock);
    with a session lock, the server frees the lock of a vanished session and there is no row."""
    other = dest.other()
    if not dest.uses_lease_rows:
        assert "_hubspot_locks" not in dest.tables()
        with other.object_lock("tickets", wait=False):
            assert "_hubspot_locks" not in dest.tables()
        return
    d = dest.wh.d
    dest.execute(
        "INSERT INTO {_hubspot_locks} (object_name, owner, acquired_at, expires_at) "
        f"SELECT @o, @w, {d.now}, {d.add_ms(d.now, 'ttl')}",
        {"o": "tickets", "w": "dead-worker", "ttl": P(-1000, "bigint")},
    )
    assert [r["owner"] for r in _lease_rows(dest, "tickets")] == ["dead-worker"]
    with other.object_lock("tickets", wait=False):
        rows = _lease_rows(dest, "tickets")
        assert len(rows) == 1 and rows[0]["owner"] != "dead-worker"
        assert rows[0]["expires_at"] > datetime.now(UTC)
    assert _lease_rows(dest, "tickets") == []
    # A lease that has not expired is not taken over.
    dest.execute(
        "INSERT INTO {_hubspot_locks} (object_name, owner, acquired_at, expires_at) "
        f"SELECT @o, @w, {d.now}, {d.add_ms(d.now, 'ttl')}",
        {"o": "tickets", "w": "live-worker", "ttl": P(60_000, "bigint")},
    )
    with pytest.raises(WarehouseLockError, match="owner live-worker"):
        with other.object_lock("tickets", wait=False):
            pass
