"""Dialect-neutral HubSpot value conversion.

HubSpot sends every property value as a string (or null). :func:`convert` turns that string into
a Python value for one of five logical types and reports why a value could not be converted::

    convert("12.5", LogicalType.NUMERIC)      -> (Decimal("12.5"), None)
    convert("abc", LogicalType.NUMERIC)       -> (None, "invalid_number")
    convert("", LogicalType.DATE)             -> (None, None)            # empty = NULL, not a reject
    convert("a\\x00b", LogicalType.TEXT)      -> ("ab", "nul_byte")     # value kept, note recorded

Decisions (documented for both warehouses):

* ``""`` is NULL for every non-text type and is kept as ``""`` for text.
* numbers: plain decimal notation with optional exponent (``-1.5``, ``.5``, ``1e400``). ``NaN``,
  ``Infinity``, ``1;2``, ``1,5``, ``1_000``, ``abc`` are rejects. ``1e400`` is accepted for
  PostgreSQL (numeric holds 131072 digits before and 16383 after the point); values beyond the
  dialect's :class:`NumericLimits` are ``out_of_range`` rejects. NaN/Infinity are rejected even
  though PostgreSQL could store them, because BigQuery cannot and both warehouses must agree.
* datetimes: ISO-8601 with or without fraction/``Z``/offset (no offset = UTC), a bare date
  (midnight UTC), or a millisecond epoch (``"1572480000000"``, may be negative). Always returned
  timezone-aware in UTC.
* dates: ``YYYY-MM-DD``, a millisecond epoch, or an ISO datetime; the UTC calendar date is taken.
  ``0000-00-00`` and other impossible dates are ``invalid_date`` rejects.
* booleans: ``true``/``false`` in any case (surrounding blanks ignored); anything else
  (``yes``, ``1``) is an ``invalid_boolean`` reject.
* text: NUL characters cannot be stored by PostgreSQL (neither in text nor jsonb): they are
  removed from the stored value and a ``nul_byte`` note with the escaped original is recorded.
  Lone surrogates (invalid UTF-16 from JSON) become U+FFFD with an ``invalid_unicode`` note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any


class LogicalType(StrEnum):
    """Warehouse-independent column types."""

    NUMERIC = "numeric"
    TIMESTAMP = "timestamp"
    DATE = "date"
    BOOLEAN = "boolean"
    TEXT = "text"


HUBSPOT_TYPE_MAP: dict[str, LogicalType] = {
    "number": LogicalType.NUMERIC,
    "datetime": LogicalType.TIMESTAMP,
    "date": LogicalType.DATE,
    "bool": LogicalType.BOOLEAN,
    "enumeration": LogicalType.TEXT,
    "string": LogicalType.TEXT,
    "phone_number": LogicalType.TEXT,
}

#: Reject reasons that still store a (cleaned) value in the column.
VALUE_KEPT_REASONS = frozenset({"nul_byte", "invalid_unicode"})


def logical_type_for(hubspot_type: str | None) -> LogicalType:
    """HubSpot property ``type`` -> logical type; unknown types (``json``, ...) are text."""
    return HUBSPOT_TYPE_MAP.get((hubspot_type or "").strip().lower(), LogicalType.TEXT)


def widened_type(old: LogicalType, new: LogicalType) -> LogicalType:
    """Type a column must have to hold both ``old`` and ``new`` values (text if they differ)."""
    return old if old == new else LogicalType.TEXT


@dataclass(frozen=True)
class NumericLimits:
    """Largest decimal a warehouse numeric type accepts (digits before / after the point)."""

    max_integer_digits: int
    max_scale: int


POSTGRES_NUMERIC = NumericLimits(max_integer_digits=131072, max_scale=16383)
#: BigQuery BIGNUMERIC: 38 (well, 38.x) integer digits and 38 fraction digits.
BIGQUERY_BIGNUMERIC = NumericLimits(max_integer_digits=38, max_scale=38)

ConvertResult = tuple[Any, str | None]

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EPOCH_RE = re.compile(r"-?\d{1,16}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Converter = Callable[[str], ConvertResult]


def escape_nul(value: str) -> str:
    """Replace NUL characters by the six characters ``\\u0000`` (storable in JSON/jsonb)."""
    return value.replace("\x00", "\\u0000")


def reject_value(raw: object) -> str:
    """The original value as it is stored in ``_rejects`` (NULs escaped, surrogates replaced)."""
    text = raw if isinstance(raw, str) else stringify(raw)
    return _replace_surrogates(escape_nul(text)) if not text.isascii() else escape_nul(text)


def convert_number(value: str, limits: NumericLimits = POSTGRES_NUMERIC) -> ConvertResult:
    """Numeric string -> Decimal (see module docstring for the accepted grammar)."""
    match = _NUMBER_RE.fullmatch(value)
    if match is None:
        value = value.strip()
        match = _NUMBER_RE.fullmatch(value)
        if match is None:
            return None, "invalid_number"
    number = Decimal(value)
    if match.group(1) is None and len(value) <= min(limits.max_integer_digits, limits.max_scale):
        return number, None  # fast path: too short to be out of range
    if number.is_zero():
        return Decimal(0), None
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) + exponent > limits.max_integer_digits or -exponent > limits.max_scale:
        return None, "out_of_range"
    return number, None


def _from_epoch_ms(text: str) -> datetime | None:
    try:
        return _EPOCH + timedelta(milliseconds=int(text))
    except (OverflowError, ValueError):
        return None


def _parse_iso(text: str) -> datetime | None:
    """ISO-8601 (``Z`` or offset or naive=UTC) -> aware UTC datetime, None if not ISO."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    tz = parsed.tzinfo
    if tz is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if tz is UTC else parsed.astimezone(UTC)


