"""RowBuilder fast paths: the same rows, rejects and overflow decisions as value-by-value conversion.

:class:`~hubspot_etl.warehouse.records.RowBuilder` takes a record's text values as they are after
one check, converts its typed values at once with :class:`~hubspot_etl.warehouse.types.CommonShapes`
when all have the usual shape, and skips the exact row-size estimate when a cheap bound fits. These
tests pin down that none of that changes a result: every column value and reject must be what
:func:`~hubspot_etl.warehouse.types.convert` gives for that one value.
"""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hubspot_etl.sync.staging import read_part
from hubspot_etl.warehouse.base import ColumnSpec, PartFormatError
from hubspot_etl.warehouse.records import (
    ROW_BYTES_BUDGET,
    RowBuilder,
    numeric_bytes,
    row_bytes_estimate,
    text_bytes,
)
from hubspot_etl.warehouse.types import (
    BIGQUERY_BIGNUMERIC,
    COMMON_SHAPES,
    POSTGRES_NUMERIC,
    CommonShapes,
    LogicalType,
    NumericLimits,
    convert,
    convert_datetime,
    reject_value,
    stringify,
)

from tests.support.records import record

N, TS, D, B, T = (
    LogicalType.NUMERIC,
    LogicalType.TIMESTAMP,
    LogicalType.DATE,
    LogicalType.BOOLEAN,
    LogicalType.TEXT,
)

#: Values in and just outside the common shapes, per type (every one also goes through convert()).
EDGE_VALUES: dict[LogicalType, list[Any]] = {
    N: [
        "1",
        "-12.50",
        ".5",
        "+3.",
        "-.5",
        "007",
        "-0",
        "0.000",
        "1e5",
        "1E-7",
        " 3 ",
        "",
        "  ",
        "abc",
        "1\x002",
        "NaN",
        "\u0663",
        "1\n2",
        "1.2.3",
        "--1",
        "1" * 60,
        "9" * 20_000,
        0,
        2.5,
        True,
    ],
    TS: [
        "2024-05-01T10:00:00.000Z",
        "2024-02-29T23:59:59.999999Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T00:00:00.1234567Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "1572480000000",
        "2024-01-01",
        "2024-01-01T00:00:00+02:00",
        "2024-01-01T00:00:00",
        "2025-W18-2T04:16:34.410Z",
        "",
        " 2024-05-01T10:00:00.000Z",
        "2024-05-01T10:00:00.000Z\n",
        "x",
        5,
    ],
    D: [
        "2024-01-31",
        "2024-02-29",
        "2023-02-29",
        "2024-04-31",
        "0000-01-01",
        "20240131",
        "1572480000000",
        "2024-01-31T10:00:00Z",
        "",
        " ",
        "2024-1-1",
        "\u0662\u0660\u0662\u0664-01-01",
        "2024-01-31 ",
    ],
    B: ["true", "false", "TRUE", " true ", "yes", "1", "", "t", True, False],
    T: [
        "hello",
        "",
        "a\x00b",
        "\xe9t\xe9",
        "\ud800x",
        "emoji \U0001f600",
        "tab\tnl\nbs\\",
        "x" * 200,
        0,
        False,
        {"a": 1},
        [1, "x"],
    ],
}


def python_value(text: str, kind: LogicalType) -> Any:
    """What PostgreSQL reads from a common-shape string (checked against PostgreSQL below)."""
    return {
        N: Decimal,
        TS: datetime.fromisoformat,
        D: date.fromisoformat,
        B: {"true": True, "false": False}.__getitem__,
    }[kind](text)


def same(actual: Any, expected: Any, kind: LogicalType) -> bool:
    """``actual`` (maybe a string kept for PostgreSQL) is the value ``expected``, type included."""
    if isinstance(actual, str) and kind is not T:
        actual = python_value(actual, kind)
    if isinstance(expected, Decimal):
        return isinstance(actual, Decimal) and actual.as_tuple() == expected.as_tuple()
    return type(actual) is type(expected) and actual == expected


