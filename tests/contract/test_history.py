"""The warehouse contract for history: ``<table>_property_history`` and ``<table>_stage_history``.

Written once against ``dest`` (tests/contract/conftest.py) and run on PostgreSQL, BigQuery and
Snowflake. Rows go in as ``HubSpotHook.batch_read_history`` returns them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tests.support.records import prop, record

T0 = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def entry(object_id: int, prop_name: str, value: str | None, minutes: int, **extra) -> dict:
    """A hook history row: written ``minutes`` after T0 (HubSpot's ISO text with milliseconds)."""
    return {
        "object_id": object_id,
        "property": prop_name,
        "value": value,
        "timestamp": at(minutes).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "source_type": extra.get("source_type", "CRM_UI"),
        "source_id": extra.get("source_id", "userId:7"),
        "source_label": extra.get("source_label"),
        "updated_by_user_id": extra.get("updated_by_user_id", 7),
    }


def history(dest) -> dict[tuple, dict]:
    rows = dest.rows("deal_property_history")
    keyed = {(r["object_id"], r["property"], r["timestamp"]): r for r in rows}
    assert len(keyed) == len(rows), "two history rows share (object_id, property, timestamp)"
    return keyed


def stages(dest, object_id: int | None = None) -> list[tuple]:
    rows = dest.rows("deal_stage_history")
    keys = [(r["object_id"], r["entered_at"]) for r in rows]
    assert len(set(keys)) == len(keys), "two stage rows share (object_id, entered_at)"
    chosen = sorted(
        (r for r in rows if object_id is None or r["object_id"] == object_id),
        key=lambda r: (r["object_id"], r["entered_at"]),
    )
    return [(r["object_id"], r["stage_id"], r["entered_at"], r["left_at"], r["is_active"]) for r in chosen]


DEAL_1 = [
    entry(1, "dealstage", "appointmentscheduled", 0),
    entry(1, "dealstage", "qualifiedtobuy", 10, source_type="WORKFLOW", source_id="wf:1"),
    entry(1, "amount", "100", 0),
    entry(1, "amount", None, 20, updated_by_user_id=None, source_id=None),
]


def test_property_history_columns_and_values(dest) -> None:
    assert dest.wh.upsert_property_history("deals", DEAL_1) == 4
    assert dest.column_types("deal_property_history") == {
        "object_id": "bigint",
        "property": "text",
        "value": "text",
        "timestamp": "timestamp",
        "source_type": "text",
        "source_id": "text",
        "source_label": "text",
        "updated_by_user_id": "bigint",
        "_synced_at": "timestamp",
    }
    rows = history(dest)
    assert set(rows) == {
        (1, "dealstage", at(0)),
        (1, "dealstage", at(10)),
        (1, "amount", at(0)),
        (1, "amount", at(20)),
    }
    moved = rows[(1, "dealstage", at(10))]
    assert (moved["value"], moved["source_type"], moved["source_id"], moved["updated_by_user_id"]) == (
        "qualifiedtobuy",
        "WORKFLOW",
        "wf:1",
        7,
    )
    cleared = rows[(1, "amount", at(20))]
    assert cleared["value"] is None and cleared["source_id"] is None and cleared["updated_by_user_id"] is None
    assert all(r["_synced_at"] is not None for r in rows.values())


def test_property_history_reload_is_idempotent(dest) -> None:
    wh = dest.wh
    wh.upsert_property_history("deals", DEAL_1)
    before = history(dest)
    assert wh.upsert_property_history("deals", DEAL_1) == 0  # nothing differs: nothing written
    assert wh.upsert_property_history("deals", list(reversed(DEAL_1))) == 0
    assert history(dest) == before
    # A later read returns the old writes again plus a new one: only the new one is written.
    later = [*DEAL_1, entry(1, "dealstage", "closedwon", 30)]
    assert wh.upsert_property_history("deals", later) == 1
    assert len(history(dest)) == 5
    # A stored row whose source HubSpot now reports differently is corrected, not duplicated.
    relabelled = [entry(1, "amount", "100", 0, source_label="Import 42")]
    assert wh.upsert_property_history("deals", relabelled) == 1
    rows = history(dest)
    assert len(rows) == 5 and rows[(1, "amount", at(0))]["source_label"] == "Import 42"


def test_duplicates_in_a_batch_resolve_the_same_whatever_their_order(dest) -> None:
    twins = [
        entry(5, "dealstage", "b", 0, source_type="API"),
        entry(5, "dealstage", "a", 0, source_type="CRM_UI"),
        entry(5, "dealstage", "a", 0, source_type="API"),
    ]
    results = []
    for seed in range(3):
        random.Random(seed).shuffle(twins)
        if seed:
            dest.execute("DELETE FROM {deal_property_history} WHERE object_id = 5")
        dest.wh.upsert_property_history("deals", twins)
        (row,) = history(dest).values()
        results.append((row["value"], row["source_type"]))
    assert results == [("b", "API")] * 3


def test_unreadable_timestamps_are_dropped_and_empty_batches_are_fine(dest) -> None:
    bad = {**entry(1, "amount", "5", 0), "timestamp": ""}
    assert dest.wh.upsert_property_history("deals", [bad]) == 0
    assert dest.wh.upsert_property_history("deals", []) == 0
    assert dest.rows("deal_property_history") == []


def test_stage_history_with_a_reversal(dest) -> None:
    wh = dest.wh
    writes = [
        entry(1, "dealstage", "A", 0),
        entry(1, "dealstage", "A", 5),  # the same stage written again: no new row
        entry(1, "dealstage", "B", 10, source_type="WORKFLOW", source_id="wf:9", updated_by_user_id=None),
        entry(1, "dealstage", "A", 20),  # back to A: a row of its own
        entry(1, "amount", "9", 15),  # other properties are not stages
        entry(2, "dealstage", "X", 3),
    ]
    wh.upsert_property_history("deals", list(reversed(writes)))
    assert wh.rebuild_stage_history("deals", [1, 2], "dealstage") == 4
    assert dest.column_types("deal_stage_history") == {
        "object_id": "bigint",
        "stage_id": "text",
        "entered_at": "timestamp",
        "left_at": "timestamp",
        "is_active": "boolean",
        "source_type": "text",
        "source_id": "text",
        "updated_by_user_id": "bigint",
        "_synced_at": "timestamp",
    }
    assert stages(dest) == [
        (1, "A", at(0), at(10), False),
        (1, "B", at(10), at(20), False),
        (1, "A", at(20), None, True),
        (2, "X", at(3), None, True),
    ]
    b_row = next(r for r in dest.rows("deal_stage_history") if r["stage_id"] == "B")
    assert (b_row["source_type"], b_row["source_id"], b_row["updated_by_user_id"]) == (
        "WORKFLOW",
        "wf:9",
        None,
    )
    # Rebuilding again gives the same rows.
    assert wh.rebuild_stage_history("deals", [1, 2], "dealstage") == 4
    assert len(stages(dest)) == 4


def test_incremental_update_rebuilds_only_that_record(dest) -> None:
    wh = dest.wh
    wh.upsert_property_history("deals", [entry(1, "dealstage", "A", 0), entry(2, "dealstage", "A", 0)])
    wh.rebuild_stage_history("deals", [1, 2], "dealstage")
    # Deal 2's stage rows are tampered with: a rebuild of deal 1 alone must not touch them.
    dest.execute("UPDATE {deal_stage_history} SET stage_id = 'tampered' WHERE object_id = 2")
    wh.upsert_property_history("deals", [entry(1, "dealstage", "A", 0), entry(1, "dealstage", "C", 40)])
    assert wh.rebuild_stage_history("deals", [1], "dealstage") == 2
    assert stages(dest) == [
        (1, "A", at(0), at(40), False),
        (1, "C", at(40), None, True),
        (2, "tampered", at(0), None, True),
    ]
    # A record without stage writes loses any stale stage rows; no ids: nothing happens.
    dest.execute("DELETE FROM {deal_property_history} WHERE object_id = 2")
    assert wh.rebuild_stage_history("deals", [2], "dealstage") == 0
    assert wh.rebuild_stage_history("deals", [], "dealstage") == 0
    assert [r[0] for r in stages(dest)] == [1, 1]


def test_a_deleted_deal_keeps_its_history(dest, write_part) -> None:
    wh = dest.wh
    wh.ensure_object_table("deals", [prop("dealstage")])
    wh.load_part("deals", "p1", write_part([record(1, dealstage="A"), record(2, dealstage="B")]))
    wh.upsert_property_history("deals", [entry(1, "dealstage", "A", 0), entry(2, "dealstage", "B", 0)])
    wh.rebuild_stage_history("deals", [1, 2], "dealstage")
    wh.mark_deleted("deals", [(1, "archived", None, None), (2, "merged", None, 3)])
    assert wh.live_ids("deals") == set()
    assert set(history(dest)) == {(1, "dealstage", at(0)), (2, "dealstage", at(0))}
    assert stages(dest) == [(1, "A", at(0), None, True), (2, "B", at(0), None, True)]
    # The next run reads the history of the survivor only: the deleted records' rows stay.
    wh.upsert_property_history("deals", [entry(3, "dealstage", "C", 1)])
    wh.rebuild_stage_history("deals", [3], "dealstage")
    assert len(history(dest)) == 3 and len(stages(dest)) == 3


def test_stage_rebuild_before_any_history(dest) -> None:
    assert dest.wh.rebuild_stage_history("tickets", [1, 2], "hs_pipeline_stage") == 0
    assert "ticket_stage_history" in dest.tables()
    assert dest.rows("ticket_stage_history") == []


def test_history_ids(dest) -> None:
    assert dest.wh.history_ids("deals") == set()  # before the table exists
    dest.wh.upsert_property_history("deals", [*DEAL_1, entry(9, "amount", "1", 0)])
    assert dest.wh.history_ids("deals") == {1, 9}
