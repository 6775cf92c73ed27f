"""Every table the sync writes, declared once in logical column types.

Each dialect renders these declarations in its own SQL (type map, keys, clustering); the core
(:mod:`hubspot_etl.warehouse.core`) writes them. Column types are the property types of
:class:`~hubspot_etl.warehouse.types.LogicalType` plus the ones only system tables use:
``bigint``, ``integer``, ``double``, ``json`` and ``row_id`` (a generated row identifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hubspot_etl.warehouse.types import LogicalType

BIGINT, INTEGER, DOUBLE, JSON, ROW_ID = "bigint", "integer", "double", "json", "row_id"
TEXT, NUMERIC, TIMESTAMP, DATE, BOOLEAN = (
    LogicalType(t).value for t in ("text", "numeric", "timestamp", "date", "boolean")
)


@dataclass(frozen=True)
class Column:
    """One column: ``default`` is ``"now"`` or ``"false"`` (written by the core anyway; the
    DDL carries it so that rows written by hand get it too)."""

    name: str
    type: str
    not_null: bool = False
    default: str | None = None


@dataclass(frozen=True)
class Table:
    """A table: ``key`` is the primary key, ``partition`` a timestamp column to partition by
    day where the dialect partitions, ``cluster`` the clustering columns, ``index`` a column
    to index where the dialect has secondary indexes, ``unique`` another unique key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    partition: str | None = None
    cluster: tuple[str, ...] = ()
    index: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    types: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", {c.name: c.type for c in self.columns})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(spec: str) -> tuple[Column, ...]:
    """``"name type [!] [=default], ..."``: ``!`` marks NOT NULL."""
    columns = []
    for item in spec.split(","):
        name, type_, *flags = item.split()
        default = next((f[1:] for f in flags if f.startswith("=")), None)
        columns.append(Column(name, type_, "!" in flags, default))
    return tuple(columns)


#: System columns of every object table, after ``id``.
OBJECT_SYSTEM = _cols(
    "_created_at timestamp, _updated_at timestamp, _is_deleted boolean ! =false, _deleted_at timestamp, "
    "_deletion_kind text, merged_into_id bigint, _synced_at timestamp, _rejects json, _extra_properties json"
)
DELETION_COLUMNS = ("_is_deleted", "_deleted_at", "_deletion_kind", "merged_into_id")


def object_table(name: str, properties: Sequence[tuple[str, str]] = ()) -> Table:
    """An object table: ``id``, the system columns, then ``(column, logical type)`` properties."""
    props = tuple(Column(c, t) for c, t in properties)
    return Table(name, (Column("id", BIGINT, True), *OBJECT_SYSTEM, *props), key=("id",), cluster=("id",))


def association_table(name: str) -> Table:
    return Table(
        name,
        _cols(
            "from_id bigint !, to_id bigint !, type_id integer !, category text, label text, _synced_at timestamp ! =now"
        ),
        key=("from_id", "to_id", "type_id"),
        cluster=("from_id",),
        index=("to_id",),
    )


def property_history_table(name: str) -> Table:
    """``<table>_property_history``: one row per write of a property (never deleted)."""
    return Table(
        name,
        _cols(
            "object_id bigint !, property text !, value text, timestamp timestamp !, source_type text, "
            "source_id text, source_label text, updated_by_user_id bigint, _synced_at timestamp ! =now"
        ),
        key=("object_id", "property", "timestamp"),
        cluster=("object_id", "property"),
    )


def stage_history_table(name: str) -> Table:
    """``<table>_stage_history``: one row per pipeline stage a record entered (type 2)."""
    return Table(
        name,
        _cols(
            "object_id bigint !, stage_id text !, entered_at timestamp !, left_at timestamp, "
            "is_active boolean !, source_type text, source_id text, updated_by_user_id bigint, "
            "_synced_at timestamp ! =now"
        ),
        key=("object_id", "entered_at"),
        cluster=("object_id",),
    )


_PIPELINE_COMMON = (
    "archived boolean ! =false, archived_at timestamp, created_at timestamp, updated_at timestamp, "
    "_is_deleted boolean ! =false, _deleted_at timestamp, _synced_at timestamp ! =now"
)


def pipeline_table(name: str) -> Table:
    return Table(
        name,
        _cols("id text !, label text, display_order integer, " + _PIPELINE_COMMON),
        ("id",),
        cluster=("id",),
    )


def stage_table(name: str) -> Table:
    return Table(
        name,
        _cols(
            "pipeline_id text !, id text !, label text, display_order integer, probability numeric, "
            "is_closed boolean, ticket_state text, metadata json, write_permissions text, " + _PIPELINE_COMMON
        ),
        ("pipeline_id", "id"),
        cluster=("pipeline_id", "id"),
    )


