"""The bulk path of a full run: HubSpot's Exports API instead of the list API.

``full_load_method`` (config) chooses how a full run reads the records: ``list`` (default),
``export``, or ``auto`` (export once the live count, the one search a full run makes anyway,
reaches ``export_threshold``). A run with ``limit`` always lists (an export cannot stop early).

An export run's extract task works in two halves around a wait that holds no worker slot:

1. :func:`begin`: note the start time, start the export, record it (``export.json`` in the run's
   staging folder), and the operator defers to :class:`~hubspot_etl.triggers.export.HubSpotExportTrigger`;
2. :func:`finish`: once the trigger reports the export ended, read its status again (the signed
   download URL never travels through Airflow), download, parse, and stage the records through
   the same part writer, preloader and manifest as the list path, so load, history and
   reconcile run unchanged. The association columns are staged beside them
   (``export-associations`` parts) for :func:`refresh_from_export`.

The watermark an export run hands to incremental runs is the export's start time (the
manifest's ``extract_started_at``): a record changed while HubSpot built the file is read by the
next incremental window. The purge check of reconcile uses the same time, so only rows synced
before the export started can be found missing from it.

Retries: the recorded export is resumed. A retried extract task whose run already started an
export waits for that one again (a new deadline, the same start time) unless HubSpot reports it
failed, canceled or unknown, in which case it starts a new one. An export that ended without a
file drops its record, so the next try starts afresh.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hubspot_etl.config import FULL_LOAD_AUTO, FULL_LOAD_EXPORT, FULL_LOAD_LIST
from hubspot_etl.sync.associations import ASSOCIATION_CHUNK, write_associations
from hubspot_etl.sync.context import StepContext, chunks, lease_ttl, part_writer
from hubspot_etl.sync.contracts import ApiCalls, Manifest, ObjectRef, Plan
from hubspot_etl.sync.extract import Progress, _ChangeCounter, _id_span, stage, write_batches
from hubspot_etl.sync.plan import FULL, parse_datetime
from hubspot_etl.sync.staging import Part, read_json, read_part, staging_dir, write_json

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.sync.staging import PartWriter
    from hubspot_etl.warehouse.base import Warehouse

log = logging.getLogger(__name__)

#: ``Manifest.method`` of an export run
EXPORT = "export"
RECORD_FILE = "export.json"
ASSOCIATION_PARTS = "export-associations"


class HubSpotExportFailed(RuntimeError):
    """The export ended without a file, timed out, or its status could not be read."""


# --------------------------------------------------------------------------- the decision


def choose_full_load(method: str, threshold: int, live_records: int | None) -> tuple[str, str]:
    """``(list|export, why)`` for a full run; ``live_records`` is the count the full run measured
    (None: unknown, which lists)."""
    if method == FULL_LOAD_EXPORT:
        return FULL_LOAD_EXPORT, "full_load_method: export"
    if method != FULL_LOAD_AUTO:
        return FULL_LOAD_LIST, f"full_load_method: {method}"
    if live_records is None:
        return FULL_LOAD_LIST, "full_load_method: auto, and the live records could not be counted"
    if live_records >= threshold:
        return FULL_LOAD_EXPORT, f"full_load_method: auto, {live_records} live records >= {threshold}"
    return FULL_LOAD_LIST, f"full_load_method: auto, {live_records} live records < {threshold}"


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class ExportRun:
    """A started export, as recorded in the run's staging folder (no URL, no token)."""

    export_id: str
    object_name: str
    started_at: str  # just before the export was requested: the run's watermark
    live_records: int | None
    api_calls: ApiCalls  # the calls of the half that started it (or of every earlier try)

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "object_name": self.object_name,
            "started_at": self.started_at,
            "live_records": self.live_records,
            "api_calls": self.api_calls,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> ExportRun:
        return cls(
            export_id=str(value["export_id"]),
            object_name=value["object_name"],
            started_at=value["started_at"],
            live_records=value.get("live_records"),
            api_calls=value.get("api_calls") or {},
        )


def _record_dir(ctx: StepContext) -> Any:
    """The run's staging folder (above the attempts): the record outlives a failed try."""
    return staging_dir(ctx.cfg.staging_base, ctx.dag_id, ctx.run_id, ctx.try_number).parent


