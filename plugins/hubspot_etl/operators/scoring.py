"""The ``scoring`` task group: stage mapping, units, score history, snapshot registry.

Wired downstream of ``finalize`` in every object DAG whose config has ``scoring.enabled``::

    scoring.create_tables >> scoring.prepare >> scoring.stage_mapping
        >> scoring.units >> scoring.history >> scoring.finish

* ``create_tables``, ``stage_mapping``, ``units``, ``history`` and ``finish`` run the plain SQL
  files ``hubspot_etl/resources/sql/<dialect>/scoring_*.sql``. Airflow renders them (the only
  template value is the schema or dataset; the task's "Rendered Template" shows the SQL that
  ran), and the destination's warehouse adapter runs each statement with the snapshot id bound
  as a query parameter, pulled from ``prepare``'s XCom.
* ``prepare`` derives the snapshot from the DAG run (``<dag_id>:<run_id>``, so a re-run
  replaces that snapshot), seeds the stage mapping insert-only, copies the live records into
  the snapshot's input tables through ``_hubspot_column_map`` and opens the snapshot in
  ``hs_snapshot_registry``.

The group reads the warehouse only, never HubSpot. A failing scoring task marks the snapshot
``failed`` in the registry. Warehouse client libraries are imported when a task runs, never
when the DAG file is parsed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, TaskGroup

from hubspot_etl.notifications import failure_callbacks
from hubspot_etl.scoring.sqlfiles import read_sql

if TYPE_CHECKING:
    from hubspot_etl.config import ObjectConfig

log = logging.getLogger(__name__)

GROUP_ID = "scoring"
SQL_STEPS = ("stage_mapping", "units", "history", "finish")
PREPARE_TASK_ID = f"{GROUP_ID}.prepare"


def snapshot_id_for(dag_id: str, run_id: str) -> str:
    """The snapshot of one DAG run (stable across re-runs of that run)."""
    return f"{dag_id}:{run_id}"


def sql_params(cfg: ObjectConfig) -> dict[str, Any]:
    """The only template values of the SQL files: the schema (PostgreSQL, Snowflake) or dataset (BigQuery)."""
    d = cfg.destination
    schema = d.tables_schema  # the native tables (schema_style: fivetran keeps views in d.schema_name)
    dataset_ref = f"{d.project}.{schema}" if d.project else schema
    return {"schema": schema, "dataset_ref": dataset_ref}


class ScoringSqlOperator(BaseOperator):
    """Run one scoring SQL file on the object's destination, statement by statement.

    ``create_tables`` binds nothing; the other steps bind the snapshot id that ``prepare``
    returned (a query parameter, never pasted into the SQL).
    """

    template_fields = ("sql",)
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#e6ee9c"

    def __init__(self, *, object_config: ObjectConfig, step: str, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "create_tables" if step == "tables" else step)
        super().__init__(**kwargs)
        self.object_config = object_config
        self.step = step
        self.sql = read_sql(object_config.destination.type, step)

    def execute(self, context: Any) -> dict[str, Any]:
        from hubspot_etl.operators.failures import fail_fast_on_setup_errors

        with fail_fast_on_setup_errors(self.object_config):
            return self._run(context)

    def _run(self, context: Any) -> dict[str, Any]:
        from hubspot_etl.scoring.sqlfiles import split_statements
        from hubspot_etl.scoring.store import store_for

        snapshot_id = None
        if self.step != "tables":
            prepared = context["ti"].xcom_pull(task_ids=PREPARE_TASK_ID) or {}
            snapshot_id = prepared.get("snapshot_id")
            if not snapshot_id:
                raise RuntimeError(f"{self.task_id}: {PREPARE_TASK_ID} returned no snapshot id")
        store = store_for(self.object_config.destination)
        bound = {} if snapshot_id is None else {"snapshot_id": snapshot_id}
        statements = split_statements(self.sql)
        for statement in statements:
            store.run(statement, bound)
        log.info("scoring %s: %d statements on %s", self.step, len(statements), store.dialect)
        return {"step": self.step, "statements": len(statements), "snapshot_id": snapshot_id}

    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage (optional provider): the ``hs_*`` tables the SQL file reads and writes."""
        from hubspot_etl.operators.lineage import scoring_lineage

        return scoring_lineage(self.object_config, sql=self.sql)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_start()


