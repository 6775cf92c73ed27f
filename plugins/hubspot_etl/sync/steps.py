"""The six steps of an object sync: prepare, extract, load, associations, reconcile, finalize.

Each step is a plain function of a :class:`StepContext` and the previous steps' results
(small JSON-able dicts that travel as XComs). The operators in
``hubspot_etl.operators.sync`` only build the context from Airflow's and call these, so
the logic is testable without Airflow and the DAG file only wires tasks.

Division of labour: the hook knows HTTP and HubSpot, the warehouse adapter knows SQL,
this module knows the order of things and what a correct sync means (modes, windows,
deletes and merges, the run report).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot_etl.config import ObjectConfig
from hubspot_etl.sync.plan import (
    FULL,
    Window,
    association_refresh_due,
    choose_window,
    next_watermark,
    parse_datetime,
)
from hubspot_etl.sync.staging import (
    PartWriter,
    local_copy,
    read_json,
    read_part,
    read_part_index,
    remove_run_staging,
    staging_dir,
    write_json,
)
from hubspot_etl.warehouse.naming import table_name_for_object

log = logging.getLogger(__name__)

#: Properties every extract requests, whatever the include/exclude lists say: the id, the
#: modification cursor and the merge tombstones are what make the sync correct.
ALWAYS_EXTRACTED = (
    "hs_object_id",
    "hs_merged_object_ids",
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
)
OBJECTS_WITH_PIPELINES = frozenset({"deals", "tickets"})
#: what the archived listing of an incremental run reads: ids, and archived survivors' merges
MERGE_LISTING_PROPERTIES = ("hs_object_id", "hs_merged_object_ids")
BATCH_READ_SIZE = 100
ASSOCIATION_CHUNK = 5_000


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
    hook_factory: Callable[[], Any] | None = None
    warehouse_factory: Callable[[], Any] | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def hook(self) -> Any:
        if self.hook_factory is None:
            from hubspot_etl.hooks.hubspot import HubSpotHook

            return HubSpotHook(hubspot_conn_id=self.cfg.hubspot_conn_id)
        return self.hook_factory()

    def warehouse(self) -> Any:
        if self.warehouse_factory is None:
            from hubspot_etl.warehouse.factory import get_warehouse

            return get_warehouse(self.cfg.destination, getattr(self.cfg, "max_columns", None))
        return self.warehouse_factory()

    @property
    def dry_run(self) -> bool:
        return bool(self.params.get("dry_run"))

    @property
    def limit(self) -> int | None:
        value = self.params.get("limit")
        return int(value) if value not in (None, "", 0) else None


# --------------------------------------------------------------------------- helpers


def modified_property(object_name: str) -> str:
    """HubSpot's last-modified property: contacts differ from every other object."""
    return "lastmodifieddate" if object_name == "contacts" else "hs_lastmodifieddate"


def select_properties(
    definitions: list[dict[str, Any]], include: Iterable[str], exclude: Iterable[str]
) -> list[dict[str, Any]]:
    """Apply the config's include/exclude lists; the properties the sync relies on always stay."""
    include, exclude = set(include), set(exclude)
    chosen = []
    for prop in definitions:
        name = prop["name"]
        if name in ALWAYS_EXTRACTED or ((not include or name in include) and name not in exclude):
            chosen.append(prop)
    return chosen


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ids_in_parts(parts: Iterable[dict[str, Any]]) -> Iterator[int]:
    for part in parts:
        yield from read_part_index(part)["ids"]


def _part_writer(ctx: StepContext, name: str = "part", on_part: Any = None) -> PartWriter:
    """A writer of this run attempt's staged parts (``<run>/attempt-<try>/<name>-NNNNN``)."""
    directory = staging_dir(ctx.cfg.staging_base, ctx.dag_id, ctx.run_id, ctx.try_number)
    prefix = f"{ctx.run_id}/attempt-{ctx.try_number}"
    return PartWriter(directory, prefix, ctx.cfg.part_size, name=name, on_part=on_part)


def _load_staged(warehouse: Any, object_name: str, part_id: str, uri: str) -> Any:
    """Load one staged part (a local copy first where the store is remote)."""
    with local_copy(uri) as path:
        return warehouse.load_part(object_name, part_id, str(path))


