"""Step 4b, history: the property history of the extracted records, and their stage history.

Runs only for an object whose config sets ``history`` (the DAG has the task only then), after
``reconcile`` (a full run also reads the records reconcile has just flagged archived). It reads
the records the run extracted, like ``associations``: on a full run every record, on an
incremental run those modified in the window (a property write bumps the modified date, so no
write is missed; the full-refresh cadence re-reads everything). Rows are upserted, never
deleted, so a record deleted or merged away keeps its history.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hubspot_etl.config import HISTORY_ALL
from hubspot_etl.sync.associations import _ordered_map
from hubspot_etl.sync.context import StepContext, chunks, ids_in_parts, lease_ttl
from hubspot_etl.sync.contracts import HistoryReport, Manifest, Plan
from hubspot_etl.sync.plan import FULL

if TYPE_CHECKING:
    from hubspot_etl.hooks.crm import PropertyHistory
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.warehouse.base import Warehouse

log = logging.getLogger(__name__)

#: record ids per fetch task (four batch reads of 50)
HISTORY_CHUNK = 200
#: a warehouse write once this many records or history rows are fetched (and at the end):
#: few statements per run (each is a job on BigQuery), a bounded buffer (``history: all``
#: brings back every write of every property of each record)
WRITE_RECORDS, WRITE_ROWS = 5_000, 50_000
#: the pipeline-stage property of the objects with a stage history
STAGE_PROPERTIES = {"deals": "dealstage", "tickets": "hs_pipeline_stage"}
#: the ``stats.calls`` key of the history reads (``hooks.crm.HISTORY_ENDPOINT``)
HISTORY_CALLS = "objects.batch_read_history"


def history_properties(setting: tuple[str, ...] | str, plan: Plan) -> list[str]:
    """The properties whose history is read: the configured list, or for ``all`` every
    property the plan syncs (the object's definitions after ``properties.include/exclude``)."""
    if setting == HISTORY_ALL:
        return list(plan.properties)
    return list(setting)


def stage_property(object_name: str, properties: list[str]) -> str | None:
    """The stage property whose history builds ``<table>_stage_history``, if it is read."""
    name = STAGE_PROPERTIES.get(object_name)
    return name if name in properties else None


def history(ctx: StepContext, plan: Plan, manifest: Manifest) -> HistoryReport:
    """Read and write the history of the extracted records (a dry run reads and counts only).

    Costs ``ceil(records / 50)`` batch reads. A full run also reads, with ``archived=true``,
    the history of the records the warehouse holds as archived and has no history of
    (archived before any run read them: HubSpot keeps their history), once. The fetched
    records are written in batches (:data:`WRITE_RECORDS`, :data:`WRITE_ROWS`), each under
    the object lock with the run lease renewed, as ``associations`` does: their history rows
    upserted, then, where the stage property is among them, their stage rows rebuilt. A retry
    rewrites what an earlier try wrote, which changes nothing.
    """
    properties = history_properties(ctx.cfg.history, plan)
    stage = stage_property(plan.object_name, properties)
    if not properties:
        return HistoryReport(properties=0, records=0, rows=0, calls=0)
    hook = ctx.hook()
    warehouse = None if plan.dry_run else ctx.warehouse()
    ids = sorted(set(ids_in_parts(manifest.parts)))
    before = _history_calls(hook)
    report = HistoryReport(properties=len(properties), records=len(ids), rows=0, calls=0)
    report.stage_rows = None if stage is None else 0
    reader = _Reader(ctx, hook, warehouse, plan, properties, stage, report)
    reader.run(ids, archived=False)
    if plan.mode == FULL and warehouse is not None:
        unread = _archived_without_history(warehouse, plan.object_name, set(ids))
        report.archived_records = len(unread)
        report.records += len(unread)
        reader.run(unread, archived=True)
    report.calls = _history_calls(hook) - before
    report.api_calls = hook.stats.as_dict()
    log.info("history %s: %s", plan.object_name, report.summary())
    return report


def _archived_without_history(warehouse: Warehouse, object_name: str, read: set[int]) -> list[int]:
    """Ids the warehouse holds as archived, with no history rows, not read in this run."""
    kinds = warehouse.deletion_kinds(object_name)
    known = warehouse.history_ids(object_name)
    return sorted(i for i, kind in kinds.items() if kind == "archived" and i not in known and i not in read)


class _Reader:
    """Fetches the history of ids in a small pool and writes it in batches, in this thread."""

    def __init__(
        self,
        ctx: StepContext,
        hook: HubSpotHook,
        warehouse: Warehouse | None,
        plan: Plan,
        properties: list[str],
        stage: str | None,
        report: HistoryReport,
    ) -> None:
        self.ctx, self.hook, self.warehouse, self.plan = ctx, hook, warehouse, plan
        self.properties, self.stage, self.report = properties, stage, report

    def run(self, ids: list[int], archived: bool) -> None:
        id_chunks = list(chunks(ids, HISTORY_CHUNK))
        workers = max(1, min(self.hook.settings.list_concurrency, len(id_chunks)))

        def fetch(chunk: list[int]) -> PropertyHistory:
            wanted = [str(i) for i in chunk]
            return self.hook.batch_read_history(
                self.plan.api_type, wanted, self.properties, archived=archived
            )

        # Fetches run in a small pool (the hook's budget paces them); writes stay in this
        # thread, in chunk order, each under the object lock.
        pending_ids: list[int] = []
        pending_rows: list[dict[str, Any]] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hubspot-history") as pool:
            for chunk, rows in _ordered_map(pool, fetch, id_chunks, ahead=2 * workers):
                self.report.rows += len(rows)
                self.report.missing += len(rows.missing)
                if self.warehouse is None:
                    continue
                pending_ids += chunk
                pending_rows += rows
                if len(pending_ids) >= WRITE_RECORDS or len(pending_rows) >= WRITE_ROWS:
                    self.write(pending_ids, pending_rows)
                    pending_ids, pending_rows = [], []
        if pending_ids:
            self.write(pending_ids, pending_rows)

    def write(self, ids: list[int], rows: list[dict[str, Any]]) -> None:
        assert self.warehouse is not None
        _write(self.ctx, self.warehouse, self.plan, ids, rows, self.stage, self.report)


def _write(
    ctx: StepContext,
    warehouse: Warehouse,
    plan: Plan,
    ids: list[int],
    rows: list[dict[str, Any]],
    stage: str | None,
    report: HistoryReport,
) -> None:
    """The history rows of ``ids``, and their stage rows, under the object lock."""
    with warehouse.object_lock(plan.object_name):
        warehouse.acquire_run_lease(plan.object_name, ctx.run_id, lease_ttl(ctx.cfg))
        report.changed += warehouse.upsert_property_history(plan.object_name, rows)
        if stage is not None and report.stage_rows is not None:
            report.stage_rows += warehouse.rebuild_stage_history(plan.object_name, ids, stage)


def _history_calls(hook: HubSpotHook) -> int:
    return int(hook.stats.as_dict()["calls"].get(HISTORY_CALLS, 0))
