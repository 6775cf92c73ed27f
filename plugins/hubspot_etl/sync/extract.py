"""Step 2, extract: the window's records (or all of them) into staged NDJSON parts.

With ``load_during_extract`` the finished parts are loaded in the background meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hubspot_etl.sync.association_prefetch import AssociationPrefetch
from hubspot_etl.sync.context import BATCH_READ_SIZE, StepContext, lease_ttl, load_staged, part_writer
from hubspot_etl.sync.contracts import Manifest, PartLoad, Plan
from hubspot_etl.sync.plan import FULL, parse_datetime
from hubspot_etl.sync.staging import Part, PartWriter
from hubspot_etl.sync.unchanged import StoredModified, ids_to_read

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.warehouse.base import LoadResult, Warehouse

log = logging.getLogger(__name__)


class Progress:
    """Log records so far, rate and expected total, at most every ``every_s`` seconds."""

    def __init__(self, what: str, expected: int | None = None, every_s: float = 10.0) -> None:
        self.what, self.expected, self.every_s = what, expected, every_s
        self.started = self.last = time.monotonic()
        self.count = 0

    def add(self, n: int) -> None:
        self.count += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self.log()

    def log(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.count / elapsed
        total = f" of ~{self.expected}" if self.expected else ""
        eta = ""
        if self.expected and rate > 0 and self.expected > self.count:
            eta = f", about {(self.expected - self.count) / rate:.0f}s left"
        log.info(
            "%s: %d records%s in %.0fs (%.0f records/s%s)", self.what, self.count, total, elapsed, rate, eta
        )


def extract(ctx: StepContext, plan: Plan) -> Manifest:
    """Stream the records of the window (or all of them) into staged NDJSON parts."""
    hook = ctx.hook()
    started = ctx.now()
    changes = _ChangeCounter(parse_datetime(plan.old_watermark))
    skipped = _Skipped(_stored_modified(ctx, plan))
    search_ranges: list[tuple[int, int]] = []
    prefetch = AssociationPrefetch(ctx, hook, plan) if AssociationPrefetch.wanted(plan) else None

    def fill(writer: PartWriter) -> bool:
        if prefetch is None:
            return _write_records(hook, plan, writer, plan.limit, changes, skipped, search_ranges)
        with prefetch:  # associations read and written beside the listing (their own budget)
            return _write_records(
                hook, plan, writer, plan.limit, changes, skipped, search_ranges, prefetch.add
            )

    staged = stage(ctx, plan, fill)
    return Manifest(
        parts=staged.parts,
        records=sum(part.rows for part in staged.parts),
        records_changed=changes.count,
        records_unchanged=skipped.count,
        complete=staged.complete,
        extract_started_at=started.isoformat(),
        api_calls=hook.stats.as_dict(),
        preloaded=staged.preloaded,
        search_ranges=search_ranges,
        associations_done=prefetch.done if prefetch is not None else {},
    )


@dataclass(frozen=True)
class Staged:
    """What :func:`stage` wrote: the parts, whether ``fill`` completed, the parts preloaded."""

    parts: list[Part]
    complete: bool
    preloaded: dict[str, PartLoad]


def stage(ctx: StepContext, plan: Plan, fill: Callable[[PartWriter], bool]) -> Staged:
    """Stage what ``fill`` writes as this attempt's parts, loading them meanwhile with
    ``load_during_extract``. Every extract path stages through it: the list and search reads
    here, HubSpot's Exports API in :mod:`.bulk_export`. ``fill`` returns False if cut short."""
    preloader = _Preloader(ctx, plan) if ctx.cfg.load_during_extract and not plan.dry_run else None
    on_part = preloader.submit if preloader is not None else None
    try:
        with part_writer(ctx, on_part=on_part) as writer:
            complete = fill(writer)
    except BaseException:
        if preloader is not None:
            preloader.finish()  # let a part being loaded commit or roll back before the error
        raise
    return Staged(list(writer.parts), complete, preloader.finish() if preloader is not None else {})