def read_record(ctx: StepContext) -> ExportRun | None:
    path = _record_dir(ctx) / RECORD_FILE
    return ExportRun.from_dict(read_json(str(path))) if path.exists() else None


def _write_record(ctx: StepContext, run: ExportRun) -> None:
    write_json(_record_dir(ctx), RECORD_FILE, run.as_dict())


def _drop_record(ctx: StepContext) -> None:
    path = _record_dir(ctx) / RECORD_FILE
    if path.exists():
        path.unlink()


# --------------------------------------------------------------------------- first half


def begin(ctx: StepContext, plan: Plan) -> ExportRun | None:
    """Start (or resume) the export of a full run that reads by export; None: list as usual."""
    cfg = ctx.cfg
    if plan.mode != FULL or plan.limit is not None or cfg.full_load_method == FULL_LOAD_LIST:
        return None
    hook = ctx.hook()
    resumed = _resumable(ctx, hook, plan)
    if resumed is not None:
        return resumed
    live = _id_span(hook, plan)[0] if cfg.full_load_method == FULL_LOAD_AUTO else None
    method, why = choose_full_load(cfg.full_load_method, cfg.export_threshold, live)
    log.info("%s: full run reads by %s (%s)", plan.object_name, method, why)
    if method != FULL_LOAD_EXPORT:
        return None
    from hubspot_etl.hooks.exports import start_export

    started = ctx.now()
    export_id = start_export(
        hook,
        plan.api_type,
        plan.properties,
        [target.api_type for target in plan.associations],
        name=f"{ctx.dag_id} {ctx.run_id}"[:200],
    )
    run = ExportRun(export_id, plan.object_name, started.isoformat(), live, hook.stats.as_dict())
    _write_record(ctx, run)
    _hold_lease(ctx, plan)
    return run


def _hold_lease(ctx: StepContext, plan: Plan) -> None:
    """Renew the run's lease for the wait: no step renews it while the task is deferred, and
    the wait may last ``export_timeout_minutes``, longer than a task's usual lease."""
    if plan.dry_run:
        return
    warehouse = ctx.warehouse()
    ttl = lease_ttl(ctx.cfg) + timedelta(minutes=ctx.cfg.export_timeout_minutes)
    with warehouse.object_lock(plan.object_name):
        warehouse.acquire_run_lease(plan.object_name, ctx.run_id, ttl)


def _resumable(ctx: StepContext, hook: HubSpotHook, plan: Plan) -> ExportRun | None:
    """This run's recorded export if HubSpot still has it (a retried task waits for it again)."""
    from hubspot_etl.hooks.errors import HubSpotNotFound
    from hubspot_etl.hooks.exports import export_status

    recorded = read_record(ctx)
    if recorded is None or recorded.object_name != plan.object_name:
        return None
    try:
        status = export_status(hook, recorded.export_id)
    except HubSpotNotFound:
        status = None
    if status is None or status.failed:
        log.info("the recorded export %s is gone or failed: starting a new one", recorded.export_id)
        _drop_record(ctx)
        return None
    log.info("resuming export %s (started %s, %s)", recorded.export_id, recorded.started_at, status.state)
    resumed = replace(recorded, api_calls=sum_stats(recorded.api_calls, hook.stats.as_dict()))
    _write_record(ctx, resumed)  # this try's calls count too
    _hold_lease(ctx, plan)
    return resumed


# --------------------------------------------------------------------------- second half


def finish(ctx: StepContext, plan: Plan, event: dict[str, Any]) -> Manifest:
    """Stage a finished export's records (the trigger's ``event`` says how it ended)."""
    from hubspot_etl.hooks.exports import export_status

    run = read_record(ctx)
    export_id = str(event.get("export_id"))
    if run is None or run.export_id != export_id:
        raise HubSpotExportFailed(
            f"export {export_id} of {plan.object_name} has no record in this run's staging folder "
            "(was staging_base cleaned meanwhile?); run the DAG again"
        )
    polls = {"calls": {"exports.status": int(event.get("polls") or 0)}}
    hook = ctx.hook()
    status = export_status(hook, export_id) if event.get("state") == "COMPLETE" else None
    if status is None or not status.done or not status.download_url:
        _fail(ctx, run, plan, event, status)
    records = _ExportRecords(ctx, plan, status.download_url)
    try:
        staged = stage(ctx, plan, records.fill)
    finally:
        records.cleanup()
    staged_records = sum(part.rows for part in staged.parts)
    log.info("export %s of %s: %d records staged", export_id, plan.object_name, staged_records)
    return Manifest(
        parts=staged.parts,
        records=staged_records,
        records_changed=records.changes.count,
        complete=staged.complete,
        extract_started_at=run.started_at,
        api_calls=sum_stats(run.api_calls, polls, hook.stats.as_dict()),
        preloaded=staged.preloaded,
        method=EXPORT,
        association_parts=records.association_parts,
    )