def _ordered_map(
    pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: list[Any], ahead: int
) -> Iterator[tuple[Any, Any]]:
    """``(item, fn(item))`` in order, with at most ``ahead`` calls running or buffered.

    Unlike ``pool.map`` it does not submit every item at once, so results never pile up in
    memory when the consumer (a warehouse write) is slower than the fetches.
    """
    pending: deque[tuple[Any, Future[Any]]] = deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= ahead:
            first, future = pending.popleft()
            yield first, future.result()
    while pending:
        first, future = pending.popleft()
        yield first, future.result()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


# --------------------------------------------------------------------------- run lease


def lease_ttl(cfg: Any) -> timedelta:
    """How long a run's lease lives without renewal: one task's timeout plus a retry delay.

    Every writing step renews it, so only a run that stopped working loses it."""
    return timedelta(minutes=cfg.execution_timeout_minutes, seconds=cfg.max_retry_delay_seconds)


def acquire_lease(ctx: StepContext, warehouse: Any, object_name: str) -> None:
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


# --------------------------------------------------------------------------- prepare


def prepare(ctx: StepContext) -> dict[str, Any]:
    """Read metadata from HubSpot, create/evolve tables, pick the mode and window."""
    cfg = ctx.cfg
    hook = ctx.hook()
    info = hook.resolve_object_type(cfg.object_type)
    object_name = info["name"]
    api_type = info.get("object_type_id") or object_name
    definitions = hook.get_properties(api_type)
    selected = select_properties(definitions, cfg.properties.include, cfg.properties.exclude)
    pipelines = _fetch_pipelines(hook, object_name, api_type)
    associations = [_association_target(hook, to) for to in cfg.associations]

    warehouse = ctx.warehouse()
    if not ctx.dry_run:
        warehouse.ensure_schema()
    state = warehouse.get_sync_state(object_name) if (not ctx.dry_run or warehouse.exists()) else None
    now = ctx.now()
    window = choose_window(
        now=now,
        run_type=ctx.run_type,
        interval_start=ctx.interval_start,
        interval_end=ctx.interval_end,
        watermark=parse_datetime(state["watermark"]) if state else None,
        last_full_load_at=parse_datetime(state["last_full_load_at"]) if state else None,
        full_load_param=bool(ctx.params.get("full_load")),
        since_param=parse_datetime(ctx.params.get("since")),
        lookback=timedelta(minutes=cfg.lookback_minutes),
        full_refresh_cron=cfg.full_refresh_schedule,
    )
    refresh_all = window.mode == FULL or association_refresh_due(
        cfg.association_refresh, parse_datetime(state["watermark"]) if state else None, now
    )
    schema_changes: dict[str, Any] = {}
    archived_before_uri = None
    if not ctx.dry_run:
        schema_changes = warehouse.ensure_object_table(object_name, selected).as_dict()
        archived_before_uri = _note_archived(ctx, warehouse, object_name)
        if pipelines is not None:
            warehouse.upsert_pipelines(object_name, pipelines)
        acquire_lease(ctx, warehouse, object_name)
    log.info(
        "%s: mode=%s window=[%s, %s) (%s); %d of %d properties%s",
        object_name,
        window.mode,
        _iso(window.start),
        _iso(window.end),
        window.reason,
        len(selected),
        len(definitions),
        " (dry run: nothing is written)" if ctx.dry_run else "",
    )
    return {
        "object_name": object_name,
        "api_type": api_type,
        "table": table_name_for_object(object_name),
        "properties": [p["name"] for p in selected],
        "modified_property": modified_property(object_name),
        "associations": associations,
        "association_scope": "all" if refresh_all else "extracted",
        "associated_from": [_association_target(hook, name) for name in cfg.associated_from],
        "pipelines": len(pipelines) if pipelines is not None else None,
        "mode": window.mode,
        "window_start": _iso(window.start),
        "window_end": _iso(window.end),
        "window_reason": window.reason,
        "old_watermark": state["watermark"] if state else None,
        "archived_before_uri": archived_before_uri,
        "started_at": now.isoformat(),
        "dry_run": ctx.dry_run,
        "limit": ctx.limit,
        "schema_changes": schema_changes,
        "api_calls": hook.stats.as_dict(),
    }