class _ChangeCounter:
    """Counts records modified after the previous run's watermark (all of them on a first run).

    Records re-read because of the lookback, or by a full run, are not changes: a run whose
    records are all older than the watermark, and that deletes nothing, changed nothing.
    """

    def __init__(self, since: datetime | None) -> None:
        self.since, self.count = since, 0

    def add(self, records: list[dict[str, Any]]) -> None:
        if self.since is None:
            self.count += len(records)
            return
        for record in records:
            updated = parse_datetime(record.get("updatedAt"))
            if updated is None or updated > self.since:
                self.count += 1


class _Skipped:
    """The warehouse's stored modified dates (None: read every hit) and the hits skipped."""

    def __init__(self, stored: StoredModified | None) -> None:
        self.stored, self.count = stored, 0


def _stored_modified(ctx: StepContext, plan: Plan) -> StoredModified | None:
    """An incremental run skips the hits the warehouse already holds (see :mod:`.unchanged`);
    a full run lists everything, and a dry run may have no warehouse to compare with."""
    if plan.mode == FULL or plan.dry_run:
        return None
    warehouse = ctx.warehouse()
    return lambda ids: warehouse.stored_modified(plan.object_name, plan.modified_property, ids)


def _write_records(
    hook: HubSpotHook,
    plan: Plan,
    writer: PartWriter,
    limit: int | None,
    changes: _ChangeCounter,
    skipped: _Skipped,
    search_ranges: list[tuple[int, int]],
    on_page: Callable[[list[dict[str, Any]]], None] | None = None,
) -> bool:
    """Fetch the plan's records into ``writer``; False if ``limit`` cut the extract short.

    ``search_ranges`` receives the id ranges a full run read only through search, ``on_page``
    each page a full run lists."""
    expected, max_id = _id_span(hook, plan)
    if plan.mode == FULL:
        # ``limit`` runs page serially so they always keep the first records by id
        concurrency = 1 if limit is not None else None
        records = _full_records(hook, plan, (expected, max_id), concurrency, search_ranges, on_page)
    else:
        records = _modified_records(hook, plan, skipped)
    return write_batches(records, writer, limit, changes, Progress(f"extract {plan.object_name}", expected))


def write_batches(
    records: Iterable[list[dict[str, Any]]],
    writer: PartWriter,
    limit: int | None,
    changes: _ChangeCounter,
    progress: Progress,
) -> bool:
    """Write batches of records into ``writer`` (counting changes, logging progress); False if
    ``limit`` cut them short. The list, search and export reads (:mod:`.bulk_export`) all
    stage through it."""
    complete = True
    for batch in records:
        if limit is not None and writer.rows_written + len(batch) >= limit:
            kept = batch[: limit - writer.rows_written]
            writer.write_many(kept)
            changes.add(kept)
            complete = False
            progress.add(len(batch))
            break
        writer.write_many(batch)
        changes.add(batch)
        progress.add(len(batch))
    progress.log()
    return complete


class _Preloader:
    """Loads staged parts in a background thread while extract goes on.

    Extract mostly waits on HubSpot (latency, rate limit), so loading the parts it has
    finished overlaps the two instead of adding them up. A part is loaded exactly as the load
    step would (same lock, lease check and ledger), so the load step skips it afterwards. A
    failed preload is only logged: the load step loads that part and raises if it fails again.
    """

    def __init__(self, ctx: StepContext, plan: Plan) -> None:
        self.ctx, self.plan = ctx, plan
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubspot-preload")
        self.futures: list[tuple[str, Future[LoadResult]]] = []
        self.warehouse: Warehouse | None = None

    def submit(self, part: Part) -> None:
        self.futures.append((part.part_id, self.pool.submit(self._load, part)))

    def _load(self, part: Part) -> LoadResult:
        if self.warehouse is None:
            self.warehouse = self.ctx.warehouse()
        object_name = self.plan.object_name
        with self.warehouse.object_lock(object_name):
            self.warehouse.acquire_run_lease(object_name, self.ctx.run_id, lease_ttl(self.ctx.cfg))
            return load_staged(self.warehouse, object_name, part)

    def finish(self) -> dict[str, PartLoad]:
        """Wait for every preload; ``part_id -> (rows, rejects)`` of the parts it committed."""
        done: dict[str, PartLoad] = {}
        try:
            for part_id, future in self.futures:
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - the load step retries this part
                    log.warning("preloading %s failed (the load step will load it): %s", part_id, exc)
                    continue
                if not getattr(outcome, "skipped", False):
                    done[part_id] = PartLoad(rows=outcome.rows, rejects=outcome.rejects)
        finally:
            self.pool.shutdown(wait=True)
        if done:
            log.info("loaded %d of %d parts during extract", len(done), len(self.futures))
        return done


