"""A full run's associations, read and written while extract still lists.

HubSpot's specs exempt association batch reads from the ten-secondly limit, so they have a
budget of their own (``association_rate_limit_max``) that a full load used to spend only
after the listing and the load, in the associations step. Here extract hands every page of
the full listing to :class:`AssociationPrefetch`: every ``ASSOCIATION_CHUNK`` listed ids are
read per target in a small pool (the hook's pacer keeps them on their own budget), and one
writer thread writes each chunk through the same
:func:`~hubspot_etl.sync.associations.write_associations` as the associations step (object
lock, run lease, only differences). The associations step then only reports what was done.

What a record's associations are is what they were when read, as before: a change between
the read and the end of the run is this run's race either way, and the next run's
association refresh (``association_refresh``, every run by default) reads it. If any read or
write fails, the manifest says nothing was done and the associations step refreshes every
extracted record's associations as it always did (what was written meanwhile was HubSpot's
state, so nothing wrong stays behind).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hubspot_etl.sync.context import StepContext
from hubspot_etl.sync.plan import FULL

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.sync.contracts import Plan
    from hubspot_etl.warehouse.base import Warehouse

log = logging.getLogger(__name__)


class AssociationPrefetch:
    """Reads and writes the associations of listed ids in the background; a context manager.

    :meth:`add` takes each listed page. Leaving the ``with`` block without an error handles
    the remainder and waits for every read and write; :attr:`done` is then
    ``{"counts": rows per target, "changed": rows changed}``, or ``{}`` after any failure.
    """

    def __init__(self, ctx: StepContext, hook: HubSpotHook, plan: Plan) -> None:
        from hubspot_etl.sync.associations import ASSOCIATION_CHUNK

        self.ctx, self.hook, self.plan = ctx, hook, plan
        self.chunk = ASSOCIATION_CHUNK
        self.done: dict[str, Any] = {}
        self._pending: list[int] = []
        self._reads: list[Future[None]] = []
        self._writes: list[Future[int]] = []
        self._writes_lock = threading.Lock()
        self._counts = {target.name: 0 for target in plan.associations}
        self._warehouse: Warehouse | None = None
        workers = max(1, hook.settings.list_concurrency)
        self._readers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hubspot-assoc-read")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubspot-assoc-write")

    @classmethod
    def wanted(cls, plan: Plan) -> bool:
        """Only a complete full run with associations (a ``limit`` run may not load all it lists)."""
        return plan.mode == FULL and bool(plan.associations) and not plan.dry_run and plan.limit is None

    def __enter__(self) -> AssociationPrefetch:
        return self

    def add(self, page: list[dict[str, Any]]) -> None:
        """Queue the ids of one listed page; every full chunk is read at once."""
        self._pending += [int(r["id"]) for r in page]
        while len(self._pending) >= self.chunk:
            self._submit(self._pending[: self.chunk])
            self._pending = self._pending[self.chunk :]

    def _submit(self, ids: list[int]) -> None:
        self._reads.append(self._readers.submit(self._read, sorted(ids)))

    def _read(self, ids: list[int]) -> None:
        source = self.plan.object_ref.api_type
        keys = [str(i) for i in ids]
        rows = {
            target.name: list(self.hook.iter_associations(source, target.api_type, keys))
            for target in self.plan.associations
        }
        with self._writes_lock:
            self._writes.append(self._writer.submit(self._write, ids, rows))

    def _write(self, ids: list[int], rows: dict[str, list[dict[str, Any]]]) -> int:
        from hubspot_etl.sync.associations import write_associations

        if self._warehouse is None:
            self._warehouse = self.ctx.warehouse()
        changed = 0
        for target in self.plan.associations:
            self._counts[target.name] += len(rows[target.name])
            changed += write_associations(
                self.ctx, self._warehouse, self.plan, self.plan.object_ref, target, ids, rows[target.name]
            )
        return changed

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        failed = exc_type is not None
        try:
            if not failed and self._pending:
                self._submit(self._pending)
            failed = _wait(self._reads, failed)
            failed = _wait(self._writes, failed)
        finally:
            self._readers.shutdown(wait=True, cancel_futures=True)
            self._writer.shutdown(wait=True, cancel_futures=True)
        if not failed:
            self.done = {"counts": dict(self._counts), "changed": sum(f.result() for f in self._writes)}


def _wait(futures: list[Future[Any]], failed: bool) -> bool:
    """Wait for ``futures`` (cancel them if already ``failed``); True if any failed."""
    for future in futures:
        if failed:
            future.cancel()
            continue
        try:
            future.result()
        except Exception as error:  # noqa: BLE001 - the associations step refreshes instead
            log.warning(
                "associations during extract failed (the associations step refreshes them): %s", error
            )
            failed = True
    return failed