def convert_datetime(value: str) -> ConvertResult:
    """ISO-8601 or ms-epoch string -> aware UTC datetime."""
    text = value.strip() if value[:1].isspace() or value[-1:].isspace() else value
    if len(text) >= 10 and text[4:5] == "-":
        try:
            parsed = _parse_iso(text)
        except OverflowError:
            return None, "out_of_range"
        return (parsed, None) if parsed is not None else (None, "invalid_datetime")
    if _EPOCH_RE.fullmatch(text):
        parsed = _from_epoch_ms(text)
        return (parsed, None) if parsed is not None else (None, "out_of_range")
    return None, "invalid_datetime"


def convert_date(value: str) -> ConvertResult:
    """``YYYY-MM-DD`` / ms-epoch / ISO datetime -> date (UTC calendar day)."""
    text = value.strip()
    if _DATE_RE.fullmatch(text):
        try:
            return date.fromisoformat(text), None
        except ValueError:
            return None, "invalid_date"
    parsed, reason = convert_datetime(text)
    if parsed is None:
        return None, "invalid_date" if reason == "invalid_datetime" else reason
    return parsed.date(), None


def convert_boolean(value: str) -> ConvertResult:
    """``true``/``false`` (any case) -> bool."""
    lowered = value.strip().lower()
    if lowered == "true":
        return True, None
    if lowered == "false":
        return False, None
    return None, "invalid_boolean"


def convert_text(value: str) -> ConvertResult:
    """Text is kept; NUL characters are removed and lone surrogates replaced (with a note)."""
    if "\x00" not in value and value.isascii():
        return value, None
    reason = None
    if "\x00" in value:
        value = value.replace("\x00", "")
        reason = "nul_byte"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _replace_surrogates(value)
        reason = reason or "invalid_unicode"
    return value, reason


def _replace_surrogates(value: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)


def _non_text(kind: LogicalType, parse: Converter) -> Converter:
    """Wrap a parser with the shared rules: blank -> NULL, NUL byte -> reject."""
    nul_reason = _NUL_REASON[kind]

    def convert_value(value: str) -> ConvertResult:
        if not value or value.isspace():
            return None, None
        if "\x00" in value:
            return None, nul_reason
        return parse(value)

    return convert_value


