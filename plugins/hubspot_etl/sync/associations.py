"""Step 4, associations: refresh the association rows of the extracted (or every live) record."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from hubspot_etl.sync.context import StepContext, chunks, ids_in_parts, lease_ttl
from hubspot_etl.sync.contracts import AssociationRefresh, AssociationsReport, Manifest, ObjectRef, Plan
from hubspot_etl.sync.plan import FULL

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.warehouse.base import Warehouse

log = logging.getLogger(__name__)

#: record ids per association fetch (and per warehouse write)
ASSOCIATION_CHUNK = 5_000

T = TypeVar("T")
R = TypeVar("R")


def associations(ctx: StepContext, plan: Plan, manifest: Manifest) -> AssociationsReport:
    """Refresh associations, for each configured target type.

    A full run, and an incremental run whose ``association_refresh`` is due (every run by
    default), refresh every live record's: HubSpot changes no modified date when only an
    association is added, removed or relabelled, so only this catches such a change. That costs
    about ``ceil(live records / 1,000)`` batch reads per target and no listing (the warehouse
    knows the live ids). Otherwise only the extracted records' associations are refreshed.
    Only differences are written. A full run listed through the list and search APIs has
    read and written them during extract already (:mod:`.association_prefetch`).
    """
    scope = plan.association_scope
    if not plan.associations:
        return AssociationsReport({}, AssociationRefresh(scope=scope, records=0), {})
    hook = ctx.hook()
    warehouse = None if plan.dry_run else ctx.warehouse()
    if scope == "all" and plan.mode != FULL and warehouse is not None:
        ids = sorted(warehouse.live_ids(plan.object_name))
    else:
        ids = sorted(set(ids_in_parts(manifest.parts)))
    before = _association_calls(hook)
    if manifest.method == "export" and plan.mode == FULL:  # from the export's columns (bulk_export)
        from hubspot_etl.sync.bulk_export import refresh_from_export

        counts, changed, _ = refresh_from_export(ctx, hook, warehouse, plan, manifest)
    elif manifest.associations_done and plan.mode == FULL:  # read and written during extract
        counts, changed = (
            dict(manifest.associations_done["counts"]),
            int(manifest.associations_done["changed"]),
        )
    else:
        counts, changed = refresh_associations(ctx, hook, warehouse, plan, plan.associations, ids)
    refresh = AssociationRefresh(
        scope=scope, records=len(ids), calls=_association_calls(hook) - before, changed=changed
    )
    log.info("associations %s: %s (%s)", plan.object_name, counts, refresh)
    return AssociationsReport(
        associations=counts, association_refresh=refresh, api_calls=hook.stats.as_dict()
    )


def _association_calls(hook: HubSpotHook) -> int:
    return int(hook.stats.as_dict()["calls"].get("associations.batch_read", 0))


def refresh_associations(
    ctx: StepContext,
    hook: HubSpotHook,
    warehouse: Warehouse | None,
    plan: Plan,
    targets: list[ObjectRef],
    ids: list[int],
    source: ObjectRef | None = None,
) -> tuple[dict[str, int], int]:
    """Fetch the associations of ``ids`` (of ``source``, default the plan's object) to each
    target and write them; returns rows fetched per target and rows changed in the warehouse.

    Without a warehouse (a dry run) the associations are only fetched and counted."""
    source = source or plan.object_ref
    counts: dict[str, int] = {}
    changed = 0
    id_chunks = list(chunks(ids, ASSOCIATION_CHUNK))
    workers = max(1, min(hook.settings.list_concurrency, len(id_chunks)))
    # Fetches run in a small pool (the hook's budget paces them); writes stay in this thread,
    # in chunk order, each under the object lock.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hubspot-assoc") as pool:
        for target in targets:
            total = 0

            def fetch(chunk: list[int], to_type: str = target.api_type) -> list[dict[str, Any]]:
                return list(hook.iter_associations(source.api_type, to_type, [str(i) for i in chunk]))

            for chunk, rows in _ordered_map(pool, fetch, id_chunks, ahead=2 * workers):
                total += len(rows)
                if warehouse is not None:
                    changed += write_associations(ctx, warehouse, plan, source, target, chunk, rows)
            counts[target.name] = total
    return counts, changed


def write_associations(
    ctx: StepContext,
    warehouse: Warehouse,
    plan: Plan,
    source: ObjectRef,
    target: ObjectRef,
    ids: list[int],
    rows: list[dict[str, Any]],
) -> int:
    """Make the ``source -> target`` associations of ``ids`` equal ``rows`` under the object
    lock and the run lease; returns rows changed."""
    with warehouse.object_lock(plan.object_name):
        warehouse.acquire_run_lease(plan.object_name, ctx.run_id, lease_ttl(ctx.cfg))
        return warehouse.replace_associations(source.name, target.name, ids, rows)


def _ordered_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: list[T], ahead: int
) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` in order, with at most ``ahead`` calls running or buffered.

    Unlike ``pool.map`` it does not submit every item at once, so results never pile up in
    memory when the consumer (a warehouse write) is slower than the fetches.
    """
    pending: deque[tuple[T, Future[R]]] = deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= ahead:
            first, future = pending.popleft()
            yield first, future.result()
    while pending:
        first, future = pending.popleft()
        yield first, future.result()
