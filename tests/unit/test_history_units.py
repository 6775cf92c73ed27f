"""History without I/O: the ``history`` config key, which properties a run reads, the stage
rows computed from writes, the history report and its place in the run report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hubspot_etl.config import ConfigError, parse_config
from hubspot_etl.sync.contracts import HistoryReport
from hubspot_etl.sync.finalize import wrote_changes
from hubspot_etl.sync.history import history_properties, stage_property
from hubspot_etl.warehouse.history import history_table_names, stage_rows, unique_history_rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def write(object_id: int, value: str | None, minutes: int, source: str = "CRM_UI") -> dict:
    return {
        "object_id": object_id,
        "value": value,
        "timestamp": at(minutes),
        "source_type": source,
        "source_id": f"s{minutes}",
        "updated_by_user_id": minutes,
    }


# ---------------------------------------------------------------------- config
def _history(value):
    return parse_config({"objects": {"deals": {"history": value}}}).objects[0].history


def test_history_config() -> None:
    assert parse_config({"objects": {"deals": {}}}).objects[0].history == ()
    assert _history(None) == ()
    assert _history("all") == "all"
    assert _history(["dealstage", "amount", "dealstage"]) == ("dealstage", "amount")
    assert _history(["p123_custom-prop", "hs_v2_date_entered_x.y"]) == (
        "p123_custom-prop",
        "hs_v2_date_entered_x.y",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dealstage", "list of property names or 'all'"),
        ("ALL", "list of property names or 'all'"),
        ({"dealstage": True}, "list of property names"),
        (["deal stage"], "'deal stage' is not a HubSpot property name"),
        ([""], "'' is not a HubSpot property name"),
        ([3], "3 is not a HubSpot property name"),
    ],
)
def test_bad_history_config_names_the_key(value, message) -> None:
    with pytest.raises(ConfigError, match="objects.deals.history") as caught:
        _history(value)
    assert message in str(caught.value)


class _Plan:
    properties = ["hs_object_id", "dealstage", "amount"]


def test_which_properties_are_read() -> None:
    assert history_properties("all", _Plan()) == ["hs_object_id", "dealstage", "amount"]
    assert history_properties(("amount", "closedate"), _Plan()) == ["amount", "closedate"]
    assert stage_property("deals", ["amount", "dealstage"]) == "dealstage"
    assert stage_property("deals", ["amount"]) is None
    assert stage_property("tickets", ["hs_pipeline_stage"]) == "hs_pipeline_stage"
    assert stage_property("contacts", ["dealstage", "hs_pipeline_stage"]) is None


def test_history_table_names() -> None:
    assert history_table_names("deals") == ("deal_property_history", "deal_stage_history")
    assert history_table_names("p123_meters") == ("meters_property_history", "meters_stage_history")
    long_name = history_table_names("p1_" + "x" * 60)[0]
    assert len(long_name.encode()) <= 63


# ---------------------------------------------------------------------- stage rows
def _summary(rows):
    return [(r["object_id"], r["stage_id"], r["entered_at"], r["left_at"], r["is_active"]) for r in rows]


def test_stage_rows_collapse_repeats_and_keep_reversals() -> None:
    writes = [write(1, "A", 0), write(1, "A", 5), write(1, "B", 10, "WORKFLOW"), write(1, "A", 20)]
    rows = stage_rows(reversed(writes))  # any order in
    assert _summary(rows) == [
        (1, "A", at(0), at(10), False),
        (1, "B", at(10), at(20), False),
        (1, "A", at(20), None, True),
    ]
    assert (rows[1]["source_type"], rows[1]["source_id"], rows[1]["updated_by_user_id"]) == (
        "WORKFLOW",
        "s10",
        10,
    )
    # the row keeps the write that entered the stage, not the repeat
    assert rows[0]["source_id"] == "s0"


def test_stage_rows_per_record_and_cleared_stages() -> None:
    writes = [
        write(2, "X", 0),
        write(1, "A", 1),
        write(2, "", 4),  # cleared: X is left, nothing is entered
        write(2, None, 5),
        write(2, "X", 6),  # entered again after the gap
        write(3, None, 0),  # never in a stage
        write(4, "A", 0),
        write(4, "", 9),  # cleared at the end: no open row
    ]
    assert _summary(stage_rows(writes)) == [
        (1, "A", at(1), None, True),
        (2, "X", at(0), at(4), False),
        (2, "X", at(6), None, True),
        (4, "A", at(0), at(9), False),
    ]
    assert stage_rows([]) == []


def test_unique_history_rows_are_keyed_and_order_independent() -> None:
    base = {
        "object_id": "7",
        "property": "dealstage",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "source_type": "API",
        "source_id": None,
        "source_label": None,
        "updated_by_user_id": None,
    }
    a, b = {**base, "value": "a"}, {**base, "value": "b", "updated_by_user_id": "5"}
    other = {**base, "timestamp": 1767225601000, "value": "c"}  # ms epoch: one second later
    first, second = unique_history_rows([a, b, other]), unique_history_rows([other, b, a])
    assert first == second
    assert [(r["object_id"], r["value"], r["timestamp"], r["updated_by_user_id"]) for r in first] == [
        (7, "b", T0, 5),
        (7, "c", T0 + timedelta(seconds=1), None),
    ]
    assert unique_history_rows([{**base, "timestamp": None, "value": "x"}]) == []


# ---------------------------------------------------------------------- reports
def test_history_report_round_trip_and_summary() -> None:
    report = HistoryReport(properties=2, records=10, rows=40, calls=1, changed=3, missing=1, stage_rows=12)
    report.api_calls = {"calls": {"objects.batch_read_history": 1}}
    assert HistoryReport.from_dict(report.as_dict()) == report
    assert report.summary() == {
        "properties": 2,
        "records": 10,
        "archived_records": 0,
        "rows": 40,
        "calls": 1,
        "changed": 3,
        "missing": 1,
        "stage_rows": 12,
    }
    assert "api_calls" not in report.summary()


def test_history_rows_written_are_a_change() -> None:
    quiet = {"complete": True, "records_changed": 0, "deletes": {}, "schema_changes": {}}
    assert not wrote_changes(quiet, dry_run=False)
    assert not wrote_changes({**quiet, "history": {"changed": 0}}, dry_run=False)
    assert wrote_changes({**quiet, "history": {"changed": 4}}, dry_run=False)
    assert not wrote_changes({**quiet, "history": {"changed": 4}}, dry_run=True)