def _fail(ctx: StepContext, run: ExportRun, plan: Plan, event: dict[str, Any], status: Any) -> NoReturn:
    """Raise the error that names why the export gave no file; an export that ended for good
    drops its record, so a retry starts a new one (a timeout or unread status is resumed)."""
    from hubspot_etl.triggers.export import ERROR, TIMEOUT

    state = str(event.get("state"))
    message = event.get("message") or (status.message if status is not None else None)
    if state == TIMEOUT:
        cause = f"did not finish within export_timeout_minutes={ctx.cfg.export_timeout_minutes}"
    elif state == ERROR:
        cause = "could not be polled"
    else:
        _drop_record(ctx)
        cause = f"ended {status.state if status is not None else state} without a file"
    detail = f": {message}" if message else ""
    raise HubSpotExportFailed(f"HubSpot export {run.export_id} of {plan.object_name} {cause}{detail}")


class _ExportRecords:
    """The records of a finished export, downloaded into a temporary folder when staged.

    :meth:`fill` is the ``fill`` of :func:`~.extract.stage`: it writes the records
    and, beside them, each record's association columns as ``export-associations`` parts.
    """

    def __init__(self, ctx: StepContext, plan: Plan, url: str) -> None:
        self.ctx, self.plan, self.url = ctx, plan, url
        self.targets = [target.api_type for target in plan.associations]
        self.association_parts: list[Part] = []
        self.changes = _ChangeCounter(parse_datetime(plan.old_watermark))
        self._tmp = tempfile.TemporaryDirectory(prefix="hubspot-export-")

    def fill(self, writer: PartWriter) -> bool:
        from hubspot_etl.hooks.exports import download_export, iter_export_records

        paths = download_export(self.url, Path(self._tmp.name))
        pages = iter_export_records(
            paths,
            self.plan.properties,
            self.targets,
            object_type=self.plan.object_name,
            association_cap=self.ctx.cfg.export_association_cap,
        )
        with part_writer(self.ctx, ASSOCIATION_PARTS) as links:
            complete = write_batches(
                _split_links(pages, links),
                writer,
                None,
                self.changes,
                Progress(f"export {self.plan.object_name}"),
            )
        self.association_parts = list(links.parts)
        return complete

    def cleanup(self) -> None:
        self._tmp.cleanup()


def _split_links(pages: Iterator[list[dict[str, Any]]], links: PartWriter) -> Iterator[list[dict[str, Any]]]:
    """The records of ``pages`` without their association columns, which go to ``links``."""
    for page in pages:
        for record in page:
            links.write(
                {
                    "id": record["id"],
                    "associations": record.pop("associations", {}),
                    "association_labels": record.pop("association_labels", {}),
                    "associations_capped": record.pop("associations_capped", []),
                }
            )
        yield page


def sum_stats(*stats: ApiCalls) -> ApiCalls:
    """Hook stats (``HubSpotStats.as_dict()``) of several hooks or tries, added up."""
    calls: dict[str, int] = {}
    total: dict[str, Any] = {}
    for one in stats:
        for endpoint, n in (one.get("calls") or {}).items():
            calls[endpoint] = calls.get(endpoint, 0) + int(n)
        for key, value in one.items():
            if key not in ("calls", "total_calls") and isinstance(value, int | float):
                total[key] = total.get(key, 0) + value
    return {**total, "calls": dict(sorted(calls.items())), "total_calls": sum(calls.values())}


# --------------------------------------------------------------------------- associations


