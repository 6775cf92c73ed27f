"""Property history and stage history: the history tables of an object (part of the core).

``<table>_property_history`` holds one row per write of a property, keyed by (object_id,
property, timestamp): HubSpot's ``propertiesWithHistory`` entries, upserted idempotently and
never deleted (a deleted record keeps its history; its row in the object table carries the
delete flag).

``<table>_stage_history`` is derived from it: one row per pipeline stage a record entered, with
the time it left (the next stage's entry) and ``is_active`` on the open row. It is rebuilt per
record from that record's stage rows in the property history, in Python (:func:`stage_rows`),
so it reads the same on every destination.
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments;
# values are always bound parameters or bulk-load data.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any

from hubspot_etl.warehouse.dialect import Session, chunks
from hubspot_etl.warehouse.naming import (
    POSTGRES_MAX_IDENTIFIER_BYTES,
    sanitize_identifier,
    table_name_for_object,
)
from hubspot_etl.warehouse.rows import int_or_none, ts
from hubspot_etl.warehouse.tables import property_history_table, stage_history_table
from hubspot_etl.warehouse.writer import TableWriter

#: the columns a history row carries besides its key
_HISTORY_VALUES = ("value", "source_type", "source_id", "source_label", "updated_by_user_id")


def history_table_names(object_name: str, max_bytes: int = POSTGRES_MAX_IDENTIFIER_BYTES) -> tuple[str, str]:
    """``deals`` -> (``deal_property_history``, ``deal_stage_history``)."""
    base = table_name_for_object(object_name)
    return (
        sanitize_identifier(f"{base}_property_history", max_bytes),
        sanitize_identifier(f"{base}_stage_history", max_bytes),
    )


def property_history_row(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """A hook history row (``HubSpotHook.batch_read_history``) as a table row; None without a
    readable timestamp (it could not be keyed)."""
    at = ts(entry.get("timestamp"))
    if at is None:
        return None
    value = entry.get("value")
    return {
        "object_id": int(entry["object_id"]),
        "property": str(entry["property"]),
        "value": None if value is None else str(value),
        "timestamp": at,
        "source_type": entry.get("source_type"),
        "source_id": entry.get("source_id"),
        "source_label": entry.get("source_label"),
        "updated_by_user_id": int_or_none(entry.get("updated_by_user_id")),
    }


def _rank(row: Mapping[str, Any]) -> tuple:
    """Order of two rows of one key (HubSpot never sends them; the greater one wins, whatever
    the order they came in)."""
    return tuple((row[c] is not None, "" if row[c] is None else str(row[c])) for c in _HISTORY_VALUES)


def unique_history_rows(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Table rows, one per (object_id, property, timestamp), in key order."""
    rows: dict[tuple, dict[str, Any]] = {}
    for entry in entries:
        row = property_history_row(entry)
        if row is None:
            continue
        key = (row["object_id"], row["property"], row["timestamp"])
        if key not in rows or _rank(row) > _rank(rows[key]):
            rows[key] = row
    return [rows[k] for k in sorted(rows)]


def stage_rows(history: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stage-history rows from the stage property's history rows (any order, any records).

    Per record, oldest write first: a write of the value the record is already in changes
    nothing (consecutive equal values collapse); any other write enters that stage at its
    timestamp and leaves the previous one then. A write of an empty value leaves the stage
    and enters none. The last stage entered, if not left, is the open row (``left_at`` NULL,
    ``is_active`` true). The entering write's source goes on each row.
    """
    ordered = sorted(history, key=lambda r: (int(r["object_id"]), r["timestamp"], str(r.get("value") or "")))
    rows: list[dict[str, Any]] = []
    for object_id, writes in groupby(ordered, key=lambda r: int(r["object_id"])):
        current: dict[str, Any] | None = None
        previous: str | None = None
        for write in writes:
            value = write.get("value") or None
            if value == previous:
                continue
            previous = value
            if current is not None:
                current["left_at"] = write["timestamp"]
                current = None
            if value is None:
                continue
            current = {
                "object_id": object_id,
                "stage_id": str(value),
                "entered_at": write["timestamp"],
                "left_at": None,
                "is_active": False,
                "source_type": write.get("source_type"),
                "source_id": write.get("source_id"),
                "updated_by_user_id": int_or_none(write.get("updated_by_user_id")),
            }
            rows.append(current)
        if current is not None:
            current["is_active"] = True
    return rows


class History(TableWriter):
    """Mixed into :class:`~hubspot_etl.warehouse.core.SqlWarehouse`."""

    def upsert_property_history(self, object_name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Upsert history rows (as ``HubSpotHook.batch_read_history`` returns them) into
        ``<table>_property_history``, creating it on first use.

        Idempotent on (object_id, property, timestamp): loading the same rows again changes
        nothing; a stored row is rewritten only when a value differs. Two rows of one key in a
        batch: the same one wins whatever their order. Returns rows inserted or changed.
        """
        table = property_history_table(history_table_names(object_name)[0])
        unique = unique_history_rows(rows)
        q = self.d.quote
        changed = " OR ".join(f"T.{q(c)} IS DISTINCT FROM S.{q(c)}" for c in _HISTORY_VALUES)
        with self.d.session(lock=f"history:{table.name}") as s:
            self.d.create_table(s, table)
            return self._merge_rows(s, table, unique, stamp=("_synced_at",), when=changed)

    def rebuild_stage_history(self, object_name: str, ids: Sequence[int], stage_property: str) -> int:
        """Rebuild the ``<table>_stage_history`` rows of ``ids`` from their ``stage_property``
        rows in ``<table>_property_history`` (see :func:`stage_rows`); other records' rows are
        left alone. Returns the rows the records now have.

        Where the warehouse has transactions the delete and the insert commit together; where
        it has not (BigQuery), a crash in between leaves those records without stage rows
        until the step's retry rebuilds them.
        """
        history_name, stage_name = history_table_names(object_name)
        table = stage_history_table(stage_name)
        wanted = sorted({int(i) for i in ids})
        with self.d.session(lock=f"history:{table.name}") as s:
            self.d.create_table(s, table)
            if not wanted:
                return 0
            history = self._stage_writes(s, history_name, wanted, stage_property)
            rebuilt = stage_rows(history)
            for chunk in chunks(wanted, self.d.ids_per_statement):
                cond, params = self._in("object_id", chunk)
                s.execute(f"DELETE FROM {self._t(table.name)} WHERE {cond}", params)
            self._merge_rows(s, table, rebuilt, stamp=("_synced_at",))
        return len(rebuilt)

    def history_ids(self, object_name: str) -> set[int]:
        """Ids of the records with any row in ``<table>_property_history`` (none before it exists)."""
        with self.d.session() as s:
            rows = self._select(s, history_table_names(object_name)[0], "SELECT DISTINCT object_id FROM {t}")
        return {int(r["object_id"]) for r in rows}

    def _stage_writes(
        self, s: Session, history_table: str, ids: Sequence[int], stage_property: str
    ) -> list[dict[str, Any]]:
        """The stored writes of ``stage_property`` of ``ids`` (none before the table exists)."""
        q = self.d.quote
        columns = ", ".join(q(c) for c in ("object_id", "value", "timestamp", "source_type", "source_id"))
        found: list[dict[str, Any]] = []
        for chunk in chunks(list(ids), self.d.ids_per_statement):
            cond, params = self._in("object_id", chunk)
            found += self._select(
                s,
                history_table,
                f"SELECT {columns}, updated_by_user_id FROM {{t}} WHERE {q('property')} = @p AND {cond}",
                {**params, "p": stage_property},
            )
        return found
