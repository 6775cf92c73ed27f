"""The warehouse core: HubSpot semantics written once, over a :class:`~.dialect.Dialect`.

It owns the tables (:mod:`.tables`), the row mappings (:mod:`.rows`), schema evolution
(:func:`~.planning.plan_schema` applied through the dialect's DDL), the part ledger and the lease
protocol (:mod:`.leases`). Load semantics, the same on every destination:

* A row is updated only when the incoming ``updatedAt`` is >= the stored one (or either is NULL),
  so an older part loaded late never overwrites newer data. The update copies the deletion
  columns from the record: a live record clears the delete flags (HubSpot does not bump
  ``updatedAt`` on delete, so a record seen live again restores itself); ``archived: true`` flags
  it ``archived``.
* Duplicate ids in one part: the newest ``updatedAt`` wins, then the later line.
* Only the part's properties are written; other columns keep their values. ``_rejects`` and
  ``_extra_properties`` keys of the part's properties are replaced, other keys kept.

The part ledger (``_hubspot_loaded_parts``): where the dialect has transactions, the part is
claimed first and merged in the same transaction; where it has not (BigQuery), the part is
recorded only after its merge succeeded, and the merge is idempotent, so a crash in between just
re-applies the part on retry.
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments;
# values are always bound parameters or bulk-load data.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hubspot_etl.sync.staging import read_part
from hubspot_etl.warehouse import fivetran
from hubspot_etl.warehouse.base import (
    DEFAULT_MAX_PROPERTY_COLUMNS,
    ColumnSpec,
    DeletedId,
    LoadResult,
    SchemaChange,
    SchemaChangeSummary,
    Warehouse,
)
from hubspot_etl.warehouse.dialect import Dialect, P, Session, Upsert, chunks
from hubspot_etl.warehouse.history import History
from hubspot_etl.warehouse.leases import Leases
from hubspot_etl.warehouse.naming import (
    ColumnMapper,
    table_name_for_object,
)
from hubspot_etl.warehouse.planning import plan_schema
from hubspot_etl.warehouse.records import RowBuilder, property_names_in
from hubspot_etl.warehouse.relations import Relations
from hubspot_etl.warehouse.rows import (
    as_document,
    column_spec,
    column_spec_row,
    deletion_rows,
    merge_document,
    property_definition_row,
    report_row,
    schema_change_row,
)
from hubspot_etl.warehouse.tables import (
    BIGINT,
    COLUMN_MAP,
    LOADED_PARTS,
    LOCKS,
    METADATA_TABLES,
    OBJECT_SYSTEM,
    PROPERTY_DEFINITION,
    RUN_REPORT,
    SCHEMA_CHANGES,
    SYNC_STATE,
    TEXT,
    object_table,
)
from hubspot_etl.warehouse.writer import TableWriter

_NEWER = "T._updated_at IS NULL OR S._updated_at IS NULL OR S._updated_at >= T._updated_at"
_STAGED_SYSTEM = [(c.name, c.type) for c in OBJECT_SYSTEM if c.name != "_synced_at"] + [("_seq", "integer")]


class SqlWarehouse(Relations, History, Leases, TableWriter, Warehouse):
    """A HubSpot warehouse in one schema or dataset of the dialect's destination."""

    def __init__(
        self,
        dialect: Dialect,
        max_property_columns: int = DEFAULT_MAX_PROPERTY_COLUMNS,
        fivetran_schema: str | None = None,
    ) -> None:
        self.d = dialect
        self.max_property_columns = max_property_columns
        #: the Fivetran-style views of a ``schema_style: fivetran`` destination (else None)
        self.fivetran = fivetran.FivetranViews(self, fivetran_schema) if fivetran_schema else None

    # ------------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        """Create the schema or dataset and the metadata tables (idempotent, concurrency-safe)."""
        self.d.ensure_container()
        if self.fivetran is not None:
            self.fivetran.ensure()
        else:
            fivetran.check_native_style(self)
        lock_rows = () if type(self.d).session_lock is not Dialect.session_lock else (LOCKS,)
        with self.d.session(lock="schema") as s:
            for table in (*METADATA_TABLES, *lock_rows):
                self.d.create_table(s, table)
            fivetran.add_missing_columns(self.d, s, PROPERTY_DEFINITION)
            fivetran.add_missing_columns(self.d, s, SYNC_STATE)

    def exists(self) -> bool:
        """True when :meth:`ensure_schema` has run."""
        with self.d.session() as s:
            return self.d.table_exists(s, SYNC_STATE.name)

    def column_specs(self, object_name: str) -> dict[str, ColumnSpec]:
        with self.d.session() as s:
            return self._specs(s, object_name)

    def _specs(self, s: Session, object_name: str) -> dict[str, ColumnSpec]:
        rows = s.execute(
            "SELECT property_name, column_name, logical_type, hubspot_type, spilled "
            f"FROM {self._t(COLUMN_MAP.name)} WHERE object_name = @o",
            {"o": object_name},
        ).rows
        return {r["property_name"]: column_spec(r) for r in rows}

    def ensure_object_table(self, object_name: str, properties: Sequence[Mapping]) -> SchemaChangeSummary:
        """Create or evolve the object table; see :meth:`Warehouse.ensure_object_table`."""
        table = table_name_for_object(object_name)
        dropped_views: list[str] = []
        with self.d.session(lock=f"ddl:{object_name}") as s:
            created = not self.d.table_exists(s, table)
            existing = self._specs(s, object_name)
            mapper = ColumnMapper({p: spec.column_name for p, spec in existing.items()})
            plan = plan_schema(
                existing, properties, max_property_columns=self.max_property_columns, mapper=mapper
            )
            wanted = [(sp.column_name, sp.logical_type.value) for sp in plan.specs.values() if not sp.spilled]
            if created:
                self.d.create_table(s, object_table(table, wanted))
            else:
                present = self.d.column_types(s, table)
                self.d.add_columns(s, table, [c for c in wanted if c[0].lower() not in present])
                widened = {sp.column_name for sp in plan.widened if not sp.spilled}
                to_text = {c: present[c.lower()] for c in widened if c.lower() in present}
                if to_text and self.fivetran is not None and self.d.views_bind_columns:
                    dropped_views = self.fivetran.before_column_change(s, table)
                self.d.widen_to_text(s, table, to_text)
            self.d.verify_columns(s, table, ["id", *(c for c, _ in wanted)])
            changes = ([SchemaChange("table_created", new_type=table)] if created else []) + plan.changes
            self._merge_rows(
                s,
                COLUMN_MAP,
                [column_spec_row(object_name, spec) for spec in plan.changed],
                update=("logical_type", "hubspot_type"),
                stamp=("updated_at",),
                stamp_new=("created_at",),
            )
            self._record_changes(s, object_name, changes)
            defs = [property_definition_row(object_name, p) for p in properties]
            self._merge_rows(s, PROPERTY_DEFINITION, defs, stamp=("_synced_at",))
            if self.fivetran is not None:
                fivetran.write_property_options(self, s, object_name, properties)
        if dropped_views and self.fivetran is not None:  # PostgreSQL widened columns: their views again
            self.fivetran.publish()
        return SchemaChangeSummary(
            table=table,
            created=created,
            added=len(plan.added),
            widened=len(plan.widened),
            spilled=len(plan.spilled),
            renamed=plan.renamed,
            changes=changes,
        )

    def _record_changes(self, s: Session, object_name: str, changes: Sequence[SchemaChange]) -> None:
        if not changes:
            return
        rows = [schema_change_row(object_name, c) for c in changes]
        if not self.d.generates_row_ids:
            rows = [{"id": uuid.uuid4().hex, **r} for r in rows]
        cols = [c for c in SCHEMA_CHANGES.names if c in rows[0]]
        source = self._stage(s, SCHEMA_CHANGES, cols, rows)
        q = self.d.quote
        s.execute(
            f"INSERT INTO {self._t(SCHEMA_CHANGES.name)} ({', '.join(map(q, cols))}, {q('at')}) "
            f"SELECT {', '.join(f'S.{q(c)}' for c in cols)}, {self.d.now} FROM {source} S"
        )

    # ------------------------------------------------------------------ load
    def load_part(self, object_name: str, part_id: str, path: str | Path) -> LoadResult:
        """Upsert one NDJSON part (stage, one merge, the ledger row); a loaded part is skipped."""
        records = list(read_part(path))
        table = table_name_for_object(object_name)
        with self.d.session() as s:
            if not self._claim_part(s, object_name, part_id, len(records)):
                return LoadResult(rows=0, rejects=0, skipped=True)
            builder = RowBuilder(
                self._specs(s, object_name),
                property_names_in(records),
                self.d.numeric_limits,
                column_order=self.d.column_ordinals(s, table),
                row_bytes_budget=self.d.row_bytes_budget,
                postgres_text=self.d.text_values,
            )
            count = len(records)
            upserted = self._merge_part(s, table, builder, records)
            if not self.d.transactional:
                self._record_part(s, object_name, part_id, count)
        stats = builder.stats
        return LoadResult(
            rows=count,
            rejects=sum(stats.rejects.values()),
            skipped=False,
            upserted=upserted,
            reject_reasons=dict(stats.rejects),
            unmapped=stats.unmapped,
            overflowed_rows=stats.overflowed_rows,
            overflowed_values=stats.overflowed_values,
        )

    def _ledger_source(self, object_name: str, part_id: str, rows: int) -> tuple[str, dict]:
        columns = [("object_name", TEXT), ("part_id", TEXT), ("rows", BIGINT)]
        return self.d.values_source(columns, {"object_name": object_name, "part_id": part_id, "rows": rows})

    def _claim_part(self, s: Session, object_name: str, part_id: str, rows: int) -> bool:
        """True when the part is ours to load: claimed in this transaction, or not loaded yet."""
        if not self.d.transactional:
            return not s.execute(
                f"SELECT 1 AS x FROM {self._t(LOADED_PARTS.name)} WHERE object_name = @o AND part_id = @p",
                {"o": object_name, "p": part_id},
            ).rows
        return self._record_part(s, object_name, part_id, rows) == 1

    def _record_part(self, s: Session, object_name: str, part_id: str, rows: int) -> int:
        source, params = self._ledger_source(object_name, part_id, rows)
        q = self.d.quote
        insert = {c: f"S.{q(c)}" for c in ("object_name", "part_id", "rows")} | {"loaded_at": self.d.now}
        return self.d.upsert(s, Upsert(LOADED_PARTS.name, LOADED_PARTS.key, source, insert, params=params))

    def _merge_part(self, s: Session, table: str, builder: RowBuilder, records: list[Any]) -> int:
        """Stage the part's rows and merge them into the object table in one statement."""
        columns = [
            ("id", BIGINT),
            *((c.column_name, c.logical_type.value) for c in builder.columns),
            *_STAGED_SYSTEM,
        ]
        json_merge = self.d.json_merge("T._rejects", "S._rejects", "reject_keys")
        if json_merge is None or _has_duplicate_ids(records):
            rows: Iterable[Sequence[Any]] = _newest_per_id(builder.rows(records), builder.column_names)
            if json_merge is None:
                rows = self._merge_documents(s, table, builder, list(rows))
        else:
            rows = _sent(builder.rows(records), records)
        if not rows and json_merge is None:
            return 0
        source = s.stage(columns, rows)
        q, staged = self.d.quote, self.d.staged
        insert = {c: staged(f"S.{q(c)}", t) for c, t in columns if c != "_seq"} | {"_synced_at": self.d.now}
        update = {c: insert[c] for c, _ in columns if c not in ("id", "_seq", "_created_at")}
        update["_created_at"] = "COALESCE(S._created_at, T._created_at)"
        update["_synced_at"] = self.d.now
        params: dict[str, Any] = {}
        if json_merge is not None:
            update["_rejects"] = json_merge
            update["_extra_properties"] = self.d.json_merge(
                "T._extra_properties", "S._extra_properties", "extra_keys"
            )
            reject_keys = [*builder.property_names, "createdAt", "updatedAt", "archivedAt"]
            params = {"reject_keys": P(reject_keys, TEXT), "extra_keys": P(builder.property_names, TEXT)}
        return self.d.upsert(s, Upsert(table, ("id",), source, insert, update, _NEWER, params))

    def _merge_documents(self, s: Session, table: str, builder: RowBuilder, rows: list[tuple]) -> list[tuple]:
        """Merge ``_rejects``/``_extra_properties`` with the stored documents in Python."""
        names = builder.column_names
        i_rejects, i_extra = names.index("_rejects"), names.index("_extra_properties")
        reject_keys = {*builder.property_names, "createdAt", "updatedAt", "archivedAt"}
        extra_keys = set(builder.property_names)
        old: dict[int, tuple[Any, Any]] = {}
        for chunk in chunks([r[0] for r in rows], self.d.ids_per_statement):
            cond, params = self._in("id", chunk)
            for r in s.execute(
                f"SELECT id, _rejects, _extra_properties FROM {self._t(table)} "
                f"WHERE {cond} AND (_rejects IS NOT NULL OR _extra_properties IS NOT NULL)",
                params,
            ).rows:
                old[int(r["id"])] = (as_document(r["_rejects"]), as_document(r["_extra_properties"]))
        merged = []
        for row in rows:
            before = old.get(row[0], (None, None))
            values = list(row)
            values[i_rejects] = merge_document(before[0], row[i_rejects], reject_keys)
            values[i_extra] = merge_document(before[1], row[i_extra], extra_keys)
            merged.append(tuple(values))
        return merged

    # ------------------------------------------------------------------ deletes
    def mark_deleted(self, object_name: str, ids_with_kind: Sequence[DeletedId]) -> int:
        """Flag ids deleted (known rows updated, tombstones inserted for unknown ids)."""
        if not ids_with_kind:
            return 0
        rows = deletion_rows(ids_with_kind)
        table = object_table(table_name_for_object(object_name))
        now = self.d.now
        with self.d.session() as s:
            return self._merge_rows(
                s,
                table,
                rows,
                update=("_deletion_kind", "merged_into_id"),
                stamp=("_synced_at",),
                exprs={
                    "_is_deleted": "TRUE",
                    "_deleted_at": f"COALESCE(S._deleted_at, CASE WHEN T._is_deleted THEN T._deleted_at END, {now})",
                },
                insert_exprs={"_is_deleted": "TRUE", "_deleted_at": f"COALESCE(S._deleted_at, {now})"},
            )

    def restore(self, object_name: str, ids: Sequence[int]) -> int:
        """Clear the delete flags of ``ids``."""
        table = self._t(table_name_for_object(object_name))
        touched = 0
        with self.d.session() as s:
            for chunk in chunks(list(ids), self.d.ids_per_statement):
                cond, params = self._in("id", chunk)
                touched += s.execute(
                    f"UPDATE {table} SET _is_deleted = FALSE, _deleted_at = NULL, _deletion_kind = NULL, "
                    f"merged_into_id = NULL, _synced_at = {self.d.now} WHERE {cond} AND _is_deleted",
                    params,
                ).affected
        return touched

    def live_ids(self, object_name: str, synced_before: datetime | None = None) -> set[int]:
        """Ids not flagged deleted (only those last synced before ``synced_before`` if given)."""
        with self.d.session() as s:
            rows = self._select(
                s,
                table_name_for_object(object_name),
                "SELECT id FROM {t} WHERE NOT COALESCE(_is_deleted, FALSE) AND (@b IS NULL OR _synced_at < @b)",
                {"b": P(synced_before, "timestamp")},
            )
        return {int(r["id"]) for r in rows}

    def deletion_kinds(self, object_name: str) -> dict[int, str | None]:
        with self.d.session() as s:
            rows = self._select(
                s,
                table_name_for_object(object_name),
                "SELECT id, CASE WHEN _is_deleted THEN _deletion_kind END AS kind FROM {t}",
            )
        return {int(r["id"]): r["kind"] for r in rows}

    def stored_modified(
        self, object_name: str, property_name: str, ids: Sequence[int]
    ) -> dict[int, datetime]:
        """``id -> stored value of property_name`` (the last-modified property) of ``ids``.

        Only live rows with a value, synced after the object's last schema change, are given:
        a missing, deleted or NULL row, or one loaded before a column was added or widened
        (it may lack that column's value), is left out, so that a caller compares only rows the
        warehouse holds completely. Empty when the property has no column (spilled, unknown).
        """
        table = table_name_for_object(object_name)
        found: dict[int, datetime] = {}
        with self.d.session() as s:
            spec = self._specs(s, object_name).get(property_name)
            if spec is None or spec.spilled or not ids or not self.d.table_exists(s, table):
                return found
            q = self.d.quote
            changed = (
                f"(SELECT MAX(C.{q('at')}) FROM {self._t(SCHEMA_CHANGES.name)} C WHERE C.object_name = @o)"
            )
            for chunk in chunks(sorted({int(i) for i in ids}), self.d.ids_per_statement):
                cond, params = self._in("id", chunk)
                rows = s.execute(
                    f"SELECT id, {q(spec.column_name)} AS modified FROM {self._t(table)} "
                    f"WHERE {cond} AND NOT COALESCE(_is_deleted, FALSE) AND {q(spec.column_name)} IS NOT NULL "
                    f"AND (_synced_at > {changed} OR {changed} IS NULL)",
                    params | {"o": object_name},
                ).rows
                found.update((int(r["id"]), r["modified"]) for r in rows)
        return found

    def merge_targets(self, object_name: str) -> dict[int, int]:
        with self.d.session() as s:
            rows = self._select(
                s,
                table_name_for_object(object_name),
                "SELECT id, merged_into_id FROM {t} WHERE _is_deleted AND _deletion_kind = 'merged' "
                "AND merged_into_id IS NOT NULL",
            )
        return {int(r["id"]): int(r["merged_into_id"]) for r in rows}

    # ------------------------------------------------------------------ state and reports
    def get_sync_state(self, object_name: str) -> dict | None:
        with self.d.session() as s:
            rows = s.execute(
                "SELECT object_name, watermark, last_full_load_at, last_run_id, updated_at, deletes_checked_at "
                f"FROM {self._t(SYNC_STATE.name)} WHERE object_name = @o",
                {"o": object_name},
            ).rows
        return rows[0] if rows else None

    def set_sync_state(
        self,
        object_name: str,
        watermark: datetime | None,
        last_full_load_at: datetime | None = None,
        run_id: str | None = None,
        deletes_checked_at: datetime | None = None,
    ) -> None:
        """Upsert the sync state (``last_full_load_at``/``deletes_checked_at`` None keep the stored value)."""
        row = {"object_name": object_name, "watermark": watermark, "last_full_load_at": last_full_load_at}
        with self.d.session() as s:
            self._merge_rows(
                s,
                SYNC_STATE,
                [row | {"last_run_id": run_id, "deletes_checked_at": deletes_checked_at}],
                stamp=("updated_at",),
                exprs={
                    "last_full_load_at": "COALESCE(S.last_full_load_at, T.last_full_load_at)",
                    "deletes_checked_at": "COALESCE(S.deletes_checked_at, T.deletes_checked_at)",
                },
            )

    def write_run_report(self, report: Mapping[str, Any]) -> None:
        """Upsert one run report keyed by (object_name, run_id); unknown keys go into ``details``."""
        with self.d.session() as s:
            self._merge_rows(s, RUN_REPORT, [report_row(report)])

    def get_run_report(self, object_name: str, run_id: str) -> dict | None:
        """One run report (documents as Python objects), or None."""
        with self.d.session() as s:
            rows = s.execute(
                f"SELECT {', '.join(map(self.d.quote, RUN_REPORT.names))} FROM {self._t(RUN_REPORT.name)} "
                "WHERE object_name = @o AND run_id = @r",
                {"o": object_name, "r": run_id},
            ).rows
        return _report(rows[0]) if rows else None

    def list_run_reports(self, object_name: str, limit: int = 50) -> list[dict]:
        """The object's newest run reports, newest first (documents as Python objects; for the UI)."""
        if not self.exists():
            return []
        with self.d.session() as s:
            rows = s.execute(
                f"SELECT {', '.join(map(self.d.quote, RUN_REPORT.names))} FROM {self._t(RUN_REPORT.name)} "
                f"WHERE object_name = @o ORDER BY started_at DESC LIMIT {int(limit)}",
                {"o": object_name},
            ).rows
        return [_report(r) for r in rows]

    def check_access(self, scratch_suffix: str) -> list[tuple[bool, str]]:
        """See :meth:`Warehouse.check_access`."""
        return self.d.check_access(f"_hubspot_healthcheck_{scratch_suffix}")