def _note_archived(ctx: StepContext, warehouse: Any, object_name: str) -> str:
    """Stage the ids the warehouse holds as archived before this run (see reconcile: restores).

    A restore bumps the record's modified date, so extract reads it and load clears its flags
    before reconcile runs; this list is how reconcile still knows it was restored. Staged, not
    an XCom, since it can be long.
    """
    archived = sorted(i for i, kind in warehouse.deletion_kinds(object_name).items() if kind == "archived")
    directory = staging_dir(ctx.cfg.staging_base, ctx.dag_id, ctx.run_id, ctx.try_number)
    return write_json(directory, "archived-before.json", archived)


def _fetch_pipelines(hook: Any, object_name: str, api_type: str) -> list[dict[str, Any]] | None:
    if object_name not in OBJECTS_WITH_PIPELINES and not str(api_type).startswith("2-"):
        return None
    from hubspot_etl.hooks.errors import HubSpotBadRequest, HubSpotNotFound

    try:
        return hook.get_pipelines(api_type)
    except (HubSpotNotFound, HubSpotBadRequest):
        return None  # custom objects without pipelines


def _association_target(hook: Any, to: str) -> dict[str, str]:
    info = hook.resolve_object_type(to)
    return {"name": info["name"], "api_type": info.get("object_type_id") or info["name"]}


# --------------------------------------------------------------------------- extract


def extract(ctx: StepContext, plan: dict[str, Any]) -> dict[str, Any]:
    """Stream the records of the window (or all of them) into staged NDJSON parts."""
    hook = ctx.hook()
    started = ctx.now()
    limit = plan["limit"]
    preloader = _Preloader(ctx, plan) if ctx.cfg.load_during_extract and not plan["dry_run"] else None
    on_part = preloader.submit if preloader is not None else None
    changes = _ChangeCounter(parse_datetime(plan["old_watermark"]))
    try:
        with _part_writer(ctx, on_part=on_part) as writer:
            complete = _write_records(hook, plan, writer, limit, changes)
    except BaseException:
        if preloader is not None:
            preloader.finish()  # let a part being loaded commit or roll back before the error
        raise
    stats = hook.stats.as_dict()
    return {
        "parts": [part.as_dict() for part in writer.parts],
        "records": sum(part.rows for part in writer.parts),
        "records_changed": changes.count,
        "complete": complete,
        "extract_started_at": started.isoformat(),
        "api_calls": stats,
        "preloaded": preloader.finish() if preloader is not None else {},
    }


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


def _write_records(
    hook: Any, plan: dict[str, Any], writer: PartWriter, limit: int | None, changes: _ChangeCounter
) -> bool:
    """Fetch the plan's records into ``writer``; False if ``limit`` cut the extract short."""
    expected, max_id = _id_span(hook, plan)
    if plan["mode"] == FULL:
        # ``limit`` runs page serially so they always keep the first records by id
        records = _full_records(hook, plan, max_id, concurrency=1 if limit is not None else None)
    else:
        records = _modified_records(hook, plan)
    progress = Progress(f"extract {plan['object_name']}", expected)
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

    def __init__(self, ctx: StepContext, plan: dict[str, Any]) -> None:
        self.ctx, self.plan = ctx, plan
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubspot-preload")
        self.futures: list[tuple[str, Future[Any]]] = []
        self.warehouse: Any = None

    def submit(self, part: Any) -> None:
        self.futures.append((part.part_id, self.pool.submit(self._load, part)))

    def _load(self, part: Any) -> Any:
        if self.warehouse is None:
            self.warehouse = self.ctx.warehouse()
        object_name = self.plan["object_name"]
        with self.warehouse.object_lock(object_name):
            self.warehouse.acquire_run_lease(object_name, self.ctx.run_id, lease_ttl(self.ctx.cfg))
            return _load_staged(self.warehouse, object_name, part.part_id, part.uri)

    def finish(self) -> dict[str, dict[str, int]]:
        """Wait for every preload; ``part_id -> {rows, rejects}`` of the parts it committed."""
        done: dict[str, dict[str, int]] = {}
        try:
            for part_id, future in self.futures:
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - the load step retries this part
                    log.warning("preloading %s failed (the load step will load it): %s", part_id, exc)
                    continue
                if not getattr(outcome, "skipped", False):
                    done[part_id] = {"rows": outcome.rows, "rejects": outcome.rejects}
        finally:
            self.pool.shutdown(wait=True)
        if done:
            log.info("loaded %d of %d parts during extract", len(done), len(self.futures))
        return done


