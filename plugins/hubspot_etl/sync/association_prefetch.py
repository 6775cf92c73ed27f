"""A full run's association batch reads, made while extract still lists, staged for step 4.

HubSpot's specs exempt association batch reads from the ten-secondly limit, so they have a
budget of their own (``association_rate_limit_max``) that a full load used to spend only
after the listing and the load, in the associations step. Here extract hands every page of
the full listing to :class:`AssociationPrefetch`; each 1,000 listed ids are read per target in
a small pool (the hook's pacer keeps them on their own budget), and each record's rows are
staged as one line ``{"id": ..., "links": {target name: [rows]}}`` in
``associations-prefetched`` parts. The associations step then writes them
(:func:`write_prefetched`) without a call, in the same chunks and through the same
:func:`~hubspot_etl.sync.associations.write_associations` as when it fetches.

What a record's associations are is what they were when read, as before: a change between
the read and the write is this run's race either way (the write comes later now), and the
next run's association refresh (``association_refresh``, every run by default) reads it.
If any read fails, nothing prefetched is used: the manifest carries no prefetched parts and
the associations step fetches as it always did.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hubspot_etl.hooks.crm import ASSOCIATION_BATCH_MAX
from hubspot_etl.sync.context import StepContext, chunks, part_writer
from hubspot_etl.sync.plan import FULL
from hubspot_etl.sync.staging import Part, read_part

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.sync.contracts import Plan
    from hubspot_etl.warehouse.base import Warehouse

log = logging.getLogger(__name__)

PREFETCH_PARTS = "associations-prefetched"
_ROW_KEYS = ("to_id", "type_id", "category", "label")


class AssociationPrefetch:
    """Reads the associations of listed ids in the background; use as a context manager.

    :meth:`add` takes each listed page; leaving the ``with`` block without an error reads
    the remainder, waits for every read and closes the staged parts (:attr:`parts`). With an
    error (or a failed read), :attr:`parts` stays empty.
    """

    def __init__(self, ctx: StepContext, hook: HubSpotHook, plan: Plan) -> None:
        self.hook, self.plan = hook, plan
        self.parts: list[Part] = []
        self._writer = part_writer(ctx, PREFETCH_PARTS)
        self._lock = threading.Lock()
        self._pending: list[int] = []
        self._futures: list[Future[None]] = []
        workers = max(1, hook.settings.list_concurrency)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hubspot-assoc-prefetch")

    @classmethod
    def wanted(cls, plan: Plan) -> bool:
        """Only a complete full run with associations (a ``limit`` run may not load all it lists)."""
        return plan.mode == FULL and bool(plan.associations) and not plan.dry_run and plan.limit is None

    def __enter__(self) -> AssociationPrefetch:
        self._writer.__enter__()
        return self

    def add(self, page: list[dict[str, Any]]) -> None:
        """Queue the ids of one listed page; every full 1,000 is read at once."""
        self._pending += [int(r["id"]) for r in page]
        while len(self._pending) >= ASSOCIATION_BATCH_MAX:
            self._submit(self._pending[:ASSOCIATION_BATCH_MAX])
            self._pending = self._pending[ASSOCIATION_BATCH_MAX:]

    def _submit(self, ids: list[int]) -> None:
        self._futures.append(self._pool.submit(self._read, ids))

    def _read(self, ids: list[int]) -> None:
        links: dict[int, dict[str, list[dict[str, Any]]]] = {i: {} for i in ids}
        source = self.plan.object_ref.api_type
        for target in self.plan.associations:
            for i in ids:
                links[i][target.name] = []
            for row in self.hook.iter_associations(source, target.api_type, [str(i) for i in ids]):
                by_target = links.setdefault(int(row["from_id"]), {}).setdefault(target.name, [])
                by_target.append({key: row[key] for key in _ROW_KEYS})
        with self._lock:
            for record_id in ids:
                self._writer.write({"id": record_id, "links": links[record_id]})

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        failed = exc_type is not None
        try:
            if not failed and self._pending:
                self._submit(self._pending)
            for future in self._futures:
                if failed:
                    future.cancel()
                    continue
                try:
                    future.result()
                except Exception as error:  # noqa: BLE001 - the associations step fetches instead
                    log.warning("association reads during extract failed (the step reads them): %s", error)
                    failed = True
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._writer.__exit__(None, None, None)
        self.parts = [] if failed else list(self._writer.parts)


def write_prefetched(
    ctx: StepContext, warehouse: Warehouse | None, plan: Plan, parts: list[Part]
) -> tuple[dict[str, int], int]:
    """Write the staged associations, per target, in the associations step's chunks; returns
    rows per target and rows changed (like :func:`~hubspot_etl.sync.associations.refresh_associations`)."""
    from hubspot_etl.sync.associations import ASSOCIATION_CHUNK, write_associations

    counts = {target.name: 0 for target in plan.associations}
    changed = 0
    for part in parts:
        for chunk in chunks(list(read_part(part.uri)), ASSOCIATION_CHUNK):
            ids = [int(record["id"]) for record in chunk]
            for target in plan.associations:
                rows = [
                    {"from_id": int(record["id"]), **row}
                    for record in chunk
                    for row in record["links"].get(target.name, [])
                ]
                counts[target.name] += len(rows)
                if warehouse is not None:
                    changed += write_associations(ctx, warehouse, plan, plan.object_ref, target, ids, rows)
    return counts, changed