def refresh_from_export(
    ctx: StepContext, hook: HubSpotHook, warehouse: Warehouse | None, plan: Plan, manifest: Manifest
) -> tuple[dict[str, int], int, int]:
    """Write every exported record's associations from the export's association columns.

    Each association's types come from the export's labels column, mapped to the pair's
    association types (one ``associations.labels`` read per pair), so the rows equal the
    associations API's (type id, category, label). Without labels, a pair whose only type is
    the unlabelled HubSpot-defined one gets that type. Re-read through the associations API,
    for those records only: a record whose column reached the export's cap (it may hold more),
    and a record whose labels the file does not give for a pair with labelled types (no labels
    column, an unparsable cell, or a label that names no single type of the pair). Returns
    (rows per target, rows changed, records).
    """
    counts = {target.name: 0 for target in plan.associations}
    kinds = {target.api_type: _association_kinds(hook, plan, target) for target in plan.associations}
    changed = records = 0
    for part in manifest.association_parts:
        for chunk in chunks(list(read_part(part.uri)), ASSOCIATION_CHUNK):
            ids = [int(row["id"]) for row in chunk]
            records += len(ids)
            for target in plan.associations:
                rows = _export_rows(hook, plan, target, chunk, kinds[target.api_type])
                counts[target.name] += len(rows)
                if warehouse is not None:
                    changed += write_associations(ctx, warehouse, plan, plan.object_ref, target, ids, rows)
    return counts, changed, records


@dataclass(frozen=True)
class PairTypes:
    """A pair's association types as the rows store them.

    :ivar by_label: the types by label (None: the unlabelled type); a label two types share is
        left out, so its rows are re-read.
    :ivar only: the pair's one type when it has no other and it is the unlabelled
        HubSpot-defined one (every association then has it, labels or not).
    """

    by_label: dict[str | None, dict[str, Any]]
    only: dict[str, Any] | None = None


def _export_rows(
    hook: HubSpotHook, plan: Plan, target: ObjectRef, chunk: list[dict[str, Any]], kinds: PairTypes
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    reread: list[str] = []
    for row in chunk:
        exported = _exported_rows(row, target.api_type, kinds)
        if exported is None:
            reread.append(str(row["id"]))
        else:
            rows += exported
    if reread:
        rows += hook.iter_associations(plan.api_type, target.api_type, reread)
    return rows


def _exported_rows(row: dict[str, Any], target: str, kinds: PairTypes) -> list[dict[str, Any]] | None:
    """One exported record's association rows for ``target``, or None: re-read it."""
    if target in (row.get("associations_capped") or []):
        return None
    linked = (row.get("associations") or {}).get(target) or []
    labels = (row.get("association_labels") or {}).get(target)
    if labels is None:  # no labels: only a pair with nothing but the unlabelled type can do
        if linked and kinds.only is None:
            return None
        return [{"from_id": int(row["id"]), "to_id": int(to), **(kinds.only or {})} for to in linked]
    rows = []
    for to in linked:
        for label in labels.get(str(to)) or [False]:  # False: no type given, re-read
            kind = kinds.by_label.get(label) if label is not False else None
            if kind is None:
                return None
            rows.append({"from_id": int(row["id"]), "to_id": int(to), **kind})
    return rows


def _association_kinds(hook: HubSpotHook, plan: Plan, target: ObjectRef) -> PairTypes:
    """The pair's association types keyed by label (the unlabelled one by None), as the
    associations API reports them on each association; a label two types share is left out
    (its rows are re-read). Empty when the types cannot be read: every linked record is re-read."""
    from hubspot_etl.hooks.errors import HubSpotError

    try:
        types = hook.get_association_labels(plan.api_type, target.api_type)
    except HubSpotError as exc:
        log.warning(
            "association types %s -> %s unreadable (re-reading): %s", plan.object_name, target.name, exc
        )
        return PairTypes({})
    by_label: dict[str | None, list[dict[str, Any]]] = {}
    for kind in types:
        label = kind.get("label") or None
        entry = {"type_id": int(kind["typeId"]), "category": str(kind.get("category")), "label": label}
        by_label.setdefault(label, []).append(entry)
    unique = {label: found[0] for label, found in by_label.items() if len(found) == 1}
    only = unique.get(None) if len(types) == 1 else None
    return PairTypes(unique, only if only is not None and only["category"] == "HUBSPOT_DEFINED" else None)


def deadline(ctx: StepContext) -> float:
    """When the trigger stops waiting (epoch seconds): ``export_timeout_minutes`` from now."""
    return time.time() + ctx.cfg.export_timeout_minutes * 60
