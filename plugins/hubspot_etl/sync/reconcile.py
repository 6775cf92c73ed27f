"""Step 5, reconcile: deletes, merges and restores into the warehouse (flags, never deletes)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubspot_etl.sync.associations import refresh_associations
from hubspot_etl.sync.context import (
    BATCH_READ_SIZE,
    StepContext,
    chunks,
    ids_in_parts,
    lease_ttl,
    load_staged,
    part_writer,
)
from hubspot_etl.sync.contracts import Manifest, Plan, ReconcileReport
from hubspot_etl.sync.plan import FULL, parse_datetime
from hubspot_etl.sync.staging import Part, read_json, read_part, read_part_index

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.warehouse.base import DeletedId, Warehouse

log = logging.getLogger(__name__)

#: what the archived listing of an incremental run reads: ids, and archived survivors' merges
MERGE_LISTING_PROPERTIES = ("hs_object_id", "hs_merged_object_ids")


def reconcile(ctx: StepContext, plan: Plan, manifest: Manifest) -> ReconcileReport:
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
      loaded by a concurrent incremental run is never mistaken for a purged one. Ids in the
      ranges the full run read through search are batch-read before they count (``_purge_marks``).

    An incremental run whose ``deletes_check`` is not due skips the archived listing, and with
    it archived, purged and restored-by-re-read records, and merges found only in archived
    survivors: those wait for the run where it is due. Merges into live survivors (the
    survivor's modified date moves) and restores (likewise) are still found by every run.
    """
    deletes = {"archived": 0, "merged": 0, "purged": 0, "restored": 0}
    result = ReconcileReport(deletes=deletes)
    hook = ctx.hook()
    # A full run lists the archived records with their properties (a first full load must load
    # them all); an incremental run lists ids and merge lists only, and batch-reads the few it
    # has not seen. Archived survivors' ``hs_merged_object_ids`` count too: a record merged into
    # one that was archived later is merged, never purged.
    full_listing = plan.mode == FULL and not plan.dry_run
    listing = None
    if plan.deletes_check:
        result.deletes_checked_at = ctx.now().isoformat()
        listing = _ArchivedListing(ctx, hook, plan, with_properties=full_listing)
    merged_into = {**_merged_map(manifest.parts), **(listing.merged if listing else {})}
    archived = listing.ids if listing else {}
    if plan.dry_run:
        deletes["merged"], deletes["archived"] = len(merged_into), len(archived)
        result.api_calls = hook.stats.as_dict()
        return result
    warehouse = ctx.warehouse()
    object_name = plan.object_name
    with warehouse.object_lock(object_name):
        warehouse.acquire_run_lease(object_name, ctx.run_id, lease_ttl(ctx.cfg))
        kinds = warehouse.deletion_kinds(object_name)
        to_archive = sorted(
            i for i in archived if kinds.get(i, "missing") != "archived" and i not in merged_into
        )
        # without the listing, no archived row can be known to be live again but by its modified date
        maybe_restored = sorted(
            i for i, kind in kinds.items() if kind == "archived" and i not in archived and listing
        )
        if listing and listing.parts:
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
        before = set(read_json(plan.archived_before_uri)) if plan.archived_before_uri else set()
        revived = {i for i in before if kinds.get(i, "missing") is None}
        deletes["restored"] += len(revived)
        restored = sorted(revived | (set(maybe_restored) - set(gone)))
        # archived earlier, and now neither archived nor live: purged from the recycle bin
        marks: list[DeletedId] = [(i, "purged", None, None) for i in gone]
        marks += _merge_marks(merged_into, warehouse.merge_targets(object_name))
        if plan.mode == FULL and manifest.complete:
            listed = set(ids_in_parts(manifest.parts))
            candidates = warehouse.live_ids(
                object_name, synced_before=parse_datetime(manifest.extract_started_at)
            )
            unlisted = sorted(candidates - listed - set(merged_into) - archived.keys())
            marks += _purge_marks(ctx, hook, warehouse, plan, unlisted, manifest.search_ranges)
            result.purge_check = "done"
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
    result.restored_associations = _restore_associations(ctx, hook, warehouse, plan, restored)
    result.api_calls = hook.stats.as_dict()
    log.info("reconcile %s: %s", object_name, deletes)
    return result


