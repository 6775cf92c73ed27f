"""Per-row overflow: rows too wide for a PostgreSQL page keep some values in ``_extra_properties``.

PostgreSQL rejects a heap tuple over 8,160 bytes ("row is too big") whatever the column count, so
a record with ~1,500 populated properties cannot be stored in columns alone. See the docstring of
:mod:`hubspot_etl.warehouse.records` for the rule these tests pin down.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hubspot_etl.warehouse.base import ColumnSpec, LoadResult
from hubspot_etl.warehouse.naming import table_name_for_object
from hubspot_etl.warehouse.postgres import PostgresWarehouse
from hubspot_etl.warehouse.records import (
    ROW_BYTES_BUDGET,
    RowBuilder,
    numeric_bytes,
    text_bytes,
)
from hubspot_etl.warehouse.types import LogicalType, convert
from psycopg import sql

from tests.support.records import prop, record

#: PostgreSQL's MaxHeapTupleSize (8 KB page minus page header and line pointer).
MAX_HEAP_TUPLE_SIZE = 8160

LONG = "x" * 56  # names of >= 60 characters that collide after truncation to 63 bytes


def long_name(i: int) -> str:
    return f"{LONG}_property_{i:04d}"


def load(wh: PostgresWarehouse, write_part, obj: str, part: str, records: list[dict]) -> LoadResult:
    return wh.load_part(obj, part, write_part(records))


def stored(wh: PostgresWarehouse, query, obj: str, rid: int) -> dict[str, Any]:
    table = table_name_for_object(obj)
    return query(sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table)), [rid])[0]


def split_values(
    wh: PostgresWarehouse, query, obj: str, rid: int, props: dict[str, str | None]
) -> tuple[dict[str, Any], set[str]]:
    """Check that every value of ``props`` is where the documented semantics say it is.

    Returns the stored row and the names of the properties whose value was moved out of its
    column by per-row overflow.
    """
    specs = wh.column_specs(obj)
    row = stored(wh, query, obj, rid)
    extra = row["_extra_properties"] or {}
    rejects = row["_rejects"] or {}
    overflowed: set[str] = set()
    for name, raw in props.items():
        spec = specs[name]
        if spec.spilled:
            assert extra.get(name) == raw, name
            continue
        expected, reason = convert(raw, spec.logical_type)
        actual = row[spec.column_name]
        if reason is not None and expected is None:  # a reject: NULL column, never moved
            assert actual is None and name in rejects and name not in extra, name
            continue
        if raw is None:
            assert actual is None and name not in extra, name
            continue
        if actual is None:
            assert extra[name] == raw, name
            overflowed.add(name)
        else:
            assert actual == expected and name not in extra, name
    return row, overflowed


def ordinals(query, table: str) -> dict[str, int]:
    rows = query(
        "SELECT attname, attnum FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
        [table],
    )
    return {r["attname"]: r["attnum"] for r in rows}


@pytest.fixture
def wide_strings(wh: PostgresWarehouse) -> list[str]:
    """1,700 string properties with long colliding names: 1,500 columns + 200 spilled."""
    names = [long_name(i) for i in range(1700)]
    summary = wh.ensure_object_table("p7_things", [prop(n) for n in names])
    assert (summary.added, summary.spilled) == (1500, 200)
    assert summary.renamed > 0  # the names collide after truncation to 63 bytes
    return names


def test_1700_populated_strings_load_with_overflow(
    wh: PostgresWarehouse, query, write_part, wide_strings: list[str]
) -> None:
    props = {n: f"value-{i:04d}-abcdefghi" for i, n in enumerate(wide_strings)}  # 20 characters
    assert {len(v) for v in props.values()} == {20}
    result = load(wh, write_part, "p7_things", "wide", [record(1, **props)])
    assert (result.rows, result.upserted, result.rejects) == (1, 1, 0)
    assert result.overflowed_rows == 1
    row, overflowed = split_values(wh, query, "p7_things", 1, props)
    assert len(overflowed) == result.overflowed_values
    in_columns = 1500 - len(overflowed)
    # 21 bytes per stored value: a few hundred stay in columns, the rest moved out.
    assert 200 < in_columns < (MAX_HEAP_TUPLE_SIZE // 21)
    spilled = {n for n, s in wh.column_specs("p7_things").items() if s.spilled}
    assert set(row["_extra_properties"]) == spilled | overflowed
    # Newest columns (highest ordinal) are moved first.
    specs = wh.column_specs("p7_things")
    attnum = ordinals(query, "things")
    kept = [attnum[specs[n].column_name] for n in props if n not in overflowed and n not in spilled]
    moved = [attnum[specs[n].column_name] for n in overflowed]
    assert max(kept) < min(moved)


def test_numeric_boolean_timestamp_row_loads(wh: PostgresWarehouse, query, write_part) -> None:
    kinds = ["number", "bool", "datetime"]
    names = [f"prop_{i:04d}" for i in range(1500)]
    wh.ensure_object_table("p8_mixed", [prop(n, kinds[i % 3]) for i, n in enumerate(names)])
    samples = {
        "number": lambda i: str(i * 7 % 1000),
        "bool": lambda i: "true" if i % 2 else "false",
        "datetime": lambda i: f"2024-0{1 + i % 9}-1{i % 10}T12:34:56.{i % 1000:03d}Z",
    }
    props = {n: samples[kinds[i % 3]](i) for i, n in enumerate(names)}
    result = load(wh, write_part, "p8_mixed", "mixed", [record(1, **props)])
    assert (result.upserted, result.rejects, result.overflowed_rows) == (1, 0, 1)
    _, overflowed = split_values(wh, query, "p8_mixed", 1, props)
    assert 0 < len(overflowed) == result.overflowed_values < 1500


def test_narrow_record_keeps_values_in_columns(
    wh: PostgresWarehouse, query, write_part, wide_strings: list[str]
) -> None:
    narrow = {n: f"v{i}" for i, n in enumerate(wide_strings[:100])}
    result = load(wh, write_part, "p7_things", "narrow", [record(2, **narrow)])
    assert (result.overflowed_rows, result.overflowed_values) == (0, 0)
    row, overflowed = split_values(wh, query, "p7_things", 2, narrow)
    assert not overflowed and row["_extra_properties"] is None
    # In one part with a wide record only the wide one is split.
    wide = {n: f"value-{i:04d}-abcdefghi" for i, n in enumerate(wide_strings)}
    both = load(wh, write_part, "p7_things", "both", [record(3, **narrow), record(4, **wide)])
    assert both.overflowed_rows == 1 and both.overflowed_values > 0
    assert not split_values(wh, query, "p7_things", 3, narrow)[1]
    assert len(split_values(wh, query, "p7_things", 4, wide)[1]) == both.overflowed_values


def test_newer_narrower_version_moves_values_back(
    wh: PostgresWarehouse, query, write_part, wide_strings: list[str]
) -> None:
    wide = {n: f"value-{i:04d}-abcdefghi" for i, n in enumerate(wide_strings)}
    first = load(wh, write_part, "p7_things", "v1", [record(1, "2024-05-01T00:00:00Z", **wide)])
    _, overflowed = split_values(wh, query, "p7_things", 1, wide)
    assert first.overflowed_rows == 1 and overflowed
    # HubSpot sends every requested property; most are now empty, the rest changed.
    narrow: dict[str, str | None] = dict.fromkeys(wide_strings)
    for i, name in enumerate(wide_strings[-300:]):  # the newest columns, moved out before
        narrow[name] = f"new-{i}"
    second = load(wh, write_part, "p7_things", "v2", [record(1, "2024-06-01T00:00:00Z", **narrow)])
    assert (second.upserted, second.overflowed_rows, second.overflowed_values) == (1, 0, 0)
    row, again = split_values(wh, query, "p7_things", 1, narrow)
    assert not again
    spilled = {n for n, s in wh.column_specs("p7_things").items() if s.spilled}
    assert set(row["_extra_properties"]) == spilled  # no stale overflowed entries
    moved_back = [n for n in overflowed if narrow[n] is not None]
    assert moved_back
    # An older version loaded late changes nothing.
    late = load(wh, write_part, "p7_things", "v0", [record(1, "2024-04-01T00:00:00Z", **wide)])
    assert late.upserted == 0
    assert stored(wh, query, "p7_things", 1) == row


def test_rejects_are_not_overflowed(wh: PostgresWarehouse, query, write_part) -> None:
    names = [f"n_{i:04d}" for i in range(1200)]
    wh.ensure_object_table("p9_nums", [prop(n, "number") for n in names] + [prop("note")])
    props: dict[str, str | None] = {n: f"{i}.{i}" for i, n in enumerate(names)}
    for name in names[-50:]:  # the newest columns, first in line to be moved
        props[name] = "not a number"
    props["note"] = "a\x00b"  # kept cleaned, noted in _rejects
    result = load(wh, write_part, "p9_nums", "n", [record(1, **props)])
    assert result.rejects == 51 and result.reject_reasons == {"invalid_number": 50, "nul_byte": 1}
    assert result.overflowed_rows == 1
    row, overflowed = split_values(wh, query, "p9_nums", 1, {k: v for k, v in props.items() if k != "note"})
    # "note" is the newest column, so it is moved first: cleaned like a spilled value, and its
    # nul_byte note stays in _rejects.
    assert row["note"] is None and row["_extra_properties"]["note"] == "ab"
    assert len(overflowed) + 1 == result.overflowed_values
    assert not overflowed & set(names[-50:])
    assert set(row["_rejects"]) == {*names[-50:], "note"}


def _hostile_records() -> dict[str, tuple[list[dict], dict[str, str]]]:
    """Layouts that make the real row as large as possible for its estimate."""
    cases: dict[str, tuple[list[dict], dict[str, str]]] = {}
    # 1-character text before every timestamp: 7 bytes of alignment padding each.
    names = [f"a_{i:04d}" for i in range(1500)]
    defs = [prop(n, "datetime" if i % 2 else "string") for i, n in enumerate(names)]
    values = {n: ("2024-01-02T03:04:05Z" if i % 2 else "x") for i, n in enumerate(names)}
    cases["padding"] = (defs, values)
    # Dates after text (3 bytes of padding) and 23-character text (24 bytes, never toasted).
    names = [f"b_{i:04d}" for i in range(1500)]
    defs = [prop(n, ["date", "string", "string"][i % 3]) for i, n in enumerate(names)]
    values = {n: ["2024-02-03", "y", "z" * 23][i % 3] for i, n in enumerate(names)}
    cases["dates"] = (defs, values)
    # Compressible long text (compressed inline with a 4-byte header), emoji, many-digit numbers.
    names = [f"c_{i:04d}" for i in range(1500)]
    defs = [prop(n, ["string", "string", "number", "number"][i % 4]) for i, n in enumerate(names)]
    texts = ["q" * 300, "\U0001f600" * 5, "1234567890.12345678", "9" * 40]
    values = {n: texts[i % 4] for i, n in enumerate(names)}
    cases["toast"] = (defs, values)
    return cases


@pytest.mark.parametrize("case", ["padding", "dates", "toast"])
def test_estimate_is_an_upper_bound(wh: PostgresWarehouse, query, write_part, case: str) -> None:
    """Even with the budget at PostgreSQL's hard limit, hostile layouts load: the estimate never
    undercounts, so the smaller default budget is pure safety margin."""
    defs, values = _hostile_records()[case]
    wh.ensure_object_table(f"p1_{case}", defs)
    wh.row_bytes_budget = MAX_HEAP_TUPLE_SIZE
    # A second version updates the row in place (the ON CONFLICT path builds a new tuple).
    for version, updated in enumerate(["2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"]):
        result = load(wh, write_part, f"p1_{case}", f"v{version}", [record(1, updated, **values)])
        assert (result.upserted, result.overflowed_rows) == (1, 1)
    split_values(wh, query, f"p1_{case}", 1, values)


def test_default_budget_leaves_a_margin() -> None:
    assert 6000 <= ROW_BYTES_BUDGET < MAX_HEAP_TUPLE_SIZE


def test_size_functions_match_postgresql(query) -> None:
    """``numeric_bytes``/``text_bytes`` equal PostgreSQL's stored size (1-byte short header)
    for values that stay inline, and are capped above that."""
    numbers = ["0", "0.000", "1", "1.5", "12345", "0.0001", "10000", "1e400", "-1e-70", "123456789.123"]
    numbers += ["1234567890.12345678", "9" * 40, "1.50", "100000000"]
    for text in numbers:
        value, _ = convert(text, LogicalType.NUMERIC)
        memory = query("SELECT pg_column_size(%s::numeric) AS n", [str(value)])[0]["n"]
        expected = memory - 3 if memory - 3 <= 24 else 27
        assert numeric_bytes(value) == expected, text
    for text in ["", "a", "z" * 20, "z" * 23, "z" * 24, "\U0001f600" * 5, "é" * 11]:
        memory = query("SELECT pg_column_size(%s::text) AS n", [text])[0]["n"]
        expected = memory - 3 if memory - 3 <= 24 else 27
        assert text_bytes(text) == expected, text


def test_row_builder_moves_highest_ordinal_first() -> None:
    specs = {f"p{i}": ColumnSpec(f"p{i}", f"c{i}", LogicalType.TEXT, "string") for i in range(800)}
    order = {f"c{i}": 1000 - i for i in range(800)}  # c0 is the newest column
    builder = RowBuilder(specs, list(specs), column_order=order)
    rec = record(1, **{f"p{i}": "abcdefghij" for i in range(800)})  # 11 bytes each, ~9,200 in all
    row = builder.build(rec, 0)
    moved = [i for i in range(800) if row[1 + i] is None]
    assert moved and moved == list(range(len(moved)))  # c0, c1, ... in that order
    assert builder.stats.overflowed_rows == 1 and builder.stats.overflowed_values == len(moved)
    extras = json.loads(row[-2])
    assert extras == {f"p{i}": "abcdefghij" for i in moved}
    # Deterministic: the same record gives the same row.
    assert RowBuilder(specs, list(specs), column_order=order).build(rec, 0) == row
    # Below the budget nothing moves.
    small = RowBuilder(specs, list(specs), column_order=order).build(
        record(2, **{f"p{i}": "abcdefghij" for i in range(100)}), 0
    )
    assert None not in small[1:101] and small[-2] is None


def test_timestamps_dates_in_extras_are_raw_strings(wh: PostgresWarehouse, query, write_part) -> None:
    names = [f"d_{i:04d}" for i in range(1000)]
    wh.ensure_object_table(
        "p3_dates", [prop(n, "date" if i % 2 else "datetime") for i, n in enumerate(names)]
    )
    props = {n: ("2024-03-04" if i % 2 else "1572480000000") for i, n in enumerate(names)}
    result = load(wh, write_part, "p3_dates", "d", [record(1, **props)])
    assert result.overflowed_rows == 1
    row, overflowed = split_values(wh, query, "p3_dates", 1, props)
    assert overflowed
    kept_ts = [row[n] for n in names[::2] if n not in overflowed]
    assert kept_ts and set(kept_ts) == {datetime(2019, 10, 31, tzinfo=UTC)}
    assert {row[n] for n in names[1::2] if n not in overflowed} == {date(2024, 3, 4)}
