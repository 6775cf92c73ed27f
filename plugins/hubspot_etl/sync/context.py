"""What every sync step shares: its :class:`StepContext`, the run lease, staging helpers.

The steps themselves are in :mod:`.prepare`, :mod:`.extract`, :mod:`.load`,
:mod:`.associations`, :mod:`.reconcile`, :mod:`.finalize` and :mod:`.owners`; what they hand
each other is in :mod:`.contracts`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from hubspot_etl.config import ObjectConfig
from hubspot_etl.sync.staging import Part, PartWriter, local_copy, read_part_index, staging_dir

if TYPE_CHECKING:  # the hook and the adapters are imported when a task runs, never at DAG parse
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.warehouse.base import LoadResult, Warehouse

log = logging.getLogger(__name__)

#: ids per HubSpot batch read (the API's maximum)
BATCH_READ_SIZE = 100

T = TypeVar("T")


@dataclass
class StepContext:
    """What a step needs from its run: config, identity, params and factories for I/O."""

    cfg: ObjectConfig
    dag_id: str
    run_id: str
    run_type: str = "manual"
    try_number: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    interval_start: datetime | None = None
    interval_end: datetime | None = None
    hook_factory: Callable[[], HubSpotHook] | None = None
    warehouse_factory: Callable[[], Warehouse] | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def hook(self) -> HubSpotHook:
        if self.hook_factory is None:
            from hubspot_etl.hooks.hubspot import HubSpotHook

            return HubSpotHook(hubspot_conn_id=self.cfg.hubspot_conn_id)
        return self.hook_factory()

    def warehouse(self) -> Warehouse:
        if self.warehouse_factory is None:
            from hubspot_etl.warehouse.registry import get_warehouse

            return get_warehouse(self.cfg.destination, getattr(self.cfg, "max_columns", None))
        return self.warehouse_factory()

    @property
    def dry_run(self) -> bool:
        return bool(self.params.get("dry_run"))

    @property
    def limit(self) -> int | None:
        value = self.params.get("limit")
        return int(value) if value not in (None, "", 0) else None


# --------------------------------------------------------------------------- run lease


def lease_ttl(cfg: ObjectConfig) -> timedelta:
    """How long a run's lease lives without renewal: one task's timeout plus a retry delay.

    Every writing step renews it, so only a run that stopped working loses it."""
    return timedelta(minutes=cfg.execution_timeout_minutes, seconds=cfg.max_retry_delay_seconds)


def acquire_lease(ctx: StepContext, warehouse: Warehouse, object_name: str) -> None:
    """Claim the object for this DAG run, waiting up to ``lease_wait_seconds`` for another run.

    Two runs of one object (a manual trigger during a scheduled run, a backfill beside the
    schedule) never interleave, whatever Airflow's ``max_active_runs`` allows. The lease
    lives in the warehouse, so it holds across workers, DAG copies and environments.
    """
    from hubspot_etl.warehouse.base import WarehouseLockError

    wait_s = ctx.cfg.lease_wait_seconds
    if ctx.run_type == "backfill":
        # `airflow backfill create` starts several runs at once (its own max_active_runs);
        # they queue for the object one after another instead of failing.
        wait_s = max(wait_s, ctx.cfg.execution_timeout_minutes * 60 * 0.9)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            warehouse.acquire_run_lease(object_name, ctx.run_id, lease_ttl(ctx.cfg))
            return
        except WarehouseLockError as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("%s; waiting", exc)
            time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))


def release_lease(ctx: StepContext, object_name: str) -> None:
    """Release this run's lease (a no-op when it does not hold it)."""
    ctx.warehouse().release_run_lease(object_name, ctx.run_id)


# --------------------------------------------------------------------------- helpers


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def part_writer(
    ctx: StepContext, name: str = "part", on_part: Callable[[Part], None] | None = None
) -> PartWriter:
    """A writer of this run attempt's staged parts (``<run>/attempt-<try>/<name>-NNNNN``)."""
    directory = staging_dir(ctx.cfg.staging_base, ctx.dag_id, ctx.run_id, ctx.try_number)
    prefix = f"{ctx.run_id}/attempt-{ctx.try_number}"
    return PartWriter(directory, prefix, ctx.cfg.part_size, name=name, on_part=on_part)


def load_staged(warehouse: Warehouse, object_name: str, part: Part) -> LoadResult:
    """Load one staged part (a local copy first where the store is remote)."""
    with local_copy(part.uri) as path:
        return warehouse.load_part(object_name, part.part_id, str(path))


def ids_in_parts(parts: Iterable[Part]) -> Iterator[int]:
    """The record ids of staged parts, from their indexes."""
    for part in parts:
        yield from read_part_index(part)["ids"]