def _report(row: Mapping[str, Any]) -> dict:
    """A run report row with its JSON documents as Python objects."""
    return {c: as_document(v) if RUN_REPORT.types[c] == "json" else v for c, v in row.items()}


def _has_duplicate_ids(records: Sequence[Mapping]) -> bool:
    """Whether two records of a part share an id (cheap: before any row is built)."""
    try:
        ids = {int(str(r.get("id")).strip()) for r in records}
    except (TypeError, ValueError):
        return True  # the row builder reports the bad id
    return len(ids) < len(records)


def _newest_per_id(rows: Iterable[tuple], names: Sequence[str]) -> list[tuple]:
    """Duplicate ids: the newest ``_updated_at`` wins (NULL counts as newest), then the later line."""
    i = names.index("_updated_at")
    winners: dict[int, tuple] = {}
    for row in rows:
        current = winners.get(row[0])
        if current is None or row[i] is None or (current[i] is not None and row[i] >= current[i]):
            winners[row[0]] = row
    return list(winners.values())


def _sent(rows: Iterable[tuple], records: list[Any]) -> Iterable[tuple]:
    """The rows, dropping each record (set to None) once its row is handed on: their memory is
    freed while the warehouse still parses, instead of all at once after the load."""
    for i, row in enumerate(rows):
        yield row
        records[i] = None