_NUL_REASON = {
    LogicalType.NUMERIC: "invalid_number",
    LogicalType.TIMESTAMP: "invalid_datetime",
    LogicalType.DATE: "invalid_date",
    LogicalType.BOOLEAN: "invalid_boolean",
}


def _fast_number(limits: NumericLimits) -> Converter:
    """Number converter with a fast path for short plain decimals (the common case)."""
    slow = _non_text(LogicalType.NUMERIC, lambda v: convert_number(v, limits))
    fast_len = min(limits.max_integer_digits, limits.max_scale)
    fullmatch = _NUMBER_RE.fullmatch

    def number(value: str) -> ConvertResult:
        match = fullmatch(value)
        if match is not None and match.group(1) is None and len(value) <= fast_len:
            return Decimal(value), None
        return slow(value)

    return number


def _fast_timestamp() -> Converter:
    """Timestamp converter with a fast path for ISO-8601 strings (the common case)."""
    slow = _non_text(LogicalType.TIMESTAMP, convert_datetime)
    fromisoformat = datetime.fromisoformat

    def timestamp(value: str) -> ConvertResult:
        if len(value) >= 10 and value[4] == "-":
            try:
                parsed = fromisoformat(value)
            except ValueError:
                return slow(value)
            tz = parsed.tzinfo
            if tz is UTC:
                return parsed, None
            return (parsed.replace(tzinfo=UTC) if tz is None else parsed.astimezone(UTC)), None
        return slow(value)

    return timestamp


@lru_cache(maxsize=64)
def converter_for(logical_type: LogicalType | str, limits: NumericLimits = POSTGRES_NUMERIC) -> Converter:
    """The converter :func:`convert` uses for one logical type (for tight loops)."""
    kind = LogicalType(logical_type)
    if kind is LogicalType.TEXT:
        return convert_text
    if kind is LogicalType.NUMERIC:
        return _fast_number(limits)
    if kind is LogicalType.TIMESTAMP:
        return _fast_timestamp()
    parsers: dict[LogicalType, Converter] = {
        LogicalType.DATE: convert_date,
        LogicalType.BOOLEAN: convert_boolean,
    }
    return _non_text(kind, parsers[kind])


# Shapes of valid calendar dates and times of day (proleptic Gregorian, years 0001-9999): what
# ``date.fromisoformat``/``datetime.fromisoformat`` accept in these forms, and PostgreSQL too.
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE_SHAPE = rf"(?!0000)(?:[0-9]{{4}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME_SHAPE = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"

#: The usual shape of a valid value of each non-text type, as HubSpot writes it (ASCII only).
COMMON_SHAPES: dict[LogicalType, str] = {
    LogicalType.NUMERIC: r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)",  # plain decimal, no exponent
    LogicalType.TIMESTAMP: rf"{_DATE_SHAPE}T{_TIME_SHAPE}Z",  # UTC, at most microseconds
    LogicalType.DATE: _DATE_SHAPE,
    LogicalType.BOOLEAN: r"true|false",
}
_UTC_TIMESTAMP_RE = re.compile(COMMON_SHAPES[LogicalType.TIMESTAMP], re.ASCII)
_BOOLEAN_WORDS: dict[str, bool | None] = {"true": True, "false": False}
#: Python values of common-shape strings.
_COMMON_VALUE: dict[LogicalType, Callable[[str], Any]] = {
    LogicalType.NUMERIC: Decimal,
    LogicalType.TIMESTAMP: datetime.fromisoformat,  # "...Z" -> tzinfo UTC
    LogicalType.DATE: date.fromisoformat,
    LogicalType.BOOLEAN: _BOOLEAN_WORDS.__getitem__,
}


