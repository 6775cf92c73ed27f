"""Operators for the steps of an object sync.

Each operator is thin: it turns Airflow's task context into a
:class:`~hubspot_etl.sync.context.StepContext`, reads the previous steps' XComs into their
typed contracts (:mod:`hubspot_etl.sync.contracts`: the plan, the manifest, the reports) and
calls the step's function (:mod:`hubspot_etl.sync.prepare`, :mod:`~hubspot_etl.sync.extract`
...). The result is turned back into a JSON-able dict here and pushed as the task's XCom
(never the token: the hook redacts it and no step result carries connection data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from hubspot_etl.config import ObjectConfig
    from hubspot_etl.sync.context import StepContext

log = logging.getLogger(__name__)

PREPARE, EXTRACT, LOAD, ASSOCIATIONS, HISTORY, RECONCILE, FINALIZE = (
    "prepare",
    "extract",
    "load",
    "associations",
    "history",
    "reconcile",
    "finalize",
)
OWNERS = "sync_owners"


def _run_type(context: Any) -> str:
    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None) or "manual"
    return str(getattr(run_type, "value", run_type))


def build_step_context(cfg: ObjectConfig, context: Any) -> StepContext:
    """A StepContext from Airflow's task context (tolerates runs without a data interval)."""
    from hubspot_etl.sync.context import StepContext

    ti = context["ti"]
    return StepContext(
        cfg=cfg,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        run_type=_run_type(context),
        try_number=int(getattr(ti, "try_number", 1) or 1),
        params=dict(context.get("params") or {}),
        interval_start=context.get("data_interval_start"),
        interval_end=context.get("data_interval_end"),
    )


def _step_function(step: str) -> Callable[..., Any]:
    """The function of a step (its module is imported when the task runs, never at DAG parse)."""
    from hubspot_etl.sync import associations, extract, finalize, history, load, owners, prepare, reconcile

    return {
        PREPARE: prepare.prepare,
        EXTRACT: extract.extract,
        LOAD: load.load,
        ASSOCIATIONS: associations.associations,
        HISTORY: history.history,
        RECONCILE: reconcile.reconcile,
        FINALIZE: finalize.finalize,
        OWNERS: owners.sync_owners,
    }[step]


def _from_xcom(task_id: str, value: Mapping[str, Any]) -> Any:
    """The XCom of an upstream step as its contract: a Plan, a Manifest or a step's report."""
    from hubspot_etl.sync import contracts

    contract = {
        PREPARE: contracts.Plan,
        EXTRACT: contracts.Manifest,
        LOAD: contracts.LoadReport,
        ASSOCIATIONS: contracts.AssociationsReport,
        HISTORY: contracts.HistoryReport,
        RECONCILE: contracts.ReconcileReport,
    }[task_id]
    return contract.from_dict(value)


def _to_xcom(result: Any) -> dict[str, Any]:
    """A step's result as its XCom (a run report is a dict already, returned as it is)."""
    return result if isinstance(result, dict) else result.as_dict()