def _id_span(hook: HubSpotHook, plan: Plan) -> tuple[int | None, int | None]:
    """Live records and the highest live id (one search) of a full extract; (None, None) otherwise.

    The count feeds the progress log, the highest id the parallel listing's id ranges.
    """
    if plan.mode != FULL:
        return None, None
    from hubspot_etl.hooks.errors import HubSpotError

    try:
        return hook.id_span(plan.api_type)
    except HubSpotError as exc:  # an estimate is never worth failing the run: list serially
        log.warning("could not count %s (listing serially): %s", plan.object_name, exc)
        return None, None


def _full_records(
    hook: HubSpotHook,
    plan: Plan,
    span: tuple[int | None, int | None],
    concurrency: int | None,
    search_ranges: list[tuple[int, int]],
    on_page: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Every live record, through list chains and search id ranges at once
    (:mod:`hubspot_etl.hooks.full_listing`); the ranges search read go to ``search_ranges``,
    every page to ``on_page`` too. ``span`` is ``(live records, highest live id)``."""
    live, max_id = span
    listing = hook.full_listing(
        plan.api_type, properties=plan.properties, max_id=max_id, live=live, concurrency=concurrency
    )
    for page in listing:
        if on_page is not None:
            on_page(page)
        yield page
    search_ranges.extend(listing.search_ranges)


#: search hits compared with the warehouse at once (one query per this many)
COMPARE_BATCH = 2_000


def _modified_records(hook: HubSpotHook, plan: Plan, skipped: _Skipped) -> Iterator[list[dict[str, Any]]]:
    """Search finds the ids modified in the window; batch read fetches them as they are now.

    Search results may lag behind writes, so the current record comes from batch read,
    which reads the primary store. Ids are de-duplicated across search pages. Hits whose
    modified date the warehouse already holds are not read (:mod:`.unchanged`).
    """
    pending: list[str] = []
    for wanted in _ids_to_read(hook, plan, skipped):
        pending += wanted
        while len(pending) >= BATCH_READ_SIZE:
            batch, pending = pending[:BATCH_READ_SIZE], pending[BATCH_READ_SIZE:]
            yield hook.batch_read(plan.api_type, batch, properties=plan.properties)
    if pending:
        yield hook.batch_read(plan.api_type, pending, properties=plan.properties)


def _ids_to_read(hook: HubSpotHook, plan: Plan, skipped: _Skipped) -> Iterator[list[str]]:
    """The window's hits, once each, less those the warehouse holds unchanged, in batches."""
    start = parse_datetime(plan.window_start)
    end = parse_datetime(plan.window_end)
    seen: set[int] = set()
    hits: list[dict[str, Any]] = []
    for page in hook.iter_modified(plan.api_type, start, end, properties=[plan.modified_property]):
        for record in page:
            record_id = int(record["id"])
            if record_id not in seen:
                seen.add(record_id)
                hits.append(record)
        if skipped.stored is None or len(hits) >= COMPARE_BATCH:
            yield _compare(hits, plan, skipped)
            hits = []
    if hits:
        yield _compare(hits, plan, skipped)


def _compare(hits: list[dict[str, Any]], plan: Plan, skipped: _Skipped) -> list[str]:
    if skipped.stored is None:
        return [str(int(hit["id"])) for hit in hits]
    ids = [int(hit["id"]) for hit in hits]
    wanted = ids_to_read(hits, skipped.stored(ids), plan.modified_property)
    skipped.count += len(hits) - len(wanted)
    return [str(i) for i in wanted]
