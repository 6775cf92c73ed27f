"""Dialect-neutral conversion of staged HubSpot records into warehouse rows.

A staging part is NDJSON, one record per line exactly as the CRM API returns it::

    {"id": "123", "properties": {"email": "a@b.c", ...}, "createdAt": "...Z",
     "updatedAt": "...Z", "archived": false, "archivedAt": null}

:class:`RowBuilder` turns each record into a flat tuple in a fixed column order:
``id, <property columns, grouped by type...>, _created_at, _updated_at, _is_deleted, _deleted_at,
_deletion_kind, merged_into_id, _rejects, _extra_properties, _seq``. JSON columns are already
serialised to text (both warehouses load JSON from text). ``_seq`` is the line number, used to let
the last duplicate of an id win inside one part.

Where a property's value lives: a property's value is in its column; for spilled properties, and
for the values of a row too wide for a PostgreSQL page, it is in ``_extra_properties`` under the
property name (raw string) and the column is NULL.

Rows too wide for a page ("per-row overflow"): PostgreSQL stores a row in one 8 KB heap page, so a
tuple may not exceed 8,160 bytes (``MaxHeapTupleSize``) whatever the column count. TOAST moves or
compresses long values, but every value stays in the tuple as a fixed-width datum, a short value
(length + 1 byte) or an 18-byte TOAST pointer, so a record with ~1,500 populated properties fails
with "row is too big". :meth:`RowBuilder.build` therefore estimates each row's in-page size with
:func:`row_bytes_estimate` (an upper bound, see :data:`ROW_BYTES_BUDGET`); when it exceeds the
budget, values are moved into ``_extra_properties`` starting with the property column that has the
highest table ordinal (the newest column), until the estimate fits. A moved value is stored exactly
like a spilled one (the HubSpot string, NULs removed) and its column is NULL in that row; it is not
a reject (a value that failed to parse still goes to ``_rejects`` with a NULL column and is never
moved). The rule depends only on the record and the table layout, so it is deterministic; moved
rows and values are counted in :class:`RowStats` (``overflowed_rows``/``overflowed_values``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hubspot_etl.warehouse.base import ColumnSpec, PartFormatError
from hubspot_etl.warehouse.types import (
    POSTGRES_NUMERIC,
    CommonShapes,
    Converter,
    LogicalType,
    NumericLimits,
    convert_datetime,
    convert_text,
    converter_for,
    reject_value,
    stringify,
    utc_timestamp_text,
)

#: Columns after the property columns, in row order (``_seq`` is staging-only).
TRAILING_COLUMNS: tuple[str, ...] = (
    "_created_at",
    "_updated_at",
    "_is_deleted",
    "_deleted_at",
    "_deletion_kind",
    "merged_into_id",
    "_rejects",
    "_extra_properties",
    "_seq",
)


#: Upper limit of the estimated in-page size of one row (see :func:`row_bytes_estimate`).
#: PostgreSQL rejects a heap tuple larger than ``MaxHeapTupleSize`` = 8,160 bytes (an 8 KB page
#: minus page header and line pointer). The estimate is an upper bound of the size after TOAST
#: (worst-case alignment, the largest null bitmap, every system column set), so the remaining
#: 560 bytes are a safety margin for what it cannot see, not slack it relies on. It is not lower
#: because a row PostgreSQL stores fine must not be split needlessly: 1,500 one-to-four-digit
#: numeric/text values (the column-cap test) estimate to ~7,300 bytes and still load unchanged.
ROW_BYTES_BUDGET = 7_600

#: 23-byte tuple header + null bitmap for the maximum of 1,600 columns (200 bytes), MAXALIGNed.
_TUPLE_HEADER_BYTES = 224
#: A varlena whose stored size is at most this is never touched by TOAST (it only considers values
#: larger than MAXALIGN(TOAST_POINTER_SIZE) = 24 bytes) and stays inline at its stored size.
_VARLENA_INLINE_MAX = 24
#: A larger varlena ends up, when the row needs it, as an 18-byte TOAST pointer or compressed
#: inline to at most 24 bytes with a 4-byte header and up to 3 bytes of int alignment: <= 27.
_VARLENA_TOASTED_BYTES = 27
#: Fixed-width types: size + worst-case alignment padding (timestamptz/bigint are 8-byte aligned,
#: date/integer 4-byte aligned, boolean unaligned).
_FIXED_BYTES: dict[LogicalType, int] = {
    LogicalType.TIMESTAMP: 8 + 7,
    LogicalType.DATE: 4 + 3,
    LogicalType.BOOLEAN: 1,
}
#: Every system column set: id (first column, aligned), _created_at, _updated_at, _deleted_at,
#: _synced_at, merged_into_id (8 + 7 each), _is_deleted, _deletion_kind (at most "archived" + 1),
#: the staging _seq (4 + 3) and _rejects/_extra_properties (jsonb, at most a toasted varlena each).
_SYSTEM_BYTES = 8 + 5 * 15 + 1 + 9 + 7 + 2 * _VARLENA_TOASTED_BYTES
#: The largest estimate of any single property value.
_MAX_VALUE_BYTES = max(_VARLENA_TOASTED_BYTES, *_FIXED_BYTES.values())


def varlena_bytes(data_bytes: int) -> int:
    """Upper bound of the in-page size of a varlena value with ``data_bytes`` of payload."""
    stored = data_bytes + 1 if data_bytes <= 126 else data_bytes + 4  # 1-byte short header
    return stored if stored <= _VARLENA_INLINE_MAX else _VARLENA_TOASTED_BYTES


def text_bytes(value: str) -> int:
    """In-page size bound of a text value (UTF-8)."""
    return varlena_bytes(len(value) if value.isascii() else len(value.encode("utf-8")))


def numeric_bytes(value: Decimal) -> int:
    """In-page size bound of a PostgreSQL numeric: base-10000 digit groups (leading and trailing
    zero groups stripped) plus a 2-byte header, 4 bytes when weight or display scale is large."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or len(digits) > 4 * _VARLENA_TOASTED_BYTES:
        return _VARLENA_TOASTED_BYTES
    first, last = 0, len(digits) - 1
    while first <= last and not digits[first]:
        first += 1
    groups = weight = 0
    if first <= last:  # not zero
        while not digits[last]:
            last -= 1
        top = exponent + len(digits) - 1  # power of ten of digits[0]
        weight = (top - first) // 4
        groups = weight - (top - last) // 4 + 1
    header = 2 if -64 <= weight <= 63 and -exponent <= 63 else 4
    return varlena_bytes(header + 2 * groups)