@pytest.mark.parametrize("as_text", [False, True])
@pytest.mark.parametrize("limits", [POSTGRES_NUMERIC, BIGQUERY_BIGNUMERIC])
@pytest.mark.parametrize("kind", [N, TS, D, B])
def test_common_shapes_convert_like_the_value_converters(
    kind: LogicalType, limits: NumericLimits, as_text: bool
) -> None:
    shapes = CommonShapes([(kind, 1)], limits, as_text=as_text)
    for raw in [None, *EDGE_VALUES[kind]]:
        got = shapes.convert([raw])
        if got is None:
            continue  # left to the per-value converter
        expected, reason = convert(raw, kind, limits)
        assert reason is None, raw
        assert same(got[0], expected, kind), raw
        if as_text:
            assert got[0] == (raw or None), raw  # the original string, "" -> NULL


def test_common_shapes_take_the_usual_values_and_need_all_of_them() -> None:
    layout = [(N, 2), (TS, 1), (D, 1), (B, 2)]
    raws = ["12.5", None, "2024-05-01T10:00:00.000Z", "2024-02-29", "true", ""]
    assert CommonShapes(layout, as_text=True).convert(raws) == [*raws[:5], None]
    assert CommonShapes(layout).convert(raws) == [
        Decimal("12.5"),
        None,
        datetime.fromisoformat(raws[2]),
        date(2024, 2, 29),
        True,
        None,
    ]
    for i, bad in [(0, "1e5"), (1, "1\n2"), (2, "2024-05-01"), (3, "2023-02-29"), (4, "TRUE"), (5, 0)]:
        assert CommonShapes(layout).convert([*raws[:i], bad, *raws[i + 1 :]]) is None, bad
    assert CommonShapes(layout).convert(raws[:5]) is None  # wrong count
    assert CommonShapes([(N, 1)], BIGQUERY_BIGNUMERIC).convert(["1" * 39]) is None  # past the fast path


def test_common_shapes_fail_fast_on_long_values() -> None:
    """No backtracking blow-up: a failing record costs time linear in its length."""
    shapes = CommonShapes([(N, 400), (TS, 400)])
    raws = ["1234567.25"] * 400 + ["2024-05-01T10:00:00.000Z"] * 399 + ["2024-05-01T10:00:00.000"]
    assert shapes.convert(raws) is None
    assert shapes.convert(["9" * 50_000] * 399 + ["x"] + [None] * 400) is None


@pytest.mark.parametrize("year", [0, 1, 4, 100, 400, 1582, 1900, 2000, 2023, 2024, 2100, 9996, 9999])
def test_date_and_time_shapes_accept_exactly_the_valid_ones(year: int) -> None:
    """The shapes encode the calendar (month lengths, leap years, years 1-9999, 00:00-23:59:59)."""
    date_re = re.compile(COMMON_SHAPES[D], re.ASCII)
    ts_re = re.compile(COMMON_SHAPES[TS], re.ASCII)
    for month in range(14):
        for day in range(33):
            text = f"{year:04d}-{month:02d}-{day:02d}"
            try:
                valid = date.fromisoformat(text) is not None
            except ValueError:
                valid = False
            assert (date_re.fullmatch(text) is not None) == valid, text
    if not 1 <= year <= 9999:
        return
    for hour in range(26):
        for minute in range(0, 62, 7):
            for second in (0, 1, 58, 59, 60, 61):
                for fraction in ("", ".5", ".123456"):
                    text = f"{year:04d}-02-28T{hour:02d}:{minute:02d}:{second:02d}{fraction}Z"
                    try:
                        valid = datetime.fromisoformat(text) is not None
                    except ValueError:
                        valid = False
                    assert (ts_re.fullmatch(text) is not None) == valid, text


def test_postgresql_reads_common_shape_strings_as_the_python_values(pg_uri: str) -> None:
    """The strings ``postgres_text`` keeps mean the same to PostgreSQL, whatever DateStyle/TimeZone."""
    cases = {
        N: [
            "+.5",
            "5.",
            "-0",
            "007",
            "-.5",
            "+0.000",
            "1.50",
            "0.0000001",
            "1" + "0" * 300,
            "-" + "9" * 1000 + "." + "1" * 1000,
        ],
        TS: [
            "2024-05-01T10:00:00.000Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2024-02-29T12:00:00.5Z",
            "1969-12-31T23:59:59.999Z",
        ],
        D: ["2024-01-31", "0001-01-01", "9999-12-31", "2000-02-29", "0999-01-01"],
        B: ["true", "false"],
    }
    pg_type = {N: "numeric", TS: "timestamptz", D: "date", B: "boolean"}
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        for date_style, time_zone in [
            ("ISO, MDY", "UTC"),
            ("SQL, DMY", "America/New_York"),
            ("German", "Asia/Tokyo"),
        ]:
            conn.execute(f"SET DateStyle = '{date_style}'")
            conn.execute(f"SET TimeZone = '{time_zone}'")
            for kind, texts in cases.items():
                for text in texts:
                    value = python_value(text, kind)
                    same_value, as_read, as_sent = conn.execute(
                        f"SELECT %s::text::{pg_type[kind]} = %s, %s::text::{pg_type[kind]}::text, "
                        f"%s::{pg_type[kind]}::text",
                        [text, value, text, value],
                    ).fetchone()
                    assert same_value and as_read == as_sent, (kind, text, date_style)