class ScoringPrepareOperator(BaseOperator):
    """Seed the mapping, materialise the snapshot's inputs, open the snapshot."""

    ui_color = "#c5e1a5"

    def __init__(self, *, object_config: ObjectConfig, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "prepare")
        super().__init__(**kwargs)
        self.object_config = object_config

    def execute(self, context: Any) -> dict[str, Any]:
        from hubspot_etl.operators.failures import fail_fast_on_setup_errors

        with fail_fast_on_setup_errors(self.object_config):
            self._prepared = self._prepare(context)  # kept for the OpenLineage complete facets
        return self._prepared

    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage (optional provider): the synced tables read, the scoring tables filled."""
        from hubspot_etl.operators.lineage import scoring_lineage

        return scoring_lineage(self.object_config)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start, with the input rows this snapshot copied."""
        from hubspot_etl.operators.lineage import scoring_lineage

        return scoring_lineage(self.object_config, prepared=getattr(self, "_prepared", None))

    def _prepare(self, context: Any) -> dict[str, Any]:
        from hubspot_etl.scoring.mapping import load_mapping
        from hubspot_etl.scoring.store import store_for

        cfg = self.object_config
        ti = context["ti"]
        dag_run = context.get("dag_run")
        snapshot_id = snapshot_id_for(ti.dag_id, ti.run_id)
        snapshot_at = (
            context.get("data_interval_end")
            or getattr(dag_run, "run_after", None)
            or getattr(dag_run, "logical_date", None)
            or datetime.now(UTC)
        )
        mapping = load_mapping(cfg.scoring.stage_mapping_file, cfg.scoring)
        store = store_for(cfg.destination)
        seeded = store.seed_mapping(mapping)
        store.clear_inputs(snapshot_id, prefix=f"{ti.dag_id}:")
        counts = store.materialize_inputs(snapshot_id)
        fresh = store.freshness()
        unit = cfg.scoring.unit
        if unit == "companies" and fresh["deals_synced_at"] is None:
            log.warning(
                "scoring %s: deals were never synced; every company scores by lifecycle stage", snapshot_id
            )
        if fresh["owners_synced_at"] is None:
            log.warning("scoring %s: owners were never synced (run hubspot_owners)", snapshot_id)
        ingest_status, ingest_at = store.ingest_status(ti.run_id)
        n_input = counts["hs_scoring_input_companies" if unit == "companies" else "hs_scoring_input_deals"]
        store.open_snapshot(
            snapshot_id=snapshot_id,
            source="sync",
            unit=unit,
            snapshot_at=snapshot_at,
            config_version=mapping.version,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            ingest_status=ingest_status,
            ingest_finished_at=ingest_at,
            num_input_units=n_input,
            **fresh,
        )
        log.info("scoring %s: %s input rows %s, %d mapping rows seeded", snapshot_id, unit, counts, seeded)
        return {
            "snapshot_id": snapshot_id,
            "snapshot_at": snapshot_at.isoformat(),
            "unit": unit,
            "config_version": mapping.version,
            "inputs": counts,
            "mapping_seeded": seeded,
        }


def _mark_failed(cfg: ObjectConfig):
    def callback(context: Any) -> None:
        from hubspot_etl.scoring.store import store_for

        ti = context.get("ti")
        if ti is None:
            return
        try:
            store_for(cfg.destination).mark_failed(snapshot_id_for(ti.dag_id, ti.run_id))
        except Exception:  # the task failure is what matters; never mask it
            log.exception("could not mark the scoring snapshot failed")

    return callback


def scoring_task_group(cfg: ObjectConfig) -> TaskGroup:
    """The ``scoring`` group of one object DAG (call inside the DAG context)."""
    callbacks = [*failure_callbacks(cfg.on_failure_callbacks), _mark_failed(cfg)]
    # params are the SQL files' template values; they must be passed at construction (Airflow
    # merges an operator's params with the DAG's before __init__ runs)
    common = {"on_failure_callback": callbacks, "retries": cfg.retries, "params": sql_params(cfg)}
    with TaskGroup(group_id=GROUP_ID, tooltip="Score the pipeline of this snapshot") as group:
        tasks: list[BaseOperator] = [
            ScoringSqlOperator(object_config=cfg, step="tables", **common),
            ScoringPrepareOperator(object_config=cfg, **common),
        ]
        tasks += [ScoringSqlOperator(object_config=cfg, step=step, **common) for step in SQL_STEPS]
        for upstream, downstream in zip(tasks, tasks[1:], strict=False):
            upstream >> downstream
    return group