def _max_value_bytes(logical_type: LogicalType) -> int:
    """The largest estimate a value of this type can get."""
    return _FIXED_BYTES.get(logical_type, _VARLENA_TOASTED_BYTES)


def _numeric_or_text_bytes(value: Decimal | str) -> int:
    """:func:`numeric_bytes` of a number kept as its (validated) string for PostgreSQL."""
    return numeric_bytes(value if isinstance(value, Decimal) else Decimal(value))


def _value_sizer(logical_type: LogicalType) -> Callable[[Any], int]:
    if logical_type is LogicalType.TEXT:
        return text_bytes
    if logical_type is LogicalType.NUMERIC:
        return _numeric_or_text_bytes
    size = _FIXED_BYTES[logical_type]
    return lambda _value: size


def row_bytes_estimate(value_sizes: Sequence[int]) -> int:
    """Upper bound of a row's in-page size given the sizes of its non-NULL property values."""
    return _TUPLE_HEADER_BYTES + _SYSTEM_BYTES + sum(value_sizes)


def property_names_in(records: Sequence[Mapping]) -> list[str]:
    """Union of property names over the records, in first-seen order."""
    seen: dict[str, None] = {}
    for record in records:
        props = record.get("properties") or {}
        # Records of a part mostly carry the same names: one C-level subset check per record.
        if not (isinstance(props, dict) and seen.keys() >= props.keys()):
            seen.update(dict.fromkeys(props))
    return list(seen)


def _record_id(record: Mapping, seq: int) -> int:
    """:func:`parse_record_id` with a shortcut for the usual short decimal string (and the error
    location only formatted when needed)."""
    raw = record.get("id")
    if raw.__class__ is str and len(raw) < 19 and raw.isdecimal():  # < 10**18: fits bigint
        return int(raw)
    return parse_record_id(record, f"record #{seq + 1}")


