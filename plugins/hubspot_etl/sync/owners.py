"""The owners sync, a single step: every owner, active and archived, into the ``owner`` table."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from hubspot_etl.sync.context import StepContext
from hubspot_etl.sync.contracts import RunReport
from hubspot_etl.sync.finalize import sum_counters
from hubspot_etl.sync.plan import FULL, parse_datetime
from hubspot_etl.sync.run_report import ordered_report, render_run_report
from hubspot_etl.warehouse.fivetran import publish_views

log = logging.getLogger(__name__)


def sync_owners(ctx: StepContext) -> RunReport:
    """Read active and archived owners and upsert them; owners no longer returned are flagged."""
    started = ctx.now()
    hook = ctx.hook()
    owners = [
        owner for archived in (False, True) for page in hook.iter_owners(archived=archived) for owner in page
    ]
    changed = len(owners)
    if not ctx.dry_run:
        warehouse = ctx.warehouse()
        warehouse.ensure_schema()
        with warehouse.object_lock("owners"):
            changed = _changed_owners(owners, warehouse.owner_versions())
            warehouse.upsert_owners(owners)
            publish_views(warehouse, lambda: hook)  # schema_style: fivetran (a no-op otherwise)
    finished = ctx.now()
    report = RunReport(
        run_id=ctx.run_id,
        dag_id=ctx.dag_id,
        object_name="owners",
        mode=FULL + (" (dry run)" if ctx.dry_run else ""),
        status="healthy",
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        duration_s=round((finished - started).total_seconds(), 3),
        records_fetched=len(owners),
        records_upserted=0 if ctx.dry_run else len(owners),
        records_changed=changed,
        rejects=0,
        api_calls=sum_counters(hook.stats.as_dict()),
        search_splits=0,
        associations={},
        deletes={"archived": sum(1 for o in owners if o.get("archived"))},
        schema_changes={},
        columns_spilled=0,
        columns_renamed=0,
        watermark=None,
        complete=True,
    )
    # ``deletes.archived`` counts every archived owner; ``records_changed`` counts what changed
    report["changed"] = not ctx.dry_run and changed > 0
    report = cast(RunReport, ordered_report(report))  # the documented key order (README, Run reports)
    if not ctx.dry_run:
        warehouse.write_run_report(report)
    log.info("run report of owners:\n%s", render_run_report(report))
    return report


def _changed_owners(owners: list[dict[str, Any]], stored: dict[int, tuple[datetime | None, bool]]) -> int:
    """Owners that are new, or whose ``updatedAt`` or archived flag differ from the stored row."""
    changed = 0
    for owner in owners:
        before = stored.get(int(owner["id"]))
        now = (parse_datetime(owner.get("updatedAt")), bool(owner.get("archived", False)))
        if before is None or before != now:
            changed += 1
    return changed
