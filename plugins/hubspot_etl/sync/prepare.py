"""Step 1, prepare: HubSpot metadata, table DDL, the run's mode and window, the run lease."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hubspot_etl.sync.context import StepContext, acquire_lease, iso
from hubspot_etl.sync.contracts import ObjectRef, Plan
from hubspot_etl.sync.plan import (
    FULL,
    association_refresh_due,
    choose_window,
    deletes_check_due,
    parse_datetime,
)
from hubspot_etl.sync.staging import staging_dir, write_json
from hubspot_etl.warehouse.naming import table_name_for_object

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook
    from hubspot_etl.warehouse.base import Warehouse

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


def prepare(ctx: StepContext) -> Plan:
    """Read metadata from HubSpot, create/evolve tables, pick the mode and window."""
    cfg = ctx.cfg
    hook = ctx.hook()
    info = hook.resolve_object_type(cfg.object_type)
    object_name = info["name"]
    api_type = info.get("object_type_id") or object_name
    definitions = _properties(hook, object_name, api_type)
    selected = select_properties(definitions, cfg.properties.include, cfg.properties.exclude)
    pipelines = _fetch_pipelines(hook, object_name, api_type)
    associations = [_object_ref(hook, to) for to in cfg.associations]

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
    checked_at = parse_datetime(state.get("deletes_checked_at")) if state else None
    check_deletes = window.mode == FULL or deletes_check_due(cfg.deletes_check, checked_at, now)
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
        iso(window.start),
        iso(window.end),
        window.reason,
        len(selected),
        len(definitions),
        " (dry run: nothing is written)" if ctx.dry_run else "",
    )
    return Plan(
        object_name=object_name,
        api_type=api_type,
        table=table_name_for_object(object_name),
        properties=[p["name"] for p in selected],
        modified_property=modified_property(object_name),
        associations=associations,
        association_scope="all" if refresh_all else "extracted",
        associated_from=[_object_ref(hook, name) for name in cfg.associated_from],
        pipelines=len(pipelines) if pipelines is not None else None,
        mode=window.mode,
        window_start=iso(window.start),
        window_end=iso(window.end),
        window_reason=window.reason,
        old_watermark=state["watermark"] if state else None,
        archived_before_uri=archived_before_uri,
        started_at=now.isoformat(),
        dry_run=ctx.dry_run,
        limit=ctx.limit,
        schema_changes=schema_changes,
        api_calls=hook.stats.as_dict(),
        deletes_check=check_deletes,
        deletes_checked_at=iso(checked_at),
    )


def _note_archived(ctx: StepContext, warehouse: Warehouse, object_name: str) -> str:
    """Stage the ids the warehouse holds as archived before this run (see reconcile: restores).

    A restore bumps the record's modified date, so extract reads it and load clears its flags
    before reconcile runs; this list is how reconcile still knows it was restored. Staged, not
    an XCom, since it can be long.
    """
    archived = sorted(i for i, kind in warehouse.deletion_kinds(object_name).items() if kind == "archived")
    directory = staging_dir(ctx.cfg.staging_base, ctx.dag_id, ctx.run_id, ctx.try_number)
    return write_json(directory, "archived-before.json", archived)


def _properties(hook: HubSpotHook, object_name: str, api_type: str) -> list[dict[str, Any]]:
    """The object's property definitions; an object-library object the portal never activated
    is unknown to HubSpot (404), which is said as such instead of as a missing resource."""
    from hubspot_etl.hooks.errors import HubSpotNotFound, HubSpotObjectTypeError
    from hubspot_etl.hooks.object_types import LIBRARY_OBJECTS

    try:
        return hook.get_properties(api_type)
    except HubSpotNotFound as exc:
        if object_name not in LIBRARY_OBJECTS:
            raise
        raise HubSpotObjectTypeError(
            f"object {object_name} ({api_type}) is not activated in this portal: it comes from "
            "HubSpot's object library; activate it (Settings > Objects) or set enabled: false for it",
            endpoint=exc.endpoint,
            status=exc.status,
        ) from exc


def _fetch_pipelines(hook: HubSpotHook, object_name: str, api_type: str) -> list[dict[str, Any]] | None:
    if object_name not in OBJECTS_WITH_PIPELINES and not str(api_type).startswith("2-"):
        return None
    from hubspot_etl.hooks.errors import HubSpotBadRequest, HubSpotNotFound

    try:
        return hook.get_pipelines(api_type)
    except (HubSpotNotFound, HubSpotBadRequest):
        return None  # custom objects without pipelines


def _object_ref(hook: HubSpotHook, to: str) -> ObjectRef:
    info = hook.resolve_object_type(to)
    return ObjectRef(name=info["name"], api_type=info.get("object_type_id") or info["name"])