def parse_record_id(record: Mapping, where: str) -> int:
    """The record id as int (HubSpot sends a numeric string)."""
    raw = record.get("id")
    try:
        value = int(str(raw).strip())
    except ValueError as exc:
        raise PartFormatError(f"{where}: invalid record id {raw!r}") from exc
    if not -(2**63) <= value < 2**63:
        raise PartFormatError(f"{where}: record id {raw!r} does not fit bigint")
    return value


@dataclass
class RowStats:
    """Counters collected while building rows."""

    rejects: Counter = field(default_factory=Counter)
    unmapped: int = 0
    overflowed_rows: int = 0  # rows with values moved to _extra_properties (too wide for a page)
    overflowed_values: int = 0


#: Property columns are grouped by type in the row, text first (see :class:`RowBuilder`).
_TYPE_ORDER: dict[LogicalType, int] = {
    LogicalType.TEXT: 0,
    LogicalType.NUMERIC: 1,
    LogicalType.TIMESTAMP: 2,
    LogicalType.DATE: 3,
    LogicalType.BOOLEAN: 4,
}


@dataclass(frozen=True)
class _ColumnGroup:
    """The property columns of one logical type: ``row[start:stop]``."""

    logical_type: LogicalType
    start: int
    stop: int
    names: list[str]  # property names, in row order
    convert: Converter  # one value
    max_bytes: int  # the largest size estimate of one value

    def non_null(self, row: list[Any]) -> int:
        """How many of the group's values in ``row`` are not NULL."""
        return self.stop - self.start - row[self.start : self.stop].count(None)