class CommonShapes:
    """Converts all typed values of one record at once when each has its type's common shape.

    ``layout`` lists the value groups in order, as ``(logical type, count)``. :meth:`convert`
    checks every value with one regular expression (:data:`COMMON_SHAPES`, which only match valid
    dates and times) and returns ``None`` as soon as one value has another shape, is not a string
    or is a number too long for the fast path; the caller then converts the values one by one
    with :func:`converter_for`, so every reject decision stays the per-value converter's. Values
    it accepts convert exactly as :func:`converter_for` converts them; ``""`` and ``None`` are NULL.

    ``as_text=True`` (PostgreSQL COPY) keeps the accepted values as the original strings instead
    of ``Decimal``/``datetime``/``date``/``bool``: PostgreSQL reads these shapes as the same values
    (plain decimals exactly, ``...Z`` timestamps as the same UTC instant, ``YYYY-MM-DD`` under any
    ``DateStyle``, ``true``/``false``), so no Python object is built only to be formatted back.
    """

    def __init__(
        self,
        layout: Sequence[tuple[LogicalType, int]],
        limits: NumericLimits = POSTGRES_NUMERIC,
        *,
        as_text: bool = False,
    ) -> None:
        self.as_text = as_text
        self._groups: list[tuple[Callable[[str], Any], int, int]] = []
        self._number_groups: list[tuple[int, int]] = []
        start = 0
        for kind, count in layout:
            self._groups.append((_COMMON_VALUE[kind], start, start + count))
            if kind is LogicalType.NUMERIC:
                self._number_groups.append((start, start + count))
            start += count
        # Each value followed by a newline (a value containing one cannot match); atomic groups
        # (no backtracking into a matched value) keep a failing match linear in the length.
        self._pattern = re.compile(
            "".join(f"(?>(?:{COMMON_SHAPES[kind]})?\n){{{count}}}" for kind, count in layout), re.ASCII
        )
        self._max_number_len = min(limits.max_integer_digits, limits.max_scale)

    def convert(self, raws: list[Any]) -> list[Any] | None:
        """The converted values, or ``None`` if one of them needs the per-value converter."""
        try:
            joined = "\n".join(["" if v is None else v for v in raws]) + "\n"
        except TypeError:  # not a string
            return None
        if self._pattern.fullmatch(joined) is None:
            return None
        if len(joined) > self._max_number_len and not self._numbers_short(raws):
            return None
        if self.as_text:
            return [v or None for v in raws]
        converted: list[Any] = []
        for parse, start, stop in self._groups:
            converted += [parse(v) if v else None for v in raws[start:stop]]
        return converted

    def _numbers_short(self, raws: list[Any]) -> bool:
        """No number is longer than the fast path of :func:`convert_number` allows."""
        limit = self._max_number_len
        return all(
            len(v) <= limit for start, stop in self._number_groups for v in raws[start:stop] if v is not None
        )


def utc_timestamp_text(value: Any) -> str | None:
    """``value`` itself if it is a timestamp string of the common shape (``...Z``) that
    :func:`convert_datetime` accepts, else ``None`` (PostgreSQL reads it as the same instant)."""
    if value.__class__ is not str or _UTC_TIMESTAMP_RE.fullmatch(value) is None:
        return None
    return value


def convert(
    value: str | None, logical_type: LogicalType | str, limits: NumericLimits = POSTGRES_NUMERIC
) -> ConvertResult:
    """Convert one HubSpot wire value; returns ``(value_for_column, reject_reason_or_None)``.

    A reject reason with a ``None`` value means "column gets NULL, keep the original in
    ``_rejects``"; reasons in :data:`VALUE_KEPT_REASONS` come with a cleaned value.
    """
    if value is None:
        return None, None
    if not isinstance(value, str):
        value = stringify(value)
    return converter_for(logical_type, limits)(value)


def stringify(value: object) -> str:
    """Non-string JSON values (not expected on v3) as text: booleans ``true``/``false``, numbers
    as written, objects/arrays as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