def spec(name: str, kind: LogicalType) -> ColumnSpec:
    return ColumnSpec(name, f"c_{name}", kind, "x")


def random_value(kind: LogicalType, rng: random.Random, dirt: float) -> Any:
    if rng.random() < 0.25:
        return None
    if rng.random() < dirt:
        return rng.choice(EDGE_VALUES[kind])
    if kind is T:
        return "".join(rng.choice("ab c\xe9\U0001f600") for _ in range(rng.randint(0, 30)))
    return {
        N: lambda: f"{rng.randint(-(10**6), 10**6)}{rng.choice(['', '.5', '.25'])}",
        TS: lambda: f"20{rng.randint(10, 30)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:34:56.789Z",
        D: lambda: f"{rng.randint(1, 9999):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}",
        B: lambda: rng.choice(["true", "false", ""]),
    }[kind]()


def random_records(rng: random.Random, names: list[str], kinds: dict[str, LogicalType]) -> list[dict]:
    records = []
    for rid in range(1, 40):
        dirt = rng.choice([0, 0, 0.01, 0.2])
        props = {n: random_value(kinds.get(n, T), rng, dirt) for n in names if rng.random() > 0.05}
        rec = record(rid, **props)
        rec["createdAt"] = rng.choice(
            ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123Z", "bad", "", None, 5]
        )
        rec["updatedAt"] = rng.choice(["2024-05-01T10:00:00.000Z", "2024-05-01T12:00:00+02:00", None])
        records.append(rec)
    return records


def expected_rejects(rec: dict, names: list[str], kinds: dict[str, LogicalType]) -> dict[str, dict]:
    """Rejects in the documented order: property columns as first seen, then createdAt/updatedAt."""
    rejects = {}
    for name in names:
        raw = rec["properties"].get(name)
        if raw is None:
            continue
        _, reason = convert(raw if isinstance(raw, str) else stringify(raw), kinds.get(name, T))
        if reason is not None:
            rejects[name] = {"value": reject_value(raw), "reason": reason}
    for key in ("createdAt", "updatedAt"):
        raw = rec.get(key)
        if raw is not None and raw != "":
            _, reason = convert_datetime(str(raw))
            if reason is not None:
                rejects[key] = {"value": reject_value(str(raw)), "reason": reason}
    return rejects


