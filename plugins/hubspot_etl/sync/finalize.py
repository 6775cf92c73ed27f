"""Step 6, finalize: advance the watermark, write the run report, release the lease."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

from hubspot_etl.sync.context import StepContext, iso
from hubspot_etl.sync.contracts import (
    AssociationsReport,
    HistoryReport,
    LoadReport,
    Manifest,
    Plan,
    ReconcileReport,
    RunReport,
)
from hubspot_etl.sync.plan import FULL, Window, next_watermark, parse_datetime
from hubspot_etl.sync.run_report import ordered_report, render_run_report
from hubspot_etl.sync.staging import remove_run_staging
from hubspot_etl.warehouse.fivetran import publish_views

log = logging.getLogger(__name__)


def finalize(
    ctx: StepContext,
    plan: Plan,
    manifest: Manifest,
    loaded: LoadReport,
    linked: AssociationsReport,
    reconciled: ReconcileReport,
    history: HistoryReport | None = None,
) -> RunReport:
    """Advance the watermark, write the run report and return it (the task's XCom).

    ``history``: the history step's report, for an object with ``history`` configured.
    """
    now = ctx.now()
    started = parse_datetime(plan.started_at)
    window = Window(plan.mode, parse_datetime(plan.window_start), parse_datetime(plan.window_end), "")
    old = parse_datetime(plan.old_watermark)
    watermark = next_watermark(window, old, parse_datetime(manifest.extract_started_at), manifest.complete)
    schema = plan.schema_changes
    checked_at = parse_datetime(reconciled.deletes_checked_at)
    report = RunReport(
        run_id=ctx.run_id,
        dag_id=ctx.dag_id,
        object_name=plan.object_name,
        mode=plan.mode + (" (dry run)" if plan.dry_run else ""),
        status="healthy" if loaded.rejects == 0 else "with_errors",
        started_at=plan.started_at,
        finished_at=now.isoformat(),
        duration_s=round((now - started).total_seconds(), 3),
        window_start=plan.window_start,
        window_end=plan.window_end,
        records_fetched=manifest.records,
        records_upserted=loaded.records_upserted,
        records_changed=manifest.records_changed,
        rejects=loaded.rejects,
        api_calls=sum_counters(
            plan.api_calls,
            manifest.api_calls,
            linked.api_calls,
            reconciled.api_calls,
            history.api_calls if history else {},
        ),
        search_splits=int(manifest.api_calls.get("search_splits", 0)),
        associations=linked.associations,
        association_refresh=linked.association_refresh,
        associations_changed=int((linked.association_refresh or {}).get("changed", 0))
        + int(reconciled.restored_associations or 0),
        deletes=reconciled.deletes,
        deletes_checked=checked_at is not None,
        deletes_checked_at=reconciled.deletes_checked_at or plan.deletes_checked_at,
        records_unchanged=manifest.records_unchanged,
        schema_changes=schema,
        columns_spilled=int(schema.get("spilled", 0)),
        columns_renamed=int(schema.get("renamed", 0)),
        watermark=iso(watermark),
        complete=manifest.complete,
        parts={"loaded": loaded.parts_loaded, "skipped": loaded.parts_skipped},
    )
    if history is not None:
        report["history"] = history.summary()
    report["changed"] = wrote_changes(report, plan.dry_run)
    report = cast(RunReport, ordered_report(report))  # the documented key order (README, Run reports)
    if not plan.dry_run:
        warehouse = ctx.warehouse()
        last_full = now if plan.mode == FULL and manifest.complete else None
        with warehouse.object_lock(plan.object_name):
            warehouse.check_run_lease(plan.object_name, ctx.run_id)
            warehouse.set_sync_state(
                plan.object_name,
                watermark=watermark,
                last_full_load_at=last_full,
                run_id=ctx.run_id,
                deletes_checked_at=checked_at,
            )
            warehouse.write_run_report(report)
            publish_views(warehouse, ctx.hook)  # schema_style: fivetran (a no-op otherwise)
            warehouse.release_run_lease(plan.object_name, ctx.run_id)
    if not ctx.cfg.keep_staged_files:
        _remove_staging(ctx)
    log.info("run report of %s:\n%s", plan.object_name, render_run_report(report))
    return report


def wrote_changes(report: Mapping[str, Any], dry_run: bool) -> bool:
    """Did the run complete and write a change (records, deletes, restores, associations,
    history rows or new columns)?

    Only such runs publish the object's Asset event: a dry run, a run cut short by ``limit``
    and a run that found nothing new leave anything scheduled on the Asset alone.
    """
    if dry_run or not report["complete"]:
        return False
    schema = report.get("schema_changes") or {}
    deletes = sum(int(v) for v in (report.get("deletes") or {}).values())
    return bool(
        report["records_changed"]
        or deletes
        or report.get("associations_changed")
        or (report.get("history") or {}).get("changed")
        or schema.get("added")
        or schema.get("widened")
    )


def _remove_staging(ctx: StepContext) -> None:
    """Delete the run's staged parts once everything is loaded (every attempt, killed ones too)."""
    try:
        remove_run_staging(ctx.cfg.staging_base, ctx.dag_id, ctx.run_id)
    except OSError as exc:  # staging is scratch space: a failed cleanup must not fail the sync
        log.warning("could not remove the staged parts of %s: %s", ctx.run_id, exc)


def sum_counters(*counters: Mapping[str, Any]) -> dict[str, int]:
    """Add up per-endpoint API call counters from several tasks (numeric entries only)."""
    total: dict[str, int] = {}
    for counter in counters:
        calls = counter.get("calls", counter) if isinstance(counter, dict) else {}
        for key, value in calls.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + int(value)
    return total