COLUMN_MAP = Table(
    "_hubspot_column_map",
    _cols(
        "object_name text !, property_name text !, column_name text !, logical_type text !, hubspot_type text, "
        "spilled boolean ! =false, created_at timestamp ! =now, updated_at timestamp ! =now"
    ),
    ("object_name", "property_name"),
    cluster=("object_name", "property_name"),
    unique=("object_name", "column_name"),
)
PROPERTY_DEFINITION = Table(
    "property_definition",
    _cols(
        "object_name text !, name text !, label text, type text, field_type text, group_name text, "
        "description text, options json, hubspot_defined boolean, archived boolean ! =false, "
        "_synced_at timestamp ! =now, calculated boolean, show_currency_symbol boolean, created_at timestamp, "
        "updated_at timestamp"
    ),
    ("object_name", "name"),
    cluster=("object_name", "name"),
)
SCHEMA_CHANGES = Table(
    "_hubspot_schema_changes",
    _cols(
        "id row_id !, object_name text !, change text !, property_name text, column_name text, old_type text, "
        "new_type text, at timestamp ! =now"
    ),
    ("id",),
    partition="at",
    cluster=("object_name",),
)
LOADED_PARTS = Table(
    "_hubspot_loaded_parts",
    _cols("object_name text !, part_id text !, rows bigint ! =0, loaded_at timestamp ! =now"),
    ("object_name", "part_id"),
    cluster=("object_name", "part_id"),
)
SYNC_STATE = Table(
    "_hubspot_sync_state",
    _cols(
        "object_name text !, watermark timestamp, last_full_load_at timestamp, last_run_id text, "
        "updated_at timestamp ! =now, deletes_checked_at timestamp"
    ),
    ("object_name",),
)
RUN_REPORT = Table(
    "_hubspot_run_report",
    _cols(
        "run_id text !, object_name text !, mode text, status text, started_at timestamp, finished_at timestamp, "
        "duration_s double, records_fetched bigint, records_upserted bigint, rejects bigint, api_calls json, "
        "search_splits integer, associations json, deletes json, schema_changes json, columns_spilled integer, "
        "columns_renamed integer, details json"
    ),
    ("object_name", "run_id"),
    partition="started_at",
    cluster=("object_name", "run_id"),
)
RUN_LEASES = Table(
    "_hubspot_run_leases",
    _cols("object_name text !, run_id text !, acquired_at timestamp !, expires_at timestamp !"),
    ("object_name",),
)
#: Object locks where the dialect has no session lock (a lease row renewed while held).
LOCKS = Table(
    "_hubspot_locks",
    _cols("object_name text !, owner text !, acquired_at timestamp !, expires_at timestamp !"),
    ("object_name",),
)
ASSOCIATION_TABLES = Table(
    "_hubspot_association_tables",
    _cols("table_name text !, from_object text !, to_object text !"),
    ("table_name",),
)
OWNER = Table(
    "owner",
    _cols(
        "id bigint !, email text, first_name text, last_name text, user_id bigint, user_id_including_inactive bigint, "
        "type text, teams json, archived boolean ! =false, created_at timestamp, updated_at timestamp, "
        "_synced_at timestamp ! =now"
    ),
    ("id",),
    cluster=("id",),
)

#: The nine metadata tables :meth:`Warehouse.ensure_schema` creates (``_hubspot_locks`` only where
#: the dialect needs it).
METADATA_TABLES: tuple[Table, ...] = (
    COLUMN_MAP,
    PROPERTY_DEFINITION,
    SCHEMA_CHANGES,
    LOADED_PARTS,
    SYNC_STATE,
    RUN_REPORT,
    RUN_LEASES,
    ASSOCIATION_TABLES,
    OWNER,
)
RUN_REPORT_COLUMNS: tuple[str, ...] = tuple(RUN_REPORT.names)

#: One row per team of an owner (HubSpot's ``teams`` of an owner), written by the owners sync.
OWNER_TEAM = Table(
    "owner_team",
    _cols(
        "owner_id bigint !, team_id bigint !, team_name text, is_primary boolean, _synced_at timestamp ! =now"
    ),
    ("owner_id", "team_id"),
    cluster=("owner_id",),
)
#: The options of enumeration properties (``property_definition.options``, one row each).
PROPERTY_OPTION = Table(
    "property_option",
    _cols(
        "object_name text !, property_name text !, value text !, label text, display_order integer, "
        "hidden boolean, _synced_at timestamp ! =now"
    ),
    ("object_name", "property_name", "value"),
    cluster=("object_name", "property_name"),
)
#: Settings of the schema recorded at the first sync: ``schema_style``, ``view_schema``,
#: ``portal_id`` (:mod:`hubspot_etl.warehouse.fivetran`).
SETTINGS = Table(
    "_hubspot_settings",
    _cols("setting text !, value text, updated_at timestamp ! =now"),
    ("setting",),
)
#: The definition hash of each published Fivetran-style view.
VIEW_HASHES = Table(
    "_hubspot_views",
    _cols("view_name text !, definition_hash text !, refreshed_at timestamp ! =now"),
    ("view_name",),
)
#: What a ``fivetran``-style native schema holds besides :data:`METADATA_TABLES`.
FIVETRAN_NATIVE_TABLES: tuple[Table, ...] = (SETTINGS, VIEW_HASHES, OWNER_TEAM, PROPERTY_OPTION)
