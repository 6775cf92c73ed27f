"""Publishing the Fivetran-style views, and the native tables and settings behind them.

* **Published** (:meth:`FivetranViews.publish`) at the end of each sync (:func:`publish_views`),
  under a warehouse lock, and only the views whose rendered definition changed (a hash per view
  in ``_hubspot_views``). Views, not copies: they are always consistent with merges, deletes and
  restores, and cost no load work.
* **The style** is recorded in the native schema (``_hubspot_settings``) at the first sync; a
  different style later, or a native-style sync in the views' schema, fails with
  :class:`SchemaStyleError` naming the migration (README, "Fivetran-compatible schema").
* **Native tables** the Fivetran style adds (:func:`write_property_options`,
  :func:`write_owner_teams`), and :func:`add_missing_columns` for a metadata table that grew.
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubspot_etl.config import ConfigError
from hubspot_etl.warehouse.dialect import Dialect, P, Session, Upsert
from hubspot_etl.warehouse.fivetran.columns import Catalog, PropertyColumn
from hubspot_etl.warehouse.fivetran.expr import render, valid_portal_id
from hubspot_etl.warehouse.fivetran.views import declare_views
from hubspot_etl.warehouse.naming import table_name_for_object
from hubspot_etl.warehouse.rows import property_option_rows
from hubspot_etl.warehouse.tables import (
    ASSOCIATION_TABLES,
    BIGINT,
    COLUMN_MAP,
    FIVETRAN_NATIVE_TABLES,
    OWNER_TEAM,
    PROPERTY_OPTION,
    SETTINGS,
    SYNC_STATE,
    TEXT,
    VIEW_HASHES,
    Table,
)

if TYPE_CHECKING:
    from hubspot_etl.warehouse.core import SqlWarehouse

log = logging.getLogger(__name__)

#: Bumped when the rendering changes in a way the definitions' hashes would not show.
RENDER_VERSION = "1"
MIGRATION_HELP = "README#fivetran-compatible-schema (Switching an existing schema)"


class SchemaStyleError(ConfigError):
    """The configured ``schema_style`` does not match what the warehouse holds."""


# --------------------------------------------------------------------------- publishing
def _digest(text: str) -> str:
    return hashlib.sha256(f"{RENDER_VERSION}\n{text}".encode()).hexdigest()


class FivetranViews:
    """The Fivetran-style views of one warehouse (its dialect is the native schema's)."""

    def __init__(self, warehouse: SqlWarehouse, schema: str) -> None:
        self.wh, self.schema = warehouse, schema
        self.views_d = warehouse.d.sibling(schema)

    # ------------------------------------------------------------------ style
    def ensure(self) -> None:
        """Create the views' schema and record or check the style (called by ``ensure_schema``)."""
        d, vd = self.wh.d, self.views_d
        vd.ensure_container()
        with vd.session() as s:
            if vd.table_exists(s, SYNC_STATE.name):
                raise SchemaStyleError(
                    f"destination.schema_style is fivetran, but {vd.where} already holds a native-style sync "
                    f"(its {SYNC_STATE.name} table): the Fivetran-style views cannot go there. Either keep "
                    f"schema_style: native, or migrate that schema first ({MIGRATION_HELP})."
                )
        with d.session(lock="schema") as s:
            for table in FIVETRAN_NATIVE_TABLES:
                d.create_table(s, table)
            recorded = record_settings(d, s, {"schema_style": "fivetran", "view_schema": self.schema})
        if recorded["schema_style"] != "fivetran":
            raise SchemaStyleError(
                f"destination.schema_style is fivetran, but {d.where} was first synced with schema_style: "
                f"{recorded['schema_style']} (recorded in _hubspot_settings). Keep that style, or migrate "
                f"({MIGRATION_HELP})."
            )
        if recorded["view_schema"] != self.schema:
            raise SchemaStyleError(
                f"the native tables in {d.where} publish their Fivetran-style views in "
                f"{recorded['view_schema']!r}, not {self.schema!r}: set destination.schema back, or move the "
                f"views ({MIGRATION_HELP})."
            )

    # ------------------------------------------------------------------ catalog
    def catalog(self, s: Session) -> Catalog:
        d = self.wh.d
        tables = set(d.list_relations(s))
        catalog = Catalog(tables, portal_id=self._stored_portal_id(s))
        if COLUMN_MAP.name in tables:
            rows = s.execute(
                "SELECT object_name, property_name, column_name, logical_type, spilled, created_at "
                f"FROM {d.table(COLUMN_MAP.name)}"
            ).rows
            rows.sort(key=lambda r: (str(r["created_at"]), r["property_name"]))
            for r in rows:
                table = table_name_for_object(r["object_name"])
                catalog.objects[r["object_name"]] = table
                if not r["spilled"]:
                    column = PropertyColumn(r["property_name"], r["column_name"], r["logical_type"])
                    catalog.properties.setdefault(table, []).append(column)
        if ASSOCIATION_TABLES.name in tables:
            for r in s.execute(
                f"SELECT table_name, from_object, to_object FROM {d.table(ASSOCIATION_TABLES.name)}"
            ).rows:
                if r["table_name"] in tables:
                    catalog.associations[(r["from_object"], r["to_object"])] = r["table_name"]
        return catalog

    def _stored_portal_id(self, s: Session) -> int | None:
        value = read_settings(self.wh.d, s).get("portal_id")
        try:
            return valid_portal_id(value) if value is not None else None
        except ValueError:
            return None

    def store_portal_id(self, portal_id: int) -> None:
        with self.wh.d.session() as s:
            write_setting(self.wh.d, s, "portal_id", str(valid_portal_id(portal_id)))

    # ------------------------------------------------------------------ publish
    def definitions(self, s: Session) -> dict[str, tuple[str, str]]:
        """``view -> (SELECT, hash)`` for the current native schema; the hash covers the
        declared column types too (a widened column reads the same but changes type)."""
        out = {}
        for v in declare_views(self.wh.d, self.catalog(s)):
            select = render(self.wh.d, v)
            out[v.name] = (select, _digest(f"{v.columns}\n{select}"))
        return out

    def publish(self, portal_id: int | None = None, only: Iterable[str] | None = None) -> dict[str, int]:
        """Create or replace the views whose definition changed (or that are missing).

        Under the warehouse lock ``fivetran_views``, so concurrent syncs never race on them.
        Returns ``{"views": n, "refreshed": m}``.
        """
        if portal_id is not None:
            self.store_portal_id(portal_id)
        with self.wh.object_lock("fivetran_views"), self.wh.d.session() as s:
            return self._publish(s, only)

    def _publish(self, s: Session, only: Iterable[str] | None = None) -> dict[str, int]:
        d, vd = self.wh.d, self.views_d
        wanted = self.definitions(s)
        if only is not None:
            names = set(only)
            wanted = {k: v for k, v in wanted.items() if k in names}
        stored = {
            r["view_name"]: r["definition_hash"]
            for r in s.execute(f"SELECT view_name, definition_hash FROM {d.table(VIEW_HASHES.name)}").rows
        }
        existing = set(vd.list_relations(s))
        changed = {
            name: (select, digest)
            for name, (select, digest) in wanted.items()
            if stored.get(name) != digest or name not in existing
        }
        for name, (select, _) in changed.items():
            vd.replace_view(s, name, select)
        if changed:
            rows = [{"view_name": n, "definition_hash": digest} for n, (_, digest) in changed.items()]
            self.wh._merge_rows(s, VIEW_HASHES, rows, stamp=("refreshed_at",))
        log.info("fivetran views in %s: %d, refreshed %d", vd.where, len(wanted), len(changed))
        return {"views": len(wanted), "refreshed": len(changed)}

    def before_column_change(self, s: Session, table: str) -> list[str]:
        """Drop the views reading ``table`` (PostgreSQL cannot change a column a view reads);
        :meth:`after_column_change` creates them again in the same transaction."""
        catalog = self.catalog(s)
        names = [v.name for v in declare_views(self.wh.d, catalog) if table in v.sources]
        existing = set(self.views_d.list_relations(s))
        for name in names:
            if name in existing:
                self.views_d.drop_view(s, name)
        return names

    def after_column_change(self, s: Session, names: Sequence[str]) -> None:
        """Create the views :meth:`before_column_change` dropped (missing views are refreshed)."""
        if names:
            self._publish(s, names)


# --------------------------------------------------------------------------- settings
def read_settings(d: Dialect, s: Session) -> dict[str, str | None]:
    if not d.table_exists(s, SETTINGS.name):
        return {}
    rows = s.execute(f"SELECT setting, value FROM {d.table(SETTINGS.name)}").rows
    return {r["setting"]: r["value"] for r in rows}


def write_setting(d: Dialect, s: Session, name: str, value: str) -> None:
    source, params = d.values_source([("setting", TEXT), ("value", TEXT)], {"setting": name, "value": value})
    q = d.quote
    insert = {"setting": f"S.{q('setting')}", "value": f"S.{q('value')}", "updated_at": d.now}
    update = {"value": insert["value"], "updated_at": d.now}
    d.upsert(s, Upsert(SETTINGS.name, ("setting",), source, insert, update, params=params))


def record_settings(d: Dialect, s: Session, values: Mapping[str, str]) -> dict[str, str | None]:
    """Record ``values`` where none is recorded yet; returns what is recorded now (one read
    once they are recorded)."""
    recorded = read_settings(d, s)
    missing = {name: value for name, value in values.items() if recorded.get(name) is None}
    if missing:
        q = d.quote
        for name, value in missing.items():
            columns = [("setting", TEXT), ("value", TEXT)]
            source, params = d.values_source(columns, {"setting": name, "value": value})
            insert = {"setting": f"S.{q('setting')}", "value": f"S.{q('value')}", "updated_at": d.now}
            d.upsert(s, Upsert(SETTINGS.name, ("setting",), source, insert, params=params))
        recorded = read_settings(d, s)
    return {name: recorded.get(name) for name in values}


def check_native_style(warehouse: SqlWarehouse) -> None:
    """Native style: record it, and refuse a schema that holds a Fivetran-style sync."""
    d = warehouse.d
    with d.session(lock="schema") as s:
        first = not d.table_exists(s, SYNC_STATE.name)
        if first:
            relations = d.list_relations(s)
            ours = [
                n for n in ("deal_pipeline_stage", "engagement", "deal_stage") if relations.get(n) == "view"
            ]
            if ours:
                raise SchemaStyleError(
                    f"destination.schema_style is native, but {d.where} holds Fivetran-style views "
                    f"({', '.join(ours)}) of a schema_style: fivetran sync: set schema_style: fivetran again, "
                    f"or give the native sync another schema ({MIGRATION_HELP})."
                )
        d.create_table(s, SETTINGS)
        recorded = record_settings(d, s, {"schema_style": "native"})
    if recorded["schema_style"] != "native":
        raise SchemaStyleError(
            f"destination.schema_style is native, but {d.where} holds the native tables of a schema_style: "
            f"{recorded['schema_style']} sync (recorded in _hubspot_settings): set schema_style: "
            f"{recorded['schema_style']} with this schema as its native_schema, or migrate ({MIGRATION_HELP})."
        )


# --------------------------------------------------------------------------- native tables
def add_missing_columns(d: Dialect, s: Session, table: Table) -> None:
    """Columns of ``table``'s declaration that an older table lacks (a metadata table that grew)."""
    present = d.column_types(s, table.name)
    missing = [(c.name, c.type) for c in table.columns if c.name.lower() not in present]
    if present and missing:
        d.add_columns(s, table.name, missing)


def _replace_rows(
    wh: SqlWarehouse, s: Session, table: Table, rows: Sequence[Mapping[str, Any]], scope: str, params: Any
) -> None:
    """Upsert ``rows`` and delete the other rows of ``table`` in ``scope`` (a condition on ``T``)."""
    d = wh.d
    wh._merge_rows(s, table, rows, stamp=("_synced_at",))
    source = wh._stage(s, table, list(table.key), rows)
    match = " AND ".join(f"S.{d.quote(k)} = T.{d.quote(k)}" for k in table.key)
    s.execute(
        f"DELETE FROM {d.table(table.name)} T WHERE {scope} AND NOT EXISTS (SELECT 1 FROM {source} S WHERE {match})",
        params,
    )


def write_property_options(
    wh: SqlWarehouse, s: Session, object_name: str, properties: Sequence[Mapping[str, Any]]
) -> None:
    """``property_option``: the options of the object's properties (vanished ones deleted)."""
    rows = [r for p in properties for r in property_option_rows(object_name, p)]
    wh.d.create_table(s, PROPERTY_OPTION)
    _replace_rows(wh, s, PROPERTY_OPTION, rows, "T.object_name = @o", {"o": object_name})


def write_owner_teams(wh: SqlWarehouse, s: Session, owners: Sequence[Mapping[str, Any]]) -> None:
    """``owner_team``: one row per team of each owner (teams an owner left are deleted)."""
    rows = {}
    for owner in owners:
        for team in owner.get("teams") or []:
            if not isinstance(team, Mapping) or team.get("id") in (None, ""):
                continue
            row = {
                "owner_id": int(owner["id"]),
                "team_id": int(str(team["id"])),
                "team_name": team.get("name"),
                "is_primary": bool(team.get("primary", False)),
            }
            rows[(row["owner_id"], row["team_id"])] = row
    wh.d.create_table(s, OWNER_TEAM)
    ids = sorted({int(o["id"]) for o in owners})
    scope = wh.d.in_list("T.owner_id", "ids")
    _replace_rows(wh, s, OWNER_TEAM, list(rows.values()), scope, {"ids": P(ids, BIGINT)})


# --------------------------------------------------------------------------- the sync's hook
def publish_views(warehouse: Any, hook_factory: Any) -> dict[str, int] | None:
    """At the end of a sync: the portal id (``GET /account-info/v3/details``), then the views.

    A no-op for a native-style warehouse. Where the portal id cannot be read, the stored one
    is kept (the views then change only when it does).
    """
    views: FivetranViews | None = getattr(warehouse, "fivetran", None)
    if views is None:
        return None
    portal_id = None
    from hubspot_etl.hooks.errors import HubSpotError

    try:
        portal_id = valid_portal_id(hook_factory().get_portal_id())
    except (HubSpotError, ValueError) as exc:  # an unreadable portal id must not fail the sync
        log.warning("could not read the HubSpot portal id (portal_id keeps its stored value): %s", exc)
    return views.publish(portal_id)