class RowBuilder:
    """Builds staging rows for one part given the recorded column specs.

    ``column_order`` maps column names to their table ordinal (PostgreSQL ``attnum``); values of a
    row too wide for a page are moved out highest ordinal first. Without it (or for a column it
    does not know) the column name decides, last name first. ``row_bytes_budget`` is the per-row
    limit (:data:`ROW_BYTES_BUDGET`; ``None`` disables per-row overflow).

    Property columns are grouped by logical type (text, numeric, timestamp, date, boolean; first
    seen first within a type; :attr:`columns` and :attr:`column_names` give the order), so that a
    record's text values can be taken as they are after one check of their concatenation, and its
    typed values are converted at once by :class:`~.types.CommonShapes` when all have the usual
    shape; only other records go value by value through the per-type converters.
    ``postgres_text=True`` keeps typed values of the usual shape (and ``createdAt``/``updatedAt``/
    ``archivedAt``) as their strings, for PostgreSQL's COPY, which reads them as the same values.
    """

    def __init__(
        self,
        specs: Mapping[str, ColumnSpec],
        property_names: Sequence[str],
        limits: NumericLimits = POSTGRES_NUMERIC,
        *,
        column_order: Mapping[str, int] | None = None,
        row_bytes_budget: int | None = ROW_BYTES_BUDGET,
        postgres_text: bool = False,
    ) -> None:
        self.limits = limits
        mapped = [n for n in property_names if n in specs and not specs[n].spilled]
        #: First-seen position of each property column: rejects are recorded in this order.
        self._position = {name: i for i, name in enumerate(mapped)}
        names = sorted(mapped, key=lambda n: _TYPE_ORDER[specs[n].logical_type])  # stable
        self.columns: list[ColumnSpec] = [specs[n] for n in names]
        self.spilled: list[str] = [n for n in property_names if n in specs and specs[n].spilled]
        self.unmapped: list[str] = [n for n in property_names if n not in specs]
        self.stats = RowStats()
        self.has_duplicates = False
        self._names = names
        self._postgres_text = postgres_text
        self._groups = self._column_groups(limits)
        self._text = next((g for g in self._groups if g.logical_type is LogicalType.TEXT), None)
        self._typed = [g for g in self._groups if g is not self._text]
        self._first_typed = self._typed[0].start if self._typed else len(names) + 1
        self._common = CommonShapes(
            [(g.logical_type, g.stop - g.start) for g in self._typed], limits, as_text=postgres_text
        )
        self.row_bytes_budget = row_bytes_budget
        #: Too few columns for any row to exceed the budget.
        self._always_fits = (
            row_bytes_budget is not None
            and row_bytes_estimate(()) + len(self.columns) * _MAX_VALUE_BYTES <= row_bytes_budget
        )
        self._sizers = [_value_sizer(c.logical_type) for c in self.columns]
        order = column_order or {}
        unknown = len(order) + 1  # columns without an ordinal sort after known ones, by name
        self._overflow_order = sorted(
            range(len(self.columns)),
            key=lambda i: (order.get(self.columns[i].column_name, unknown), self.columns[i].column_name),
            reverse=True,
        )

    def _column_groups(self, limits: NumericLimits) -> list[_ColumnGroup]:
        groups: list[_ColumnGroup] = []
        start = 1  # row[0] is the id
        for kind in _TYPE_ORDER:
            names = [n for n, c in zip(self._names, self.columns, strict=True) if c.logical_type is kind]
            if not names:
                continue
            convert = converter_for(kind, limits)
            groups.append(
                _ColumnGroup(kind, start, start + len(names), names, convert, _max_value_bytes(kind))
            )
            start += len(names)
        return groups

    @property
    def column_names(self) -> list[str]:
        """Staging column order: id, property columns, trailing system columns."""
        return ["id", *(c.column_name for c in self.columns), *TRAILING_COLUMNS]

    @property
    def property_names(self) -> list[str]:
        """Every property name this part carries (mapped, spilled and unmapped)."""
        return [*self._position, *self.spilled, *self.unmapped]

    def rows(self, records: Sequence[Mapping]) -> Iterator[tuple[Any, ...]]:
        """Yield one tuple per record (see module docstring for the order).

        Afterwards :attr:`has_duplicates` tells whether an id occurred more than once.
        """
        seen: set[int] = set()
        for seq, record in enumerate(records):
            row = self.build(record, seq)
            seen.add(row[0])
            yield row
        self.has_duplicates = len(seen) < len(records)

    def build(self, record: Mapping, seq: int) -> tuple[Any, ...]:
        """One record -> one staging tuple."""
        props = record.get("properties") or {}
        values: list[Any] = [_record_id(record, seq), *map(props.get, self._names)]
        failed: dict[str, tuple[Any, str]] = {}  # property -> (raw value, reject reason)
        text = self._check_text(values, failed)
        self._convert_typed(values, failed)
        rejects: dict[str, dict[str, str]] = {}
        if failed:
            for name in sorted(failed, key=self._position.__getitem__):  # in first-seen column order
                self._reject(rejects, name, *failed[name])
        extras = self._extras(props, rejects)
        created = self._timestamp(record, "createdAt", rejects)
        updated = self._timestamp(record, "updatedAt", rejects)
        archived = bool(record.get("archived"))
        archived_at = self._timestamp(record, "archivedAt", rejects) if archived else None
        extras = self._fit_row(values, props, extras, text)
        values += [
            created,
            updated,
            archived,
            archived_at,
            "archived" if archived else None,
            None,
            json.dumps(rejects, ensure_ascii=False) if rejects else None,
            json.dumps(extras, ensure_ascii=False) if extras is not None else None,
            seq,
        ]
        return tuple(values)

    def _check_text(self, values: list[Any], failed: dict[str, tuple[Any, str]]) -> tuple[int, int] | None:
        """Leave the text values as they are if all are strings without NUL characters or lone
        surrogates (the common case, checked on their concatenation) and return the UTF-8 size
        and number of the non-NULL ones; otherwise convert them one by one
        (:func:`~.types.convert_text`) and return None."""
        group = self._text
        if group is None:
            return 0, 0
        texts = values[group.start : group.stop]
        present = [v for v in texts if v is not None]
        try:
            joined = "".join(present)
        except TypeError:  # not a string: converted one by one
            joined = "\x00"
        if "\x00" not in joined:
            if joined.isascii():
                return len(joined), len(present)
            try:
                return len(joined.encode("utf-8")), len(present)
            except UnicodeEncodeError:
                pass
        values[group.start : group.stop] = self._convert_each(group, texts, failed)
        return None

    def _convert_typed(self, values: list[Any], failed: dict[str, tuple[Any, str]]) -> None:
        """Convert the typed values in place: all at once in the common case, else one by one."""
        if not self._typed:
            return
        start = self._first_typed
        converted = self._common.convert(values[start:])
        if converted is not None:
            values[start:] = converted
            return
        for group in self._typed:
            values[group.start : group.stop] = self._convert_each(
                group, values[group.start : group.stop], failed
            )

    @staticmethod
    def _convert_each(group: _ColumnGroup, raws: list[Any], failed: dict[str, tuple[Any, str]]) -> list[Any]:
        """The values of one group converted one by one; rejects are noted in ``failed``."""
        convert = group.convert
        converted: list[Any] = []
        for name, raw in zip(group.names, raws, strict=True):
            if raw is None:
                converted.append(None)
                continue
            value, reason = convert(raw if raw.__class__ is str else stringify(raw))
            if reason is not None:
                failed[name] = (raw, reason)
            converted.append(value)
        return converted

    def _extras(self, props: Mapping, rejects: dict) -> dict[str, Any] | None:
        """Spilled + unmapped values as JSON (raw strings, NULs stripped with a note)."""
        names = self.spilled + self.unmapped
        if not names:
            return None
        extras: dict[str, Any] = {}
        for name in names:
            raw = props.get(name)
            if raw is None:
                extras[name] = None
                continue
            value, reason = convert_text(raw if isinstance(raw, str) else stringify(raw))
            if reason is not None:
                self._reject(rejects, name, raw, reason)
            extras[name] = value
            if name in self.unmapped:
                self.stats.unmapped += 1
        return extras

    def _size_bound(self, values: list[Any], text: tuple[int, int] | None, *, count_typed: bool) -> int:
        """An upper bound of :func:`row_bytes_estimate` without per-value sizing: typed values at
        the largest size of their type (all of them, or only the non-NULL ones if ``count_typed``),
        text values at most ``min(bytes + 4, 27)`` each (at least :func:`text_bytes`) when
        ``text`` gives their total UTF-8 size and count, else 27 each."""
        bound = row_bytes_estimate(())
        for group in self._groups:
            if group is not self._text:
                count = group.non_null(values) if count_typed else group.stop - group.start
                bound += count * group.max_bytes
            elif text is None:
                bound += group.non_null(values) * _VARLENA_TOASTED_BYTES
            else:
                size, count = text
                bound += min(count * _VARLENA_TOASTED_BYTES, size + 4 * count)
        return bound

    def _fit_row(
        self,
        values: list[Any],
        props: Mapping,
        extras: dict[str, Any] | None,
        text: tuple[int, int] | None = None,
    ) -> dict[str, Any] | None:
        """Move property values to ``extras`` while the row is too wide for a page (see module doc).

        ``values`` is ``[id, *property values]`` and is changed in place; returns the extras.
        ``text`` is the UTF-8 size and count of the (unchanged) non-NULL text values if known.
        """
        budget = self.row_bytes_budget
        if budget is None or self._always_fits:
            return extras
        # Cheap upper bounds first (most rows): cannot be too wide -> skip the exact estimate.
        if self._size_bound(values, text, count_typed=False) <= budget:
            return extras
        if self._size_bound(values, text, count_typed=True) <= budget:
            return extras
        props_values = values[1:]
        sizes = [0 if v is None else sizer(v) for sizer, v in zip(self._sizers, props_values, strict=True)]
        total = row_bytes_estimate(sizes)
        if total <= budget:
            return extras
        moved = extras if extras is not None else {}
        count = 0
        for i in self._overflow_order:
            if total <= budget:
                break
            if values[i + 1] is None:
                continue
            name = self.columns[i].property_name
            raw = props.get(name)
            moved[name], _ = convert_text(raw if raw.__class__ is str else stringify(raw))
            values[i + 1] = None
            total -= sizes[i]
            count += 1
        self.stats.overflowed_rows += 1
        self.stats.overflowed_values += count
        return moved

    def _timestamp(self, record: Mapping, key: str, rejects: dict) -> Any:
        raw = record.get(key)
        if raw is None or raw == "":
            return None
        if self._postgres_text and utc_timestamp_text(raw) is not None:
            return raw
        value, reason = convert_datetime(str(raw))
        if reason is not None:
            self._reject(rejects, key, str(raw), reason)
        return value

    def _reject(self, rejects: dict, name: str, raw: Any, reason: str) -> None:
        rejects[name] = {"value": reject_value(raw), "reason": reason}
        self.stats.rejects[reason] += 1