def _id_span(hook: Any, plan: dict[str, Any]) -> tuple[int | None, int | None]:
    """Live records and the highest live id (one search) of a full extract; (None, None) otherwise.

    The count feeds the progress log, the highest id the parallel listing's id ranges.
    """
    if plan["mode"] != FULL:
        return None, None
    from hubspot_etl.hooks.errors import HubSpotError

    try:
        return hook.id_span(plan["api_type"])
    except HubSpotError as exc:  # an estimate is never worth failing the run: list serially
        log.warning("could not count %s (listing serially): %s", plan["object_name"], exc)
        return None, None


def _full_records(
    hook: Any, plan: dict[str, Any], max_id: int | None, concurrency: int | None
) -> Iterator[list[dict[str, Any]]]:
    yield from hook.iter_objects(
        plan["api_type"], properties=plan["properties"], max_id=max_id, concurrency=concurrency
    )


def _modified_records(hook: Any, plan: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Search finds the ids modified in the window; batch read fetches them as they are now.

    Search results may lag behind writes, so the current record comes from batch read,
    which reads the primary store. Ids are de-duplicated across search pages.
    """
    start = parse_datetime(plan["window_start"])
    end = parse_datetime(plan["window_end"])
    seen: set[int] = set()
    pending: list[str] = []
    for page in hook.iter_modified(plan["api_type"], start, end, properties=[plan["modified_property"]]):
        for record in page:
            record_id = int(record["id"])
            if record_id not in seen:
                seen.add(record_id)
                pending.append(str(record_id))
        while len(pending) >= BATCH_READ_SIZE:
            batch, pending = pending[:BATCH_READ_SIZE], pending[BATCH_READ_SIZE:]
            yield hook.batch_read(plan["api_type"], batch, properties=plan["properties"])
    if pending:
        yield hook.batch_read(plan["api_type"], pending, properties=plan["properties"])


# --------------------------------------------------------------------------- load


def load(ctx: StepContext, plan: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Load every staged part: COPY + upsert, one transaction per part, skipping loaded parts."""
    result = {
        "records_upserted": 0,
        "rejects": 0,
        "parts_loaded": 0,
        "parts_skipped": 0,
        "parts_preloaded": 0,
    }
    if plan["dry_run"]:
        return result
    warehouse = ctx.warehouse()
    with warehouse.object_lock(plan["object_name"]):
        warehouse.acquire_run_lease(plan["object_name"], ctx.run_id, lease_ttl(ctx.cfg))
        preloaded = manifest.get("preloaded") or {}
        for part in manifest["parts"]:
            done = preloaded.get(part["part_id"])
            if done is not None:  # committed (and recorded in the ledger) by this run's extract
                result["parts_preloaded"] += 1
                result["parts_loaded"] += 1
                result["records_upserted"] += done["rows"]
                result["rejects"] += done["rejects"]
                continue
            outcome = _load_staged(warehouse, plan["object_name"], part["part_id"], part["uri"])
            if getattr(outcome, "skipped", False):
                result["parts_skipped"] += 1
                continue
            result["parts_loaded"] += 1
            result["records_upserted"] += outcome.rows
            result["rejects"] += outcome.rejects
    log.info("load %s: %s", plan["object_name"], result)
    return result


# --------------------------------------------------------------------------- associations


def associations(ctx: StepContext, plan: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Refresh associations, for each configured target type.

    A full run, and an incremental run whose ``association_refresh`` is due (every run by
    default), refresh every live record's: HubSpot changes no modified date when only an
    association is added, removed or relabelled, so only this catches such a change. That costs
    about ``ceil(live records / 1,000)`` batch reads per target and no listing (the warehouse
    knows the live ids). Otherwise only the extracted records' associations are refreshed.
    Only differences are written.
    """
    scope = plan.get("association_scope", "extracted")
    if not plan["associations"]:
        return {"associations": {}, "association_refresh": {"scope": scope, "records": 0}, "api_calls": {}}
    hook = ctx.hook()
    warehouse = None if plan["dry_run"] else ctx.warehouse()
    if scope == "all" and plan["mode"] != FULL and warehouse is not None:
        ids = sorted(warehouse.live_ids(plan["object_name"]))
    else:
        ids = sorted(set(_ids_in_parts(manifest["parts"])))
    before = _association_calls(hook)
    counts, changed = _refresh_associations(ctx, hook, warehouse, plan, plan["associations"], ids)
    refresh = {
        "scope": scope,
        "records": len(ids),
        "calls": _association_calls(hook) - before,
        "changed": changed,
    }
    log.info("associations %s: %s (%s)", plan["object_name"], counts, refresh)
    return {"associations": counts, "association_refresh": refresh, "api_calls": hook.stats.as_dict()}


def _association_calls(hook: Any) -> int:
    return int(hook.stats.as_dict()["calls"].get("associations.batch_read", 0))


def _refresh_associations(
    ctx: StepContext,
    hook: Any,
    warehouse: Any,
    plan: dict[str, Any],
    targets: list[dict[str, str]],
    ids: list[int],
    source: dict[str, str] | None = None,
) -> tuple[dict[str, int], int]:
    """Fetch the associations of ``ids`` (of ``source``, default the plan's object) to each
    target and write them; returns rows fetched per target and rows changed in the warehouse."""
    source = source or {"name": plan["object_name"], "api_type": plan["api_type"]}
    counts: dict[str, int] = {}
    changed = 0
    chunks = list(_chunks(ids, ASSOCIATION_CHUNK))
    workers = max(1, min(hook.settings.list_concurrency, len(chunks)))
    # Fetches run in a small pool (the hook's budget paces them); writes stay in this thread,
    # in chunk order, each under the object lock.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hubspot-assoc") as pool:
        for target in targets:
            total = 0

            def fetch(chunk: list[int], to_type: str = target["api_type"]) -> list[dict[str, Any]]:
                return list(hook.iter_associations(source["api_type"], to_type, [str(i) for i in chunk]))

            for chunk, rows in _ordered_map(pool, fetch, chunks, ahead=2 * workers):
                total += len(rows)
                if warehouse is not None:
                    with warehouse.object_lock(plan["object_name"]):
                        warehouse.acquire_run_lease(plan["object_name"], ctx.run_id, lease_ttl(ctx.cfg))
                        changed += warehouse.replace_associations(source["name"], target["name"], chunk, rows)
            counts[target["name"]] = total
    return counts, changed


# --------------------------------------------------------------------------- reconcile


def reconcile(ctx: StepContext, plan: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Bring deletes, merges and restores to the warehouse; never physically delete.

    - archived: ids in HubSpot's archived list. Those the warehouse does not yet hold as
      archived (live rows, or records archived before they were ever synced) are
      batch-read with ``archived=true`` and loaded, so their last values are kept too;
    - restored: rows the warehouse holds as archived that HubSpot lists again are re-read
      and loaded live, which clears their flags;
    - merged: ids listed in the ``hs_merged_object_ids`` of an extracted or archived survivor,
      resolved to the final survivor across runs (A into B, later B into C: A -> C); their
      associations follow the survivor;
    - purged (complete full runs only): warehouse ids HubSpot neither lists, archives nor
      merged. Only rows synced before this extract started are candidates, so a record
      loaded by a concurrent incremental run is never mistaken for a purged one.
    """
    deletes = {"archived": 0, "merged": 0, "purged": 0, "restored": 0}
    result: dict[str, Any] = {"deletes": deletes, "api_calls": {}, "purge_check": "skipped"}
    hook = ctx.hook()
    # A full run lists the archived records with their properties (a first full load must load
    # them all); an incremental run lists ids and merge lists only, and batch-reads the few it
    # has not seen. Archived survivors' ``hs_merged_object_ids`` count too: a record merged into
    # one that was archived later is merged, never purged.
    full_listing = plan["mode"] == FULL and not plan["dry_run"]
    listing = _ArchivedListing(ctx, hook, plan, with_properties=full_listing)
    merged_into = {**_merged_map(manifest["parts"]), **listing.merged}
    archived = listing.ids
    if plan["dry_run"]:
        deletes["merged"], deletes["archived"] = len(merged_into), len(archived)
        result["api_calls"] = hook.stats.as_dict()
        return result
    warehouse = ctx.warehouse()
    object_name = plan["object_name"]
    with warehouse.object_lock(object_name):
        warehouse.acquire_run_lease(object_name, ctx.run_id, lease_ttl(ctx.cfg))
        kinds = warehouse.deletion_kinds(object_name)
        to_archive = sorted(
            i for i in archived if kinds.get(i, "missing") != "archived" and i not in merged_into
        )
        maybe_restored = sorted(i for i, kind in kinds.items() if kind == "archived" and i not in archived)
        if listing.parts:
            deletes["archived"] = listing.load(warehouse, set(to_archive))
        else:
            deletes["archived"], _ = _reload(
                ctx, hook, warehouse, plan, to_archive, archived=True, name="archived"
            )
        deletes["restored"], gone = _reload(
            ctx, hook, warehouse, plan, maybe_restored, archived=False, name="restored"
        )
        # restored: live again after this run's load (a restore bumps the modified date), or
        # re-read just above; both get their associations back below
        before = set(read_json(plan["archived_before_uri"])) if plan.get("archived_before_uri") else set()
        revived = {i for i in before if kinds.get(i, "missing") is None}
        deletes["restored"] += len(revived)
        restored = sorted(revived | (set(maybe_restored) - set(gone)))
        # archived earlier, and now neither archived nor live: purged from the recycle bin
        marks: list[tuple[int, str, str | None, int | None]] = [(i, "purged", None, None) for i in gone]
        marks += _merge_marks(merged_into, warehouse.merge_targets(object_name))
        if plan["mode"] == FULL and manifest["complete"]:
            listed = set(_ids_in_parts(manifest["parts"]))
            candidates = warehouse.live_ids(
                object_name, synced_before=parse_datetime(manifest["extract_started_at"])
            )
            for record_id in sorted(candidates - listed - set(merged_into) - archived.keys()):
                marks.append((record_id, "purged", None, None))
            result["purge_check"] = "done"
        if marks:
            warehouse.mark_deleted(object_name, marks)
        for _, kind, _, _ in marks:
            deletes[kind] += 1
        warehouse.follow_merges_and_deletes(
            object_name,
            {i: survivor for i, kind, _, survivor in marks if kind == "merged"},
            [i for i, kind, _, _ in marks if kind != "merged"] + list(to_archive),
        )
    # outside the object lock: each association write takes it itself
    result["restored_associations"] = _restore_associations(ctx, hook, warehouse, plan, restored)
    result["api_calls"] = hook.stats.as_dict()
    log.info("reconcile %s: %s", object_name, deletes)
    return result


def _restore_associations(
    ctx: StepContext, hook: Any, warehouse: Any, plan: dict[str, Any], restored: list[int]
) -> int:
    """Bring back a restored record's associations, in both directions, in this run.

    Archiving removed its rows from this object's association tables and, as HubSpot hides
    them, from the other objects' tables that point at it (``contact_company``...). Those links
    never changed in HubSpot, so a restore re-reads them: this object's own associations of
    the restored ids, and, for each configured object that associates to this one, the
    associations of its records linked to them. Returns rows changed.
    """
    if not restored:
        return 0
    _, changed = _refresh_associations(ctx, hook, warehouse, plan, plan["associations"], restored)
    this = {"name": plan["object_name"], "api_type": plan["api_type"]}
    for other in plan.get("associated_from") or []:
        linked = sorted(
            {
                int(row["to_id"])
                for row in hook.iter_associations(
                    this["api_type"], other["api_type"], [str(i) for i in restored]
                )
            }
        )
        if linked:
            _, more = _refresh_associations(ctx, hook, warehouse, plan, [this], linked, source=other)
            changed += more
    return changed


def resolve_merge_chains(merged_into: dict[int, int]) -> dict[int, int]:
    """``merged id -> final survivor``: A merged into B, later B into C, gives A -> C.

    A cycle (which HubSpot cannot produce) ends at the last id before it repeats.
    """
    final: dict[int, int] = {}
    for record_id in merged_into:
        seen = {record_id}
        survivor = merged_into[record_id]
        while survivor in merged_into and merged_into[survivor] not in seen:
            seen.add(survivor)
            survivor = merged_into[survivor]
        final[record_id] = survivor
    return final


def _merge_marks(
    merged_into: dict[int, int], stored: dict[int, int]
) -> list[tuple[int, str, str | None, int | None]]:
    """Merge flags to write: every merged id whose stored survivor is not its final one.

    ``merged_into`` comes from this run's survivors (and archived survivors), ``stored`` from
    the warehouse's earlier merges; together they resolve chains across runs, so an id merged
    into a record that is itself merged away later points at the final survivor, on an
    incremental run and on a full load alike. Ids merged before they were ever synced get a
    tombstone row, so every merged id maps to its survivor.
    """
    final = resolve_merge_chains({**stored, **merged_into})
    return [
        (record_id, "merged", None, survivor)
        for record_id, survivor in sorted(final.items())
        if stored.get(record_id) != survivor and record_id != survivor
    ]


class _ArchivedListing:
    """HubSpot's archived records of one object type (the list has no time filter).

    ``ids`` maps every archived id to its ``archivedAt``. With ``with_properties`` the records
    are staged as they are listed (memory stays flat), and :meth:`load` loads the wanted ones.
    """

    def __init__(self, ctx: StepContext, hook: Any, plan: dict[str, Any], *, with_properties: bool) -> None:
        self.ctx, self.plan = ctx, plan
        self.ids: dict[int, str | None] = {}
        self.merged: dict[int, int] = {}
        self.parts: list[Any] = []
        properties = plan["properties"] if with_properties else list(MERGE_LISTING_PROPERTIES)
        pages = hook.iter_objects(plan["api_type"], properties=properties, archived=True)
        if not with_properties:
            for page in pages:
                self._note(page)
            return
        with _part_writer(ctx, "listing-archived") as writer:
            for page in pages:
                self._note(page)
                writer.write_many(page)
        self.parts = writer.parts

    def _note(self, page: list[dict[str, Any]]) -> None:
        for record in page:
            record_id = int(record["id"])
            self.ids[record_id] = record.get("archivedAt")
            value = (record.get("properties") or {}).get("hs_merged_object_ids")
            self.merged.update((merged, record_id) for merged in _merged_ids(value, record_id))

    def load(self, warehouse: Any, wanted: set[int]) -> int:
        """Load the listed records whose id is in ``wanted``; returns how many were loaded."""
        if not wanted:
            return 0
        with _part_writer(self.ctx, "archived") as writer:
            for part in self.parts:
                writer.write_many(r for r in read_part(part.uri) if int(r["id"]) in wanted)
        object_name = self.plan["object_name"]
        return sum(_load_staged(warehouse, object_name, p.part_id, p.uri).rows for p in writer.parts)


def _reload(
    ctx: StepContext,
    hook: Any,
    warehouse: Any,
    plan: dict[str, Any],
    ids: list[int],
    *,
    archived: bool,
    name: str,
) -> tuple[int, list[int]]:
    """Batch-read ``ids`` as they are now in HubSpot and load them; returns (loaded, not found)."""
    if not ids:
        return 0, []
    missing: list[int] = []
    with _part_writer(ctx, name) as writer:
        for chunk in _chunks([str(i) for i in ids], BATCH_READ_SIZE):
            found = hook.batch_read(plan["api_type"], chunk, properties=plan["properties"], archived=archived)
            writer.write_many(found)
            missing += [int(i) for i in getattr(found, "missing", [])]
    object_name = plan["object_name"]
    loaded = sum(_load_staged(warehouse, object_name, p.part_id, p.uri).rows for p in writer.parts)
    return loaded, missing


def _merged_map(parts: list[dict[str, Any]]) -> dict[int, int]:
    """``merged id -> survivor id`` from the survivors' ``hs_merged_object_ids``."""
    merged: dict[int, int] = {}
    for part in parts:
        for survivor, value in read_part_index(part)["merged"].items():
            merged.update((i, int(survivor)) for i in _merged_ids(value, int(survivor)))
    return merged


def _merged_ids(value: Any, survivor: int) -> list[int]:
    """The ids of a ``hs_merged_object_ids`` value (``"12;34"``), without the survivor itself."""
    ids = []
    for token in str(value or "").split(";"):
        token = token.strip()
        if token.isdigit() and int(token) != survivor:
            ids.append(int(token))
    return ids


# --------------------------------------------------------------------------- finalize


def finalize(
    ctx: StepContext,
    plan: dict[str, Any],
    manifest: dict[str, Any],
    loaded: dict[str, Any],
    linked: dict[str, Any],
    reconciled: dict[str, Any],
) -> dict[str, Any]:
    """Advance the watermark, write the run report and return it (the task's XCom)."""
    now = ctx.now()
    started = parse_datetime(plan["started_at"])
    window = Window(
        plan["mode"], parse_datetime(plan["window_start"]), parse_datetime(plan["window_end"]), ""
    )
    old = parse_datetime(plan["old_watermark"])
    watermark = next_watermark(
        window, old, parse_datetime(manifest["extract_started_at"]), manifest["complete"]
    )
    schema = plan["schema_changes"]
    report = {
        "run_id": ctx.run_id,
        "dag_id": ctx.dag_id,
        "object_name": plan["object_name"],
        "mode": plan["mode"] + (" (dry run)" if plan["dry_run"] else ""),
        "status": "healthy" if loaded["rejects"] == 0 else "with_errors",
        "started_at": plan["started_at"],
        "finished_at": now.isoformat(),
        "duration_s": round((now - started).total_seconds(), 3),
        "window_start": plan["window_start"],
        "window_end": plan["window_end"],
        "records_fetched": manifest["records"],
        "records_upserted": loaded["records_upserted"],
        "records_changed": manifest.get("records_changed", manifest["records"]),
        "rejects": loaded["rejects"],
        "api_calls": sum_counters(
            plan["api_calls"],
            manifest["api_calls"],
            linked.get("api_calls", {}),
            reconciled.get("api_calls", {}),
        ),
        "search_splits": int(manifest["api_calls"].get("search_splits", 0)),
        "associations": linked["associations"],
        "association_refresh": linked.get("association_refresh", {}),
        "associations_changed": int((linked.get("association_refresh") or {}).get("changed", 0))
        + int(reconciled.get("restored_associations", 0)),
        "deletes": reconciled["deletes"],
        "schema_changes": schema,
        "columns_spilled": int(schema.get("spilled", 0)),
        "columns_renamed": int(schema.get("renamed", 0)),
        "watermark": _iso(watermark),
        "complete": manifest["complete"],
        "parts": {"loaded": loaded["parts_loaded"], "skipped": loaded["parts_skipped"]},
    }
    report["changed"] = wrote_changes(report, plan["dry_run"])
    if not plan["dry_run"]:
        warehouse = ctx.warehouse()
        last_full = now if plan["mode"] == FULL and manifest["complete"] else None
        with warehouse.object_lock(plan["object_name"]):
            warehouse.check_run_lease(plan["object_name"], ctx.run_id)
            warehouse.set_sync_state(
                plan["object_name"], watermark=watermark, last_full_load_at=last_full, run_id=ctx.run_id
            )
            warehouse.write_run_report(report)
            warehouse.release_run_lease(plan["object_name"], ctx.run_id)
    if not ctx.cfg.keep_staged_files:
        _remove_staging(ctx)
    log.info("run report %s: %s", plan["object_name"], report)
    return report


def wrote_changes(report: dict[str, Any], dry_run: bool) -> bool:
    """Did the run complete and write a change (records, deletes, restores, associations or
    new columns)?

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
        or schema.get("added")
        or schema.get("widened")
    )


def _remove_staging(ctx: StepContext) -> None:
    """Delete the run's staged parts once everything is loaded (every attempt, killed ones too)."""
    try:
        remove_run_staging(ctx.cfg.staging_base, ctx.dag_id, ctx.run_id)
    except OSError as exc:  # staging is scratch space: a failed cleanup must not fail the sync
        log.warning("could not remove the staged parts of %s: %s", ctx.run_id, exc)


def sum_counters(*counters: dict[str, Any]) -> dict[str, int]:
    """Add up per-endpoint API call counters from several tasks (numeric entries only)."""
    total: dict[str, int] = {}
    for counter in counters:
        calls = counter.get("calls", counter) if isinstance(counter, dict) else {}
        for key, value in calls.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + int(value)
    return total


# --------------------------------------------------------------------------- owners


def sync_owners(ctx: StepContext) -> dict[str, Any]:
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
    finished = ctx.now()
    report = {
        "run_id": ctx.run_id,
        "dag_id": ctx.dag_id,
        "object_name": "owners",
        "mode": FULL + (" (dry run)" if ctx.dry_run else ""),
        "status": "healthy",
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_s": round((finished - started).total_seconds(), 3),
        "records_fetched": len(owners),
        "records_upserted": 0 if ctx.dry_run else len(owners),
        "records_changed": changed,
        "rejects": 0,
        "api_calls": sum_counters(hook.stats.as_dict()),
        "search_splits": 0,
        "associations": {},
        "deletes": {"archived": sum(1 for o in owners if o.get("archived"))},
        "schema_changes": {},
        "columns_spilled": 0,
        "columns_renamed": 0,
        "watermark": None,
        "complete": True,
    }
    # ``deletes.archived`` counts every archived owner; ``records_changed`` counts what changed
    report["changed"] = not ctx.dry_run and changed > 0
    if not ctx.dry_run:
        warehouse.write_run_report(report)
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
