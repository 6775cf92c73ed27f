"""Incremental runs skip the hits the warehouse holds unchanged; the deletes check has a cadence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hubspot_etl.config import ConfigError, parse_config
from hubspot_etl.sync import extract
from hubspot_etl.sync.plan import deletes_check_due
from hubspot_etl.sync.unchanged import ids_to_read, to_ms

MS = 1_714_557_600_123  # 2024-05-01T10:00:00.123Z
AT = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)


def hit(record_id: int, prop: str = "lastmodifieddate", value: str | None = "2024-05-01T10:00:00.123Z"):
    return {"id": str(record_id), "properties": {prop: value}}


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T10:00:00.123Z",
        "2024-05-01T12:00:00.123+02:00",
        str(MS),
        AT,
        AT.replace(microsecond=123456),  # a warehouse keeping microseconds: same millisecond
        AT.replace(tzinfo=None),  # naive: UTC
        AT.astimezone(timezone(timedelta(hours=-5))),
    ],
)
def test_every_form_of_the_same_instant_gives_the_same_millisecond(value) -> None:
    assert to_ms(value) == MS


@pytest.mark.parametrize("value", [None, "", "yesterday"])
def test_an_unreadable_value_has_no_millisecond(value) -> None:
    assert to_ms(value) is None


def test_only_hits_whose_stored_date_equals_theirs_are_skipped() -> None:
    hits = [hit(1), hit(2), hit(3), hit(4), hit(5, value=None), hit(6, value="garbage")]
    stored = {
        1: AT.replace(microsecond=123999),  # same millisecond: skipped
        2: AT + timedelta(milliseconds=1),  # the warehouse is newer (search lags): read
        3: AT - timedelta(milliseconds=1),  # the warehouse is older: read
        5: AT,
        6: AT,
    }  # 4: the warehouse lacks it (missing, deleted or NULL): read
    assert ids_to_read(hits, stored, "lastmodifieddate") == [2, 3, 4, 5, 6]


def test_the_comparison_uses_the_objects_own_modified_property() -> None:
    """Contacts are searched on lastmodifieddate: an equal hs_lastmodifieddate decides nothing."""
    contact = {"id": "7", "properties": {"hs_lastmodifieddate": "2024-05-01T10:00:00.123Z"}}
    assert ids_to_read([contact], {7: AT}, "lastmodifieddate") == [7]
    assert ids_to_read([contact], {7: AT}, "hs_lastmodifieddate") == []


class _Hook:
    """The two hook calls an incremental extract makes: search pages, then batch reads."""

    def __init__(self, pages: list[list[dict]]) -> None:
        self.pages, self.read = pages, []

    def iter_modified(self, api_type, start, end, properties):
        assert properties == ["lastmodifieddate"]
        yield from self.pages

    def batch_read(self, api_type, ids, properties):
        self.read.append(list(ids))
        return [{"id": i} for i in ids]


class _Plan:
    api_type, modified_property, properties = "contacts", "lastmodifieddate", ["email"]
    window_start, window_end = "2024-05-01T00:00:00+00:00", "2024-05-02T00:00:00+00:00"


def test_extract_reads_only_changed_hits_once_each() -> None:
    pages = [[hit(i) for i in range(1, 201)], [hit(200), *(hit(i) for i in range(201, 301))]]
    stored = {i: AT for i in range(1, 301) if i % 3}  # every third id changed or unknown
    asked: list[list[int]] = []

    def lookup(ids):
        asked.append(list(ids))
        return {i: stored[i] for i in ids if i in stored}

    hook = _Hook(pages)
    skipped = extract._Skipped(lookup)
    batches = list(extract._modified_records(hook, _Plan(), skipped))
    read = [int(i) for ids in hook.read for i in ids]
    assert read == [i for i in range(1, 301) if i % 3 == 0]
    assert skipped.count == 200 and sum(len(b) for b in batches) == 100
    assert sorted(i for ids in asked for i in ids) == list(range(1, 301))  # 200 once


def test_without_a_warehouse_every_hit_is_read() -> None:
    hook = _Hook([[hit(i) for i in range(1, 151)]])
    skipped = extract._Skipped(None)
    list(extract._modified_records(hook, _Plan(), skipped))
    assert [len(ids) for ids in hook.read] == [100, 50] and skipped.count == 0


NOW = datetime(2026, 3, 10, 12, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("setting", "checked_at", "due"),
    [
        ("every_run", NOW - timedelta(minutes=1), True),
        ("full_only", None, False),
        ("hourly", None, True),  # never checked (a first run, or an upgraded table)
        ("hourly", datetime(2026, 3, 10, 12, 10, tzinfo=UTC), False),
        ("hourly", datetime(2026, 3, 10, 11, 59, tzinfo=UTC), True),  # 12:00 ticked since
        ("daily", datetime(2026, 3, 10, 0, 5, tzinfo=UTC), False),
        ("*/15 * * * *", datetime(2026, 3, 10, 12, 44, tzinfo=UTC), True),
    ],
)
def test_deletes_check_is_due_when_its_cadence_ticked_since_the_last_check(setting, checked_at, due) -> None:
    assert deletes_check_due(setting, checked_at, NOW) is due


def _config(**settings):
    return parse_config(
        {
            "defaults": {"destination": {"type": "postgres", "conn_id": "wh", "schema": "crm"}},
            "objects": {"contacts": settings},
        },
        source="sync.yaml",
    ).object("contacts")


def test_deletes_check_is_configured_per_object() -> None:
    assert _config().deletes_check == "every_run"
    assert _config(deletes_check="daily").deletes_check == "daily"
    assert _config(deletes_check="0 */6 * * *").deletes_check == "0 */6 * * *"
    with pytest.raises(ConfigError, match="objects.contacts.deletes_check"):
        _config(deletes_check="sometimes")