def _purge_marks(
    ctx: StepContext,
    hook: HubSpotHook,
    warehouse: Warehouse,
    plan: Plan,
    unlisted: list[int],
    search_ranges: list[tuple[int, int]],
) -> list[DeletedId]:
    """Purge flags for the live warehouse ids a complete full run did not list.

    Purge classification rests only on complete listings. A full load may read part of the
    id space through search instead (``search_ranges``, :mod:`hubspot_etl.hooks.full_listing`),
    and search is eventually consistent: a record missing from a search range may simply not
    be indexed yet. So an absence there is never trusted: those ids are batch-read (the
    primary store, as the list endpoint reads); the ones found are live and loaded as they
    are now, only the ones not found are purged. Ids outside every search range were covered
    by the list endpoint's complete listing and are purged as before.
    """
    searched = [i for i in unlisted if any(lo <= i < hi for lo, hi in search_ranges)]
    _, gone = _reload(ctx, hook, warehouse, plan, searched, archived=False, name="unlisted")
    purged = set(unlisted) - set(searched) | set(gone)
    return [(record_id, "purged", None, None) for record_id in sorted(purged)]


def _restore_associations(
    ctx: StepContext, hook: HubSpotHook, warehouse: Warehouse, plan: Plan, restored: list[int]
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
    _, changed = refresh_associations(ctx, hook, warehouse, plan, plan.associations, restored)
    this = plan.object_ref
    for other in plan.associated_from:
        linked = sorted(
            {
                int(row["to_id"])
                for row in hook.iter_associations(this.api_type, other.api_type, [str(i) for i in restored])
            }
        )
        if linked:
            _, more = refresh_associations(ctx, hook, warehouse, plan, [this], linked, source=other)
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


def _merge_marks(merged_into: dict[int, int], stored: dict[int, int]) -> list[DeletedId]:
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

    def __init__(self, ctx: StepContext, hook: HubSpotHook, plan: Plan, *, with_properties: bool) -> None:
        self.ctx, self.plan = ctx, plan
        self.ids: dict[int, str | None] = {}
        self.merged: dict[int, int] = {}
        self.parts: list[Part] = []
        properties = plan.properties if with_properties else list(MERGE_LISTING_PROPERTIES)
        pages = hook.iter_objects(plan.api_type, properties=properties, archived=True)
        if not with_properties:
            for page in pages:
                self._note(page)
            return
        with part_writer(ctx, "listing-archived") as writer:
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

    def load(self, warehouse: Warehouse, wanted: set[int]) -> int:
        """Load the listed records whose id is in ``wanted``; returns how many were loaded."""
        if not wanted:
            return 0
        with part_writer(self.ctx, "archived") as writer:
            for part in self.parts:
                writer.write_many(r for r in read_part(part.uri) if int(r["id"]) in wanted)
        return _load_all(warehouse, self.plan.object_name, writer.parts)


def _reload(
    ctx: StepContext,
    hook: HubSpotHook,
    warehouse: Warehouse,
    plan: Plan,
    ids: list[int],
    *,
    archived: bool,
    name: str,
) -> tuple[int, list[int]]:
    """Batch-read ``ids`` as they are now in HubSpot and load them; returns (loaded, not found)."""
    if not ids:
        return 0, []
    missing: list[int] = []
    with part_writer(ctx, name) as writer:
        for chunk in chunks([str(i) for i in ids], BATCH_READ_SIZE):
            found = hook.batch_read(plan.api_type, chunk, properties=plan.properties, archived=archived)
            writer.write_many(found)
            missing += [int(i) for i in getattr(found, "missing", [])]
    return _load_all(warehouse, plan.object_name, writer.parts), missing


def _load_all(warehouse: Warehouse, object_name: str, parts: Iterable[Part]) -> int:
    """Load staged parts one after another; returns the records read from them."""
    return sum(load_staged(warehouse, object_name, part).rows for part in parts)


def _merged_map(parts: list[Part]) -> dict[int, int]:
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
