# ruff: noqa: S608  -- identifiers are quoted by the dialect; every value is a bound parameter
"""Warehouse access for the scoring steps that SQL files cannot express.

* seed ``hs_stage_mapping`` from the mapping file (insert-only);
* copy the live (not deleted, not merged) companies, deals, company-deal links and deal
  stages into the snapshot's ``hs_scoring_input_*`` tables. Property columns are looked up
  in ``_hubspot_column_map`` (names are sanitized), association tables in
  ``_hubspot_association_tables``; a missing table or column reads as no rows / NULL;
* open the snapshot in ``hs_snapshot_registry``.

One class for every destination: it runs on the destination's warehouse dialect, with
``@name`` placeholders bound as query parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hubspot_etl.scoring.mapping import StageMapping
from hubspot_etl.warehouse.dialect import P
from hubspot_etl.warehouse.naming import pipeline_table_names, table_name_for_object

log = logging.getLogger(__name__)

INPUT_TABLES = (
    "hs_scoring_input_companies",
    "hs_scoring_input_deals",
    "hs_scoring_input_company_deal",
    "hs_scoring_input_stages",
)

#: what the UI shows of ``hs_snapshot_registry`` (resources/sql/*/scoring_tables.sql)
REGISTRY_COLUMNS = (
    "snapshot_id",
    "source",
    "unit",
    "dag_id",
    "run_id",
    "snapshot_at",
    "ingest_status",
    "scoring_status",
    "scoring_started_at",
    "scoring_finished_at",
    "num_input_units",
    "num_units",
    "num_history_rows",
)


class ScoringStore:
    """The scoring tables of one destination (``warehouse``: a :class:`~hubspot_etl.warehouse.core.SqlWarehouse`)."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse
        self.d = warehouse.d
        self.dialect = self.d.name

    def t(self, table: str) -> str:
        return self.d.table(table)

    def col(self, name: str) -> str:
        return self.d.quote(name)

    def now(self) -> str:
        return self.d.now

    def cast(self, expr: str, kind: str) -> str:
        if kind == "owner":
            return self.d.text_to_bigint(expr)
        return f"CAST({expr} AS {self.d.type_sql('text' if kind == 'text' else 'numeric')})"

    def table_exists(self, table: str) -> bool:
        with self.d.session() as s:
            return self.d.table_exists(s, table)

    def run(self, statement: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.d.session() as s:
            return s.execute(statement, params).rows

    # -- shared logic
    def column_map(self, object_name: str) -> dict[str, str]:
        if not self.table_exists("_hubspot_column_map"):
            return {}
        rows = self.run(
            f"SELECT property_name, column_name FROM {self.t('_hubspot_column_map')} "
            "WHERE object_name = @o AND NOT spilled",
            {"o": object_name},
        )
        return {r["property_name"]: r["column_name"] for r in rows}

    def _prop(self, columns: Mapping[str, str], prop: str, kind: str) -> str:
        column = columns.get(prop)
        return self.cast(self.col(column), kind) if column else self.cast("NULL", kind)

    def seed_mapping(self, mapping: StageMapping) -> int:
        """Insert the file's rows whose key is not in ``hs_stage_mapping`` yet (source 'file')."""
        added = 0
        for row in mapping.rows:
            added += self._insert_missing_mapping(row)
        return added

    def _insert_missing_mapping(self, row: Any) -> int:
        before = self.run(
            f"SELECT COUNT(*) AS n FROM {self.t('hs_stage_mapping')} "
            "WHERE stage_type = @t AND pipeline_id = @p AND stage_id = @s",
            {"t": row.stage_type, "p": row.pipeline_id, "s": row.stage_id},
        )[0]["n"]
        if before:
            return 0
        self.run(
            f"INSERT INTO {self.t('hs_stage_mapping')} (stage_type, pipeline_id, stage_id, label, "
            "combined_stage, score, probability, source, created_at, updated_at) "
            f"VALUES (@t, @p, @s, @s, @c, {self.cast('@score', 'numeric')}, NULL, 'file', "
            f"{self.now()}, {self.now()})",
            {
                "t": row.stage_type,
                "p": row.pipeline_id,
                "s": row.stage_id,
                "c": row.combined_stage,
                "score": str(row.score),
            },
        )
        return 1

    def clear_inputs(self, snapshot_id: str, prefix: str | None = None) -> None:
        """Delete the inputs of ``snapshot_id`` (and of older snapshots starting with ``prefix``)."""
        for table in INPUT_TABLES:
            if prefix:
                self.run(
                    f"DELETE FROM {self.t(table)} WHERE snapshot_id = @s OR SUBSTR(snapshot_id, 1, LENGTH(@p)) = @p",
                    {"s": snapshot_id, "p": prefix},
                )
            else:
                self.run(f"DELETE FROM {self.t(table)} WHERE snapshot_id = @s", {"s": snapshot_id})

    def materialize_inputs(self, snapshot_id: str) -> dict[str, int]:
        """Copy live companies, deals, links and stages into the snapshot's input tables."""
        live = "NOT COALESCE(_is_deleted, false) AND merged_into_id IS NULL"
        counts: dict[str, int] = {}
        company, deal = table_name_for_object("companies"), table_name_for_object("deals")
        if self.table_exists(company):
            cols = self.column_map("companies")
            self.run(
                f"INSERT INTO {self.t('hs_scoring_input_companies')} (snapshot_id, id, owner_id, lifecycle_stage) "
                f"SELECT @s, id, {self._prop(cols, 'hubspot_owner_id', 'owner')}, "
                f"{self._prop(cols, 'lifecyclestage', 'text')} FROM {self.t(company)} WHERE {live}",
                {"s": snapshot_id},
            )
        if self.table_exists(deal):
            cols = self.column_map("deals")
            self.run(
                f"INSERT INTO {self.t('hs_scoring_input_deals')} "
                "(snapshot_id, id, owner_id, pipeline_id, stage_id, amount) "
                f"SELECT @s, id, {self._prop(cols, 'hubspot_owner_id', 'owner')}, "
                f"{self._prop(cols, 'pipeline', 'text')}, {self._prop(cols, 'dealstage', 'text')}, "
                f"{self._prop(cols, 'amount', 'numeric')} FROM {self.t(deal)} WHERE {live}",
                {"s": snapshot_id},
            )
        links = self._link_selects()
        if links:
            self.run(
                f"INSERT INTO {self.t('hs_scoring_input_company_deal')} (snapshot_id, company_id, deal_id) "
                f"SELECT DISTINCT @s, company_id, deal_id FROM ({' UNION ALL '.join(links)}) AS l "
                f"WHERE company_id IN (SELECT id FROM {self.t('hs_scoring_input_companies')} WHERE snapshot_id = @s) "
                f"AND deal_id IN (SELECT id FROM {self.t('hs_scoring_input_deals')} WHERE snapshot_id = @s)",
                {"s": snapshot_id},
            )
        self.copy_stages(snapshot_id)
        for table in INPUT_TABLES:
            counts[table] = self.run(
                f"SELECT COUNT(*) AS n FROM {self.t(table)} WHERE snapshot_id = @s", {"s": snapshot_id}
            )[0]["n"]
        return counts

    def copy_stages(self, snapshot_id: str) -> None:
        stage_table = pipeline_table_names("deals")[1]
        if self.table_exists(stage_table):
            self.run(
                f"INSERT INTO {self.t('hs_scoring_input_stages')} (snapshot_id, pipeline_id, stage_id, label, "
                "display_order, probability, is_closed) "
                f"SELECT @s, pipeline_id, id, label, display_order, probability, is_closed FROM {self.t(stage_table)}",
                {"s": snapshot_id},
            )

    def _link_selects(self) -> list[str]:
        if not self.table_exists("_hubspot_association_tables"):
            return []
        rows = self.run(
            f"SELECT table_name, from_object, to_object FROM {self.t('_hubspot_association_tables')}"
        )
        selects = []
        for r in rows:
            pair = (table_name_for_object(r["from_object"]), table_name_for_object(r["to_object"]))
            if not self.table_exists(r["table_name"]):
                continue
            if pair == ("company", "deal"):
                selects.append(
                    f"SELECT from_id AS company_id, to_id AS deal_id FROM {self.t(r['table_name'])}"
                )
            elif pair == ("deal", "company"):
                selects.append(
                    f"SELECT to_id AS company_id, from_id AS deal_id FROM {self.t(r['table_name'])}"
                )
        return selects

    def freshness(self) -> dict[str, Any]:
        """When deals and owners were last synced (None: never)."""
        out: dict[str, Any] = {"deals_synced_at": None, "owners_synced_at": None}
        if self.table_exists("_hubspot_sync_state"):
            rows = self.run(
                f"SELECT watermark FROM {self.t('_hubspot_sync_state')} WHERE object_name = 'deals'"
            )
            out["deals_synced_at"] = rows[0]["watermark"] if rows else None
        if self.table_exists("owner"):
            out["owners_synced_at"] = self.run(f"SELECT MAX(_synced_at) AS m FROM {self.t('owner')}")[0]["m"]
        return out

    def ingest_status(self, run_id: str) -> tuple[str | None, Any]:
        """Status and end of the sync run (``_hubspot_run_report``) that this snapshot follows."""
        if not self.table_exists("_hubspot_run_report"):
            return None, None
        rows = self.run(
            f"SELECT status, finished_at FROM {self.t('_hubspot_run_report')} WHERE run_id = @r",
            {"r": run_id},
        )
        return (rows[0]["status"], rows[0]["finished_at"]) if rows else (None, None)

    def open_snapshot(
        self,
        *,
        snapshot_id: str,
        source: str,
        unit: str,
        snapshot_at: datetime,
        config_version: str,
        dag_id: str | None = None,
        run_id: str | None = None,
        ingest_status: str | None = None,
        ingest_finished_at: datetime | None = None,
        deals_synced_at: datetime | None = None,
        owners_synced_at: datetime | None = None,
        num_input_units: int | None = None,
    ) -> None:
        """(Re)open the snapshot's registry row: status 'running', counts cleared."""
        self.run(f"DELETE FROM {self.t('hs_snapshot_registry')} WHERE snapshot_id = @s", {"s": snapshot_id})
        ts = lambda v: P(v, "timestamp")  # noqa: E731
        self.run(
            f"INSERT INTO {self.t('hs_snapshot_registry')} (snapshot_id, source, unit, dag_id, run_id, "
            "snapshot_at, ingest_status, ingest_finished_at, deals_synced_at, owners_synced_at, "
            "scoring_status, scoring_started_at, num_input_units, config_version, updated_at) VALUES "
            "(@s, @source, @unit, @dag, @run, @at, @ingest, @ingest_at, @deals_at, @owners_at, 'running', "
            f"{self.now()}, @n, @version, {self.now()})",
            {
                "s": snapshot_id,
                "source": source,
                "unit": unit,
                "dag": P(dag_id, "text"),
                "run": P(run_id, "text"),
                "at": ts(snapshot_at),
                "ingest": P(ingest_status, "text"),
                "ingest_at": ts(ingest_finished_at),
                "deals_at": ts(deals_synced_at),
                "owners_at": ts(owners_synced_at),
                "n": P(num_input_units, "bigint"),
                "version": config_version,
            },
        )

    def score_history(self, snapshots: int = 30) -> list[dict[str, Any]]:
        """``hs_pipeline_score_history`` rows of the newest ``snapshots`` snapshots (for the UI)."""
        if not self.table_exists("hs_pipeline_score_history"):
            return []
        history = self.t("hs_pipeline_score_history")
        return self.run(
            "SELECT H.snapshot_id, H.snapshot_at, H.unit, H.owner_id, H.combined_stage, H.num_units, "
            f"H.total_score, H.total_amount, H.weighted_amount FROM {history} H "
            f"JOIN (SELECT snapshot_id, MAX(snapshot_at) AS newest FROM {history} GROUP BY snapshot_id "
            f"ORDER BY newest DESC LIMIT {int(snapshots)}) N ON N.snapshot_id = H.snapshot_id "
            "ORDER BY H.snapshot_at, H.owner_id, H.combined_stage"
        )

    def snapshot_registry(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``hs_snapshot_registry`` rows, newest first (for the UI)."""
        if not self.table_exists("hs_snapshot_registry"):
            return []
        return self.run(
            f"SELECT {', '.join(REGISTRY_COLUMNS)} FROM {self.t('hs_snapshot_registry')} "
            f"ORDER BY snapshot_at DESC LIMIT {int(limit)}"
        )

    def mark_failed(self, snapshot_id: str) -> None:
        if self.table_exists("hs_snapshot_registry"):
            self.run(
                f"UPDATE {self.t('hs_snapshot_registry')} SET scoring_status = 'failed', "
                f"scoring_finished_at = {self.now()}, updated_at = {self.now()} WHERE snapshot_id = @s",
                {"s": snapshot_id},
            )


def store_for(destination: Any) -> ScoringStore:
    """The store of a config ``Destination``."""
    from hubspot_etl.warehouse.registry import get_warehouse

    return ScoringStore(get_warehouse(destination))