@pytest.mark.parametrize("postgres_text", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_rows_match_value_by_value_conversion(seed: int, postgres_text: bool) -> None:
    rng = random.Random(seed)
    kinds = {f"p{i}": rng.choice([N, TS, D, B, T]) for i in range(rng.choice([3, 30, 200]))}
    names = list(kinds)
    rng.shuffle(names)
    builder = RowBuilder(
        {n: spec(n, k) for n, k in kinds.items()}, names, row_bytes_budget=None, postgres_text=postgres_text
    )
    assert [c.logical_type for c in builder.columns] == sorted(
        (c.logical_type for c in builder.columns), key=[T, N, TS, D, B].index
    )
    records = random_records(rng, names, kinds)
    columns = builder.column_names
    for rec, row in zip(records, builder.rows(records), strict=True):
        values = dict(zip(columns, row, strict=True))
        for c in builder.columns:
            raw = rec["properties"].get(c.property_name)
            expected = None if raw is None else convert(raw, c.logical_type)[0]
            assert same(values[c.column_name], expected, c.logical_type), (c.property_name, raw)
        for key, column in (("createdAt", "_created_at"), ("updatedAt", "_updated_at")):
            raw = rec[key]
            expected = None if raw in (None, "") else convert_datetime(str(raw))[0]
            assert same(values[column], expected, TS), raw
        rejects = expected_rejects(rec, names, kinds)
        got = json.loads(values["_rejects"]) if values["_rejects"] else {}
        assert list(got.items()) == list(rejects.items())  # same reasons, same key order


def full_value(builder: RowBuilder, row: tuple, column: str) -> Any:
    return dict(zip(builder.column_names, row, strict=True))[column]


def exact_row_bytes(builder: RowBuilder, row: tuple) -> int:
    """The documented estimate of a built row, from the public size functions."""
    sizes = []
    for c, value in zip(builder.columns, row[1:], strict=False):
        if value is None:
            continue
        if c.logical_type is T:
            sizes.append(text_bytes(value))
        elif c.logical_type is N:
            sizes.append(numeric_bytes(Decimal(value) if isinstance(value, str) else value))
        else:
            sizes.append({TS: 15, D: 7, B: 1}[c.logical_type])
    return row_bytes_estimate(sizes)


@pytest.mark.parametrize("postgres_text", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_overflow_decisions_follow_the_exact_estimate(seed: int, postgres_text: bool) -> None:
    """Rows whose exact estimate fits are left alone (whatever the cheap bounds say); other rows
    lose values newest column first exactly until they fit."""
    rng = random.Random(seed)
    kinds = {f"p{i:03d}": rng.choice([T, T, T, N, TS, D, B]) for i in range(400)}
    specs = {n: spec(n, k) for n, k in kinds.items()}
    order = {s.column_name: i + 1 for i, s in enumerate(specs.values())}
    for _ in range(15):
        length = rng.randint(0, 30)
        props = {}
        for name, kind in kinds.items():
            if kind is T:
                props[name] = rng.choice(["x", "\xe9", "\U0001f600"]) * rng.randint(0, length)
            else:
                props[name] = random_value(kind, rng, 0)
        rec = record(1, **props)
        unbounded = RowBuilder(specs, list(kinds), column_order=order, row_bytes_budget=None)
        full = unbounded.build(rec, 0)
        exact = exact_row_bytes(unbounded, full)
        budget = exact + rng.choice([-200, -1, 0, 1, 200])
        builder = RowBuilder(
            specs, list(kinds), column_order=order, row_bytes_budget=budget, postgres_text=postgres_text
        )
        row = builder.build(rec, 0)
        moved = json.loads(row[-2]) if row[-2] else {}
        assert (builder.stats.overflowed_rows == 1) == (exact > budget)
        assert builder.stats.overflowed_values == len(moved)
        assert exact_row_bytes(builder, row) <= budget
        if moved:  # the newest columns went first, and one fewer would not have fitted
            kept = [
                order[c.column_name] for c, v in zip(builder.columns, row[1:], strict=False) if v is not None
            ]
            last = min(moved, key=lambda n: order[specs[n].column_name])
            assert order[specs[last].column_name] > max(kept, default=0)
            assert all(moved[n] == props[n] for n in moved)
            back = dict(zip(builder.column_names, row, strict=True)) | {
                specs[last].column_name: full_value(unbounded, full, specs[last].column_name)
            }
            assert exact_row_bytes(builder, tuple(back[c] for c in builder.column_names)) > budget


def test_read_part_skips_blank_lines_and_names_bad_ones(tmp_path) -> None:
    path = tmp_path / "part.ndjson"
    path.write_text('{"id": "1"}\n\n   \n{"id": "2"}\r\n')
    assert list(read_part(path)) == [{"id": "1"}, {"id": "2"}]
    path.write_text('{"id": "1"}\n\n{"id": \n')
    with pytest.raises(PartFormatError, match=r":3: not JSON"):
        list(read_part(path))
    path.write_text('{"id": "1"}\n[1]\n')
    with pytest.raises(PartFormatError, match=r":2: not a JSON object"):
        list(read_part(path))


def test_record_ids() -> None:
    builder = RowBuilder({}, [])
    for raw, expected in [
        ("42", 42),
        (" 42 ", 42),
        ("\u0664\u0662", 42),
        (7, 7),
        ("9" * 18, int("9" * 18)),
        (str(2**63 - 1), 2**63 - 1),
        ("-5", -5),
    ]:
        assert builder.build({"id": raw}, 0)[0] == expected, raw
    for raw in ["", "x", str(2**63), "1.5", None, "\xb2"]:
        with pytest.raises(PartFormatError, match="record #4"):
            builder.build({"id": raw}, 3)


def test_default_budget_is_used_by_default() -> None:
    assert RowBuilder({}, []).row_bytes_budget == ROW_BYTES_BUDGET
