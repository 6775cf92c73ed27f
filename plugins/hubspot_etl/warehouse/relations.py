"""Associations, pipelines and owners: the tables around the object tables (part of the core)."""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments;
# values are always bound parameters or bulk-load data.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from hubspot_etl.warehouse.dialect import Session, Upsert
from hubspot_etl.warehouse.naming import association_table_name, pipeline_table_names, table_name_for_object
from hubspot_etl.warehouse.rows import association_row, owner_row, pipeline_row, stage_row
from hubspot_etl.warehouse.tables import (
    ASSOCIATION_TABLES,
    OWNER,
    TEXT,
    Table,
    association_table,
    pipeline_table,
    stage_table,
)
from hubspot_etl.warehouse.writer import TableWriter

_CHANGED = "T.category IS DISTINCT FROM S.category OR T.label IS DISTINCT FROM S.label"


class Relations(TableWriter):
    """Mixed into :class:`~hubspot_etl.warehouse.core.SqlWarehouse`."""

    # ------------------------------------------------------------------ associations
    def _ensure_association_table(self, s: Session, table: str, from_object: str, to_object: str) -> None:
        self.d.create_table(s, association_table(table))
        names = {"table_name": table, "from_object": table_name_for_object(from_object)}
        names["to_object"] = table_name_for_object(to_object)
        source, params = self.d.values_source([(c, TEXT) for c in names], names)
        insert = {c: f"S.{self.d.quote(c)}" for c in names}
        self.d.upsert(s, Upsert(ASSOCIATION_TABLES.name, ("table_name",), source, insert, params=params))

    def replace_associations(
        self, from_object: str, to_object: str, from_ids: Sequence[int], rows: Sequence[Mapping]
    ) -> int:
        """Make the associations of ``from_ids`` equal ``rows``, writing only differences.

        Rows HubSpot no longer returns are deleted, new ones inserted, rows whose category or
        label changed updated, in one transaction where the warehouse has them. Returns how many
        rows changed (0 when nothing did).
        """
        table = association_table(association_table_name(from_object, to_object))
        staged = [association_row(r) for r in rows]
        cols = [c for c in table.names if c != "_synced_at"]
        with self.d.session(lock=f"assoc:{table.name}") as s:
            self._ensure_association_table(s, table.name, from_object, to_object)
            latest = list({(r["from_id"], r["to_id"], r["type_id"]): r for r in staged}.values())
            source = self._stage(s, table, cols, latest)
            cond, params = self._in("T.from_id", sorted({int(i) for i in from_ids}))
            removed = 0
            if from_ids:
                removed = s.execute(
                    f"DELETE FROM {self._t(table.name)} T WHERE {cond} AND NOT EXISTS (SELECT 1 FROM {source} S "
                    "WHERE S.from_id = T.from_id AND S.to_id = T.to_id AND S.type_id = T.type_id)",
                    params,
                ).affected
            if not latest:
                return removed
            insert = {c: f"S.{self.d.quote(c)}" for c in cols} | {"_synced_at": self.d.now}
            update = {"category": insert["category"], "label": insert["label"], "_synced_at": self.d.now}
            return removed + self.d.upsert(s, Upsert(table.name, table.key, source, insert, update, _CHANGED))

    def delete_associations_for(
        self, from_object: str, to_object: str, ids: Sequence[int], side: str = "both"
    ) -> int:
        """Delete associations whose ``from_id``, ``to_id`` or either is in ``ids``."""
        if side not in ("from", "to", "both"):
            raise ValueError(f"side must be one of ['both', 'from', 'to'], got {side!r}")
        if not ids:
            return 0
        table = association_table_name(from_object, to_object)
        sides = {"from": ["from_id"], "to": ["to_id"], "both": ["from_id", "to_id"]}[side]
        with self.d.session() as s:
            if not self.d.table_exists(s, table):
                return 0
            _, params = self._in("from_id", ids)
            cond = " OR ".join(self.d.in_list(c, "ids") for c in sides)
            return s.execute(f"DELETE FROM {self._t(table)} WHERE {cond}", params).affected

    def follow_merges_and_deletes(
        self, object_name: str, merged_into: Mapping[int, int], deleted: Sequence[int]
    ) -> int:
        """Make associations follow merged and deleted records, in every association table.

        HubSpot moves a merged record's associations to the survivor and stops returning those
        of deleted records. Rows of this object's own tables (``from`` side) are dropped for
        both; rows of other tables pointing at a merged record (``to`` side) are re-pointed to
        the survivor, and those pointing at a deleted record dropped. Returns rows changed.
        """
        gone = sorted({int(i) for i in (*merged_into.keys(), *deleted)})
        if not gone:
            return 0
        name = table_name_for_object(object_name)
        changed = 0
        with self.d.session() as s:
            tables = self._select(
                s,
                ASSOCIATION_TABLES.name,
                "SELECT table_name, from_object = @o AS is_from, to_object = @o AS is_to FROM {t} "
                "WHERE from_object = @o OR to_object = @o ORDER BY table_name",
                {"o": name},
            )
            pairs = None
            for entry in tables:
                table = association_table(entry["table_name"])
                if entry["is_to"] and merged_into:
                    if pairs is None:
                        pair_table = Table("_pairs", (table.columns[0], table.columns[1]))
                        pair_rows = [{"from_id": k, "to_id": v} for k, v in merged_into.items()]
                        pairs = self._stage(s, pair_table, ["from_id", "to_id"], pair_rows)
                    changed += self._repoint(s, table, pairs)
                _, params = self._in("to_id", gone)
                for column, applies in (("to_id", entry["is_to"]), ("from_id", entry["is_from"])):
                    if applies:
                        cond = self.d.in_list(column, "ids")
                        changed += s.execute(
                            f"DELETE FROM {self._t(table.name)} WHERE {cond}", params
                        ).affected
        return changed

    def _repoint(self, s: Session, table: Table, pairs: str) -> int:
        """Copy rows pointing at a merged record (``pairs``: merged ``from_id`` -> survivor ``to_id``)."""
        source = (
            "(SELECT a.from_id, m.to_id, a.type_id, MIN(a.category) AS category, MIN(a.label) AS label "
            f"FROM {self._t(table.name)} a JOIN {pairs} m ON a.to_id = m.from_id "
            "GROUP BY a.from_id, m.to_id, a.type_id)"
        )
        cols = ("from_id", "to_id", "type_id", "category", "label")
        insert = {c: f"S.{self.d.quote(c)}" for c in cols} | {"_synced_at": self.d.now}
        return self.d.upsert(s, Upsert(table.name, table.key, source, insert))

    # ------------------------------------------------------------------ pipelines
    def upsert_pipelines(self, object_name: str, pipelines: Sequence[Mapping]) -> dict[str, int]:
        """Upsert pipelines and stages; archived or no-longer-returned ones get ``_is_deleted``."""
        p_name, s_name = pipeline_table_names(object_name)
        tables = (pipeline_table(p_name), stage_table(s_name))
        p_rows = [pipeline_row(p) for p in pipelines]
        s_rows = [stage_row(p, st, self.d.numeric_limits) for p in pipelines for st in p.get("stages") or []]
        deleted_at = "CASE WHEN S._is_deleted THEN COALESCE(T._deleted_at, S._deleted_at) END"
        gone = []
        with self.d.session(lock=f"pipeline:{p_name}") as s:
            for table, rows in zip(tables, (p_rows, s_rows), strict=True):
                self.d.create_table(s, table)
                copied = [c for c in table.names if c not in (*table.key, "_deleted_at", "_synced_at")]
                self._merge_rows(
                    s, table, rows, update=copied, stamp=("_synced_at",), exprs={"_deleted_at": deleted_at}
                )
                gone.append(self._flag_gone(s, table, rows))
        counts = {"pipelines": len({r["id"] for r in p_rows})}
        counts["stages"] = len({(r["pipeline_id"], r["id"]) for r in s_rows})
        return counts | {"pipelines_gone": gone[0], "stages_gone": gone[1]}

    def _flag_gone(self, s: Session, table: Table, rows: Sequence[Mapping]) -> int:
        """Flag the rows of ``table`` whose key is not among ``rows`` deleted."""
        source = self._stage(s, table, list(table.key), rows)
        match = " AND ".join(f"S.{self.d.quote(k)} = T.{self.d.quote(k)}" for k in table.key)
        return s.execute(
            f"UPDATE {self._t(table.name)} T SET _is_deleted = TRUE, _deleted_at = {self.d.now}, "
            f"_synced_at = {self.d.now} WHERE NOT COALESCE(T._is_deleted, FALSE) "
            f"AND NOT EXISTS (SELECT 1 FROM {source} S WHERE {match})"
        ).affected

    # ------------------------------------------------------------------ owners
    def upsert_owners(self, owners: Sequence[Mapping]) -> int:
        """Upsert owners into ``owner`` (active and archived lists may be passed together)."""
        if not owners:
            return 0
        with self.d.session() as s:
            self._merge_rows(s, OWNER, [owner_row(o) for o in owners], stamp=("_synced_at",))
            if getattr(self, "fivetran", None) is not None:  # the teams of the Fivetran-style views
                from hubspot_etl.warehouse.fivetran import write_owner_teams

                write_owner_teams(self, s, owners)  # type: ignore[arg-type]
        return len(owners)

    def owner_versions(self) -> dict[int, tuple[datetime | None, bool]]:
        """``id -> (updated_at, archived)`` of the stored owners (empty before the first sync)."""
        with self.d.session() as s:
            rows = self._select(s, OWNER.name, "SELECT id, updated_at, archived FROM {t}")
        return {int(r["id"]): (r["updated_at"], bool(r["archived"])) for r in rows}
