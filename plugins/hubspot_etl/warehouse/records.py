"""Dialect-neutral conversion of staged HubSpot records into warehouse rows.

A staging part is NDJSON, one record per line exactly as the CRM API returns it::

    {"id": "123", "properties": {"email": "a@b.c", ...}, "createdAt": "...Z",
     "updatedAt": "...Z", "archived": false, "archivedAt": null}

:class:`RowBuilder` turns each record into a flat tuple in a fixed column order:
``id, <property columns...>, _created_at, _updated_at, _is_deleted, _deleted_at,
_deletion_kind, merged_into_id, _rejects, _extra_properties, _seq``. JSON columns are already
serialised to text (both warehouses load JSON from text). ``_seq`` is the line number, used to let
the last duplicate of an id win inside one part.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubspot_etl.warehouse.base import ColumnSpec, PartFormatError
from hubspot_etl.warehouse.types import (
    POSTGRES_NUMERIC,
    NumericLimits,
    convert_datetime,
    convert_text,
    converter_for,
    reject_value,
    stringify,
)

try:  # optional speed-up (about 2x faster parsing); falls back to the json module per line
    import orjson

    _fast_loads: Callable[[str], Any] | None = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None


def _loads(line: str) -> Any:
    if _fast_loads is not None:
        try:
            return _fast_loads(line)
        except ValueError:
            pass  # lone surrogates, >64-bit ints, ...: let the json module decide
    return json.loads(line)


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


def read_part(path: str | Path) -> list[dict]:
    """Parse an NDJSON part (blank lines ignored); raises :class:`PartFormatError` on bad lines."""
    records: list[dict] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = _loads(line)
            except json.JSONDecodeError as exc:
                raise PartFormatError(f"{path}:{line_no}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise PartFormatError(f"{path}:{line_no}: not a JSON object")
            records.append(record)
    return records


def property_names_in(records: Sequence[Mapping]) -> list[str]:
    """Union of property names over the records, in first-seen order."""
    seen: dict[str, None] = {}
    for record in records:
        props = record.get("properties") or {}
        for name in props:
            if name not in seen:
                seen[name] = None
    return list(seen)


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


class RowBuilder:
    """Builds staging rows for one part given the recorded column specs."""

    def __init__(
        self,
        specs: Mapping[str, ColumnSpec],
        property_names: Sequence[str],
        limits: NumericLimits = POSTGRES_NUMERIC,
    ) -> None:
        self.limits = limits
        self.columns: list[ColumnSpec] = [
            specs[n] for n in property_names if n in specs and not specs[n].spilled
        ]
        self.spilled: list[str] = [n for n in property_names if n in specs and specs[n].spilled]
        self.unmapped: list[str] = [n for n in property_names if n not in specs]
        self.stats = RowStats()
        self.has_duplicates = False
        self._plan = [(c.property_name, converter_for(c.logical_type, limits)) for c in self.columns]

    @property
    def column_names(self) -> list[str]:
        """Staging column order: id, property columns, trailing system columns."""
        return ["id", *(c.column_name for c in self.columns), *TRAILING_COLUMNS]

    @property
    def property_names(self) -> list[str]:
        """Every property name this part carries (mapped, spilled and unmapped)."""
        return [c.property_name for c in self.columns] + self.spilled + self.unmapped

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
        rejects: dict[str, dict[str, str]] = {}
        values: list[Any] = [parse_record_id(record, f"record #{seq + 1}")]
        append = values.append
        get = props.get
        for name, converter in self._plan:
            raw = get(name)
            if raw is None:
                append(None)
                continue
            value, reason = converter(raw if raw.__class__ is str else stringify(raw))
            if reason is not None:
                self._reject(rejects, name, raw, reason)
            append(value)
        extras = self._extras(props, rejects)
        created = self._timestamp(record, "createdAt", rejects)
        updated = self._timestamp(record, "updatedAt", rejects)
        archived = bool(record.get("archived"))
        archived_at = self._timestamp(record, "archivedAt", rejects) if archived else None
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

    def _timestamp(self, record: Mapping, key: str, rejects: dict) -> Any:
        raw = record.get(key)
        if raw is None or raw == "":
            return None
        value, reason = convert_datetime(str(raw))
        if reason is not None:
            self._reject(rejects, key, str(raw), reason)
        return value

    def _reject(self, rejects: dict, name: str, raw: Any, reason: str) -> None:
        rejects[name] = {"value": reject_value(raw), "reason": reason}
        self.stats.rejects[reason] += 1
