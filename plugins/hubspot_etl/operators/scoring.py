"""The ``scoring`` task group: stage mapping, units, score history, snapshot registry.

Wired downstream of ``finalize`` in every object DAG whose config has ``scoring.enabled``::

    scoring.create_tables >> scoring.prepare >> scoring.stage_mapping
        >> scoring.units >> scoring.history >> scoring.finish

* ``create_tables``, ``stage_mapping``, ``units``, ``history`` and ``finish`` run the plain SQL
  files ``include/sql/<dialect>/scoring_*.sql`` through Airflow's SQL operators
  (``SQLExecuteQueryOperator`` on PostgreSQL, ``BigQueryInsertJobOperator`` on BigQuery);
  the files are templated only for the schema/dataset, the snapshot id is a bound parameter
  pulled from ``prepare``'s XCom.
* ``prepare`` (Python) derives the snapshot from the DAG run (``<dag_id>:<run_id>``, so a
  re-run replaces that snapshot), seeds the stage mapping file insert-only, copies the live
  records into the snapshot's input tables through ``_hubspot_column_map`` and opens the
  snapshot in ``hs_snapshot_registry``.

The group reads the warehouse only, never HubSpot. A failing scoring task marks the
snapshot ``failed`` in the registry.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator
from airflow.sdk import BaseOperator, TaskGroup

from hubspot_etl.config import ObjectConfig
from hubspot_etl.notifications import failure_callbacks
from hubspot_etl.scoring.mapping import load_mapping
from hubspot_etl.scoring.sqlfiles import read_sql
from hubspot_etl.scoring.store import store_for

log = logging.getLogger(__name__)

GROUP_ID = "scoring"
SQL_STEPS = ("stage_mapping", "units", "history", "finish")
SNAPSHOT_ID_TEMPLATE = "{{ ti.xcom_pull(task_ids='scoring.prepare')['snapshot_id'] }}"


def snapshot_id_for(dag_id: str, run_id: str) -> str:
    """The snapshot of one DAG run (stable across re-runs of that run)."""
    return f"{dag_id}:{run_id}"


class EndpointBigQueryInsertJobOperator(BigQueryInsertJobOperator):
    """``BigQueryInsertJobOperator`` that builds its hook with :class:`EndpointBigQueryHook`.

    The provider's operator instantiates ``BigQueryHook`` itself (in ``submit_job`` and
    ``get_job_status``) and has no parameter for a hook class or an API endpoint, so a
    connection pointing at an emulator (``api_endpoint``/``anonymous`` extras) would be sent
    to Google. This subclass swaps the module's ``BigQueryHook`` name for the subclass while
    the task executes (one task per process, so nothing else sees the swap). Everything else
    is the provider's behaviour.
    """

    def execute(self, context: Any) -> Any:
        import airflow.providers.google.cloud.operators.bigquery as provider

        from hubspot_etl.hooks.bigquery import EndpointBigQueryHook

        original = provider.BigQueryHook
        provider.BigQueryHook = EndpointBigQueryHook  # type: ignore[misc]
        try:
            return super().execute(context)
        finally:
            provider.BigQueryHook = original  # type: ignore[misc]


class ScoringPrepareOperator(BaseOperator):
    """Seed the mapping, materialise the snapshot's inputs, open the snapshot."""

    ui_color = "#c5e1a5"

    def __init__(self, *, object_config: ObjectConfig, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "prepare")
        super().__init__(**kwargs)
        self.object_config = object_config

    def execute(self, context: Any) -> dict[str, Any]:
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
        ti = context.get("ti")
        if ti is None:
            return
        try:
            store_for(cfg.destination).mark_failed(snapshot_id_for(ti.dag_id, ti.run_id))
        except Exception:  # the task failure is what matters; never mask it
            log.exception("could not mark the scoring snapshot failed")

    return callback


def sql_params(cfg: ObjectConfig) -> dict[str, Any]:
    """The only template values of the SQL files: the schema (PostgreSQL) or dataset (BigQuery)."""
    d = cfg.destination
    dataset_ref = f"{d.project}.{d.schema_name}" if d.project else d.schema_name
    return {"schema": d.schema_name, "dataset_ref": dataset_ref}


def _sql_task(cfg: ObjectConfig, step: str, **kwargs: Any) -> BaseOperator:
    d = cfg.destination
    if d.type == "bigquery":
        query: dict[str, Any] = {"query": read_sql("bigquery", f"scoring_{step}"), "useLegacySql": False}
        if step != "tables":
            query["parameterMode"] = "NAMED"
            query["queryParameters"] = [
                {
                    "name": "snapshot_id",
                    "parameterType": {"type": "STRING"},
                    "parameterValue": {"value": SNAPSHOT_ID_TEMPLATE},
                }
            ]
        return EndpointBigQueryInsertJobOperator(
            task_id=step if step != "tables" else "create_tables",
            gcp_conn_id=d.conn_id,
            project_id=d.project,
            location=d.location,
            configuration={"query": query},
            params=sql_params(cfg),
            **kwargs,
        )
    return SQLExecuteQueryOperator(
        task_id=step if step != "tables" else "create_tables",
        conn_id=d.conn_id,
        sql=read_sql("postgres", f"scoring_{step}"),
        parameters=None if step == "tables" else {"snapshot_id": SNAPSHOT_ID_TEMPLATE},
        split_statements=True,
        return_last=False,
        params=sql_params(cfg),
        **kwargs,
    )


def scoring_task_group(cfg: ObjectConfig) -> TaskGroup:
    """The ``scoring`` group of one object DAG (call inside the DAG context)."""
    callbacks = [*failure_callbacks(cfg.on_failure_callbacks), _mark_failed(cfg)]
    common = {"on_failure_callback": callbacks, "retries": cfg.retries}
    with TaskGroup(group_id=GROUP_ID, tooltip="Score the pipeline of this snapshot") as group:
        tasks = [_sql_task(cfg, "tables", **common), ScoringPrepareOperator(object_config=cfg, **common)]
        tasks += [_sql_task(cfg, step, **common) for step in SQL_STEPS]
        for upstream, downstream in zip(tasks, tasks[1:], strict=False):
            upstream >> downstream
    return group
