"""One Airflow DAG per HubSpot object in ``hubspot_sync.yaml``, plus ``hubspot_owners``.

This file only wires tasks: the config module reads the YAML, the operators run the
steps. Parsing reads one local YAML file; it makes no network or database call. When a
task runs, Airflow's parsing context names its DAG and the other DAGs are skipped.

    prepare >> extract >> load >> associations >> reconcile [>> history] >> finalize >> publish
                                                                            finalize >> scoring

``history`` is added when the object's config sets ``history``, ``scoring`` (a task group)
when it enables ``scoring``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Asset, Param, get_parsing_context
from hubspot_etl.compat import CronDataIntervalTimetable
from hubspot_etl.config import ObjectConfig, OwnersConfig, SyncSettings, load_config
from hubspot_etl.dag_docs import object_dag_doc, owners_dag_doc
from hubspot_etl.notifications import failure_callbacks
from hubspot_etl.operators import (
    HubSpotAssociationsOperator,
    HubSpotExtractOperator,
    HubSpotFinalizeOperator,
    HubSpotHistoryOperator,
    HubSpotLoadOperator,
    HubSpotOwnersOperator,
    HubSpotPrepareOperator,
    HubSpotPublishOperator,
    HubSpotReconcileOperator,
)
from hubspot_etl.operators.scoring import scoring_task_group
from hubspot_etl.operators.sync import release_lease_on_failure

TRIGGER_PARAMS = {
    "full_load": Param(
        False, type="boolean", title="Full load", description="List every record and reconcile deletes."
    ),
    "dry_run": Param(
        False,
        type="boolean",
        title="Dry run",
        description="Extract and report; write nothing to the warehouse.",
    ),
    "limit": Param(
        None,
        type=["null", "integer"],
        minimum=1,
        title="Limit",
        description="Stop after this many records (for trying things out).",
    ),
    "since": Param(
        None,
        type=["null", "string"],
        format="date-time",
        title="Since",
        description="Override the incremental window start (ISO-8601).",
    ),
}


def _default_args(settings: SyncSettings) -> dict:
    return {
        "owner": "data-engineering",
        "retries": settings.retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=settings.max_retry_delay_seconds),
        "execution_timeout": timedelta(minutes=settings.execution_timeout_minutes),
        "on_failure_callback": failure_callbacks(settings.on_failure_callbacks),
    }


def _timetable(settings: SyncSettings) -> CronDataIntervalTimetable | None:
    # A cron string alone gives no data interval in Airflow 3; incremental windows need one.
    return CronDataIntervalTimetable(settings.schedule, timezone="UTC") if settings.schedule else None


def object_asset(settings: SyncSettings, key: str) -> Asset:
    """The Asset a sync updates. Its name is its URI, which names the destination: a name
    bound to another URI (after a schema or environment change) would make Airflow reject
    the asset as inactive."""
    destination = settings.destination
    uri = f"x-hubspot://{destination.type}/{destination.conn_id}/{destination.schema_name}/{key}"
    return Asset(name=uri, uri=uri)


def build_object_dag(cfg: ObjectConfig, config_source: str) -> DAG:
    """The sync DAG of one HubSpot object."""
    asset = object_asset(cfg, cfg.key)
    with DAG(
        dag_id=cfg.dag_id,
        description=f"Sync HubSpot {cfg.object_type} into {cfg.destination.type} {cfg.destination.schema_name}",
        schedule=_timetable(cfg),
        start_date=cfg.start_date,
        catchup=False,
        max_active_runs=1,
        default_args={
            **_default_args(cfg),
            "on_failure_callback": [
                *failure_callbacks(cfg.on_failure_callbacks),
                release_lease_on_failure(cfg),
            ],
        },
        params=TRIGGER_PARAMS,
        tags=sorted({"hubspot", cfg.key, cfg.destination.type, *cfg.tags}),
        doc_md=object_dag_doc(cfg, config_source, asset.uri),
    ) as dag:
        api = {"pool": cfg.pool, "pool_slots": cfg.pool_slots}
        prepare = HubSpotPrepareOperator(object_config=cfg, **api)
        extract = HubSpotExtractOperator(object_config=cfg, **api)
        load = HubSpotLoadOperator(object_config=cfg)
        associations = HubSpotAssociationsOperator(object_config=cfg, **api)
        reconcile = HubSpotReconcileOperator(object_config=cfg, **api)
        finalize = HubSpotFinalizeOperator(object_config=cfg)
        publish = HubSpotPublishOperator(report_task_id=finalize.task_id, outlets=[asset])
        prepare >> extract >> load >> associations >> reconcile
        if cfg.history:
            # After reconcile: a full run also reads the records reconcile flagged archived.
            reconcile >> HubSpotHistoryOperator(object_config=cfg, **api) >> finalize
        else:
            reconcile >> finalize
        finalize >> publish
        if cfg.scoring.enabled:
            finalize >> scoring_task_group(cfg)
    return dag


def build_owners_dag(cfg: OwnersConfig, config_source: str) -> DAG:
    """The owners DAG: active and archived owners into the ``owner`` table."""
    asset = object_asset(cfg, "owners")
    with DAG(
        dag_id=cfg.dag_id,
        description="Sync HubSpot owners, active and archived",
        schedule=_timetable(cfg),
        start_date=cfg.start_date,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(cfg),
        params={"dry_run": TRIGGER_PARAMS["dry_run"]},
        tags=sorted({"hubspot", "owners", cfg.destination.type, *cfg.tags}),
        doc_md=owners_dag_doc(cfg, config_source, asset.uri),
    ) as dag:
        sync = HubSpotOwnersOperator(object_config=cfg, pool=cfg.pool)
        sync >> HubSpotPublishOperator(report_task_id=sync.task_id, outlets=[asset])
    return dag


def build_all() -> dict[str, DAG]:
    config = load_config(dag_file=__file__)
    wanted = get_parsing_context().dag_id
    dags: dict[str, DAG] = {}
    for cfg in config.objects:
        if cfg.enabled and wanted in (None, cfg.dag_id):
            dags[cfg.dag_id] = build_object_dag(cfg, config.source)
    if config.owners.enabled and wanted in (None, config.owners.dag_id):
        dags[config.owners.dag_id] = build_owners_dag(config.owners, config.source)
    return dags


globals().update(build_all())
