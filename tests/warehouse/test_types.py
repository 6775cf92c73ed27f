"""Value conversion: good values and rejects per logical type."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hubspot_etl.warehouse.types import (
    BIGQUERY_BIGNUMERIC,
    LogicalType,
    convert,
    logical_type_for,
    reject_value,
    widened_type,
)

N, TS, D, B, T = (
    LogicalType.NUMERIC,
    LogicalType.TIMESTAMP,
    LogicalType.DATE,
    LogicalType.BOOLEAN,
    LogicalType.TEXT,
)


def test_logical_types() -> None:
    assert logical_type_for("number") is N
    assert logical_type_for("datetime") is TS
    assert logical_type_for("date") is D
    assert logical_type_for("bool") is B
    for t in ("enumeration", "string", "phone_number", "json", "object_coordinates", None):
        assert logical_type_for(t) is T
    assert widened_type(N, N) is N
    assert widened_type(N, T) is T
    assert widened_type(D, TS) is T


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("17", Decimal(17)),
        ("-12.50", Decimal("-12.50")),
        (".5", Decimal("0.5")),
        ("1e400", Decimal("1e400")),
        ("0", Decimal(0)),
        (" 3 ", Decimal(3)),
    ],
)
def test_number_ok(value: str, expected: Decimal) -> None:
    assert convert(value, N) == (expected, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1;2", "invalid_number"),
        ("abc", "invalid_number"),
        ("1,5", "invalid_number"),
        ("1_000", "invalid_number"),
        ("NaN", "invalid_number"),
        ("Infinity", "invalid_number"),
        ("-inf", "invalid_number"),
        ("1e200000", "out_of_range"),
        ("1e-20000", "out_of_range"),
        ("1\x002", "invalid_number"),
    ],
)
def test_number_rejects(value: str, reason: str) -> None:
    assert convert(value, N) == (None, reason)


def test_number_limits_are_dialect_parameters() -> None:
    assert convert("1e400", N, BIGQUERY_BIGNUMERIC) == (None, "out_of_range")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-02-22T08:16:52.981Z", datetime(2022, 2, 22, 8, 16, 52, 981000, tzinfo=UTC)),
        ("2022-02-22T08:16:52Z", datetime(2022, 2, 22, 8, 16, 52, tzinfo=UTC)),
        ("2022-02-22T10:16:52+02:00", datetime(2022, 2, 22, 8, 16, 52, tzinfo=UTC)),
        ("2022-02-22T08:16:52", datetime(2022, 2, 22, 8, 16, 52, tzinfo=UTC)),
        ("2022-02-22", datetime(2022, 2, 22, tzinfo=UTC)),
        ("1572480000000", datetime(2019, 10, 31, tzinfo=UTC)),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_datetime_ok(value: str, expected: datetime) -> None:
    assert convert(value, TS) == (expected, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "invalid_datetime"),
        ("0000-00-00", "invalid_datetime"),
        ("99999999999999999", "invalid_datetime"),
    ],
)
def test_datetime_rejects(value: str, reason: str) -> None:
    assert convert(value, TS)[0] is None
    assert convert(value, TS)[1] in (reason, "out_of_range")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("1572480000000", date(2019, 10, 31)),
        ("2024-03-01T00:00:00Z", date(2024, 3, 1)),
    ],
)
def test_date_ok(value: str, expected: date) -> None:
    assert convert(value, D) == (expected, None)


@pytest.mark.parametrize("value", ["0000-00-00", "2023-02-29", "2024-13-01", "soon"])
def test_date_rejects(value: str) -> None:
    assert convert(value, D) == (None, "invalid_date")


def test_booleans() -> None:
    assert convert("true", B) == (True, None)
    assert convert("FALSE", B) == (False, None)
    assert convert(" True ", B) == (True, None)
    for bad in ("yes", "1", "no", "t"):
        assert convert(bad, B) == (None, "invalid_boolean")


def test_empty_and_null() -> None:
    for kind in (N, TS, D, B):
        assert convert("", kind) == (None, None)
        assert convert("  ", kind) == (None, None)
        assert convert(None, kind) == (None, None)
    assert convert("", T) == ("", None)
    assert convert(None, T) == (None, None)


def test_text_nul_emoji_big_and_surrogates() -> None:
    assert convert("a\x00b", T) == ("ab", "nul_byte")
    assert reject_value("a\x00b") == "a\\u0000b"
    assert convert("🎉 emoji ok", T) == ("🎉 emoji ok", None)
    big = "x" * 1_000_000
    assert convert(big, T) == (big, None)
    assert convert("bad \ud800 surrogate", T) == ("bad \ufffd surrogate", "invalid_unicode")
