"""Step 3, load: every staged part into the object table, idempotent on retry."""

from __future__ import annotations

import logging

from hubspot_etl.sync.context import StepContext, lease_ttl, load_staged
from hubspot_etl.sync.contracts import LoadReport, Manifest, Plan

log = logging.getLogger(__name__)


def load(ctx: StepContext, plan: Plan, manifest: Manifest) -> LoadReport:
    """Load every staged part: COPY + upsert, one transaction per part, skipping loaded parts."""
    result = LoadReport()
    if plan.dry_run:
        return result
    warehouse = ctx.warehouse()
    with warehouse.object_lock(plan.object_name):
        warehouse.acquire_run_lease(plan.object_name, ctx.run_id, lease_ttl(ctx.cfg))
        for part in manifest.parts:
            done = manifest.preloaded.get(part.part_id)
            if done is not None:  # committed (and recorded in the ledger) by this run's extract
                result.parts_preloaded += 1
                result.parts_loaded += 1
                result.records_upserted += done.rows
                result.rejects += done.rejects
                continue
            outcome = load_staged(warehouse, plan.object_name, part)
            if getattr(outcome, "skipped", False):
                result.parts_skipped += 1
                continue
            result.parts_loaded += 1
            result.records_upserted += outcome.rows
            result.rejects += outcome.rejects
    log.info("load %s: %s", plan.object_name, result.as_dict())
    return result