class HubSpotSyncStepOperator(BaseOperator):
    """Base class: one step of one object's sync. Subclasses name the step and its inputs."""

    step: str = ""
    inputs: Sequence[str] = ()
    ui_color = "#ff7a59"  # HubSpot orange

    def __init__(self, *, object_config: ObjectConfig, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", self.step)
        super().__init__(**kwargs)
        self.object_config = object_config

    def execute(self, context: Any) -> dict[str, Any]:
        from hubspot_etl.operators.failures import fail_fast_on_setup_errors

        ctx = build_step_context(self.object_config, context)
        ti = context["ti"]
        args = [_from_xcom(task_id, self._pull(ti, task_id)) for task_id in self.inputs]
        with fail_fast_on_setup_errors(self.object_config):
            result = _to_xcom(_step_function(self.step)(ctx, *args))
        self._keep_for_lineage(ctx, dict(zip(self.inputs, args, strict=True)), result)
        return result

    # ---------------------------------------------------------------- OpenLineage (optional)
    def get_openlineage_facets_on_start(self) -> Any:
        """The OpenLineage provider's start facets: the datasets the config names
        (:mod:`hubspot_etl.operators.lineage`); None where the provider is not installed."""
        return self._lineage(None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The complete facets: dataset names and row counts from what ``execute`` kept."""
        return self._lineage(getattr(self, "_lineage_run", None))

    def _keep_for_lineage(self, ctx: StepContext, inputs: dict[str, Any], result: dict[str, Any]) -> None:
        from hubspot_etl.operators.lineage import StepRun

        self._lineage_run = StepRun(ctx, inputs, result)

    def _lineage(self, run: Any) -> Any:
        from hubspot_etl.operators import lineage

        if not lineage.provider_available():
            return None
        inputs, outputs = lineage.step_datasets(self.step, self.object_config, run)
        return lineage.operator_lineage(inputs, outputs)

    def _pull(self, ti: Any, task_id: str) -> dict[str, Any]:
        value = ti.xcom_pull(task_ids=self._sibling(task_id))
        if value is None:
            raise RuntimeError(
                f"{self.task_id}: no result from upstream task {task_id!r}; run the whole DAG run again"
            )
        return value

    def _sibling(self, task_id: str) -> str:
        group = self.task_id.rsplit(".", 1)[0] + "." if "." in self.task_id else ""
        return group + task_id


class HubSpotPrepareOperator(HubSpotSyncStepOperator):
    """Properties, pipelines and table DDL; chooses the mode (full/incremental/backfill) and window."""

    step = PREPARE


class HubSpotExtractOperator(HubSpotSyncStepOperator):
    """Streams the window's records from HubSpot into staged NDJSON parts.

    A full run whose ``full_load_method`` picks HubSpot's Exports API starts the export and
    defers: :class:`~hubspot_etl.triggers.export.HubSpotExportTrigger` waits for it in the
    triggerer (no worker or pool slot is held), then :meth:`execute_complete` stages the file
    (:mod:`hubspot_etl.sync.bulk_export`).
    """

    step = EXTRACT
    inputs = (PREPARE,)

    def execute(self, context: Any) -> dict[str, Any]:
        from hubspot_etl.operators.failures import fail_fast_on_setup_errors
        from hubspot_etl.sync import bulk_export
        from hubspot_etl.triggers.export import HubSpotExportTrigger

        ctx, plan = self._context_and_plan(context)
        with fail_fast_on_setup_errors(self.object_config):
            started = bulk_export.begin(ctx, plan)
        if started is None:
            return super().execute(context)
        log.info("waiting for HubSpot export %s in the triggerer", started.export_id)
        self.defer(
            trigger=HubSpotExportTrigger(
                hubspot_conn_id=self.object_config.hubspot_conn_id,
                export_id=started.export_id,
                poll_interval_s=self.object_config.export_poll_seconds,
                deadline=bulk_export.deadline(ctx),
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resumed once the export ended: stage its records (or fail naming why it gave none)."""
        from hubspot_etl.operators.failures import fail_fast_on_setup_errors
        from hubspot_etl.sync import bulk_export

        ctx, plan = self._context_and_plan(context)
        with fail_fast_on_setup_errors(self.object_config):
            result = _to_xcom(bulk_export.finish(ctx, plan, dict(event or {})))
        self._keep_for_lineage(ctx, {PREPARE: plan}, result)
        return result

    def _context_and_plan(self, context: Any) -> tuple[StepContext, Any]:
        plan = _from_xcom(PREPARE, self._pull(context["ti"], PREPARE))
        return build_step_context(self.object_config, context), plan


class HubSpotLoadOperator(HubSpotSyncStepOperator):
    """COPY + upsert of each staged part, one transaction per part, idempotent on retry."""

    step = LOAD
    inputs = (PREPARE, EXTRACT)


class HubSpotAssociationsOperator(HubSpotSyncStepOperator):
    """Replaces the associations of every extracted record (v4 batch read)."""

    step = ASSOCIATIONS
    inputs = (PREPARE, EXTRACT)


class HubSpotHistoryOperator(HubSpotSyncStepOperator):
    """Reads the property history of every extracted record (batch reads of 50) into
    ``<table>_property_history`` and rebuilds their ``<table>_stage_history`` rows."""

    step = HISTORY
    inputs = (PREPARE, EXTRACT)


class HubSpotReconcileOperator(HubSpotSyncStepOperator):
    """Marks archived, merged and purged records deleted."""

    step = RECONCILE
    inputs = (PREPARE, EXTRACT)


class HubSpotFinalizeOperator(HubSpotSyncStepOperator):
    """Advances the watermark and writes the run report (also returned as XCom)."""

    step = FINALIZE
    inputs = (PREPARE, EXTRACT, LOAD, ASSOCIATIONS, RECONCILE)

    def __init__(self, *, object_config: ObjectConfig, **kwargs: Any) -> None:
        super().__init__(object_config=object_config, **kwargs)
        if object_config.history:  # the DAG then has a history task (its report goes in the run's)
            self.inputs = (*type(self).inputs, HISTORY)


#: what an Asset event's ``extra`` carries (from the run report)
ASSET_EXTRA_KEYS = (
    "object_name",
    "mode",
    "records_upserted",
    "records_changed",
    "deletes",
    "watermark",
    "complete",
    "window_start",
    "window_end",
    "run_id",
)


class HubSpotPublishOperator(BaseOperator):
    """Publishes the object's Asset event, only for a run that completed and wrote a change.

    Its only outlet is the object's Asset. A dry run, a run cut short by ``limit`` and a run
    that changed nothing skip this task, so no event is emitted and nothing scheduled on the
    Asset starts for nothing. The event's ``extra`` carries the run's mode, records upserted
    and changed, deletes by kind, watermark, window and ``complete``.
    """

    ui_color = "#b2dfdb"

    def __init__(self, *, report_task_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "publish")
        super().__init__(**kwargs)
        self.report_task_id = report_task_id

    def execute(self, context: Any) -> dict[str, Any]:
        from hubspot_etl.compat import AirflowSkipException

        report = context["ti"].xcom_pull(task_ids=self.report_task_id) or {}
        if not report.get("changed"):
            reason = (
                "a dry run"
                if "dry run" in str(report.get("mode"))
                else ("cut short by limit" if report.get("complete") is False else "no change was written")
            )
            raise AirflowSkipException(f"no Asset event: {reason}")
        extra = {key: report.get(key) for key in ASSET_EXTRA_KEYS}
        for asset in self.outlets:
            context["outlet_events"][asset].extra = extra
        log.info("Asset event for %s: %s", [a.uri for a in self.outlets], extra)
        return extra


class HubSpotOwnersOperator(HubSpotSyncStepOperator):
    """Syncs owners, active and archived, into the ``owner`` table and reports the run."""

    step = OWNERS

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", OWNERS)
        super().__init__(**kwargs)


def release_lease_on_failure(cfg: ObjectConfig) -> Any:
    """A task failure callback that gives the run's warehouse lease back at once.

    Without it a run that failed for good would block the object's next runs until its lease
    expires. Runs after the task's last retry; errors here are logged, never raised.
    """

    def _release(context: Any) -> None:
        from hubspot_etl.sync.context import release_lease

        ti = context.get("ti")
        try:
            plan = ti.xcom_pull(task_ids=PREPARE) if ti is not None else None
            if plan and not plan.get("dry_run"):  # the raw XCom: only these two keys are needed
                release_lease(build_step_context(cfg, context), plan["object_name"])
        except Exception:  # a callback must never mask the task's own failure
            log.exception("could not release the sync lease of %s", cfg.key)

    return _release
