"""The Fivetran-compatible schema mode: views named, typed and shaped like Fivetran's HubSpot tables.

With ``destination.schema_style: fivetran`` the sync keeps its own (native) tables in
``destination.native_schema`` and this module publishes, in ``destination.schema``, one view
per table of Fivetran's HubSpot schema (``docs/fivetran.md``; the facts are in the research
note the contract test is written from). Views, not copies: they are always consistent with
merges, deletes and restores, and cost no load work.

How a view is made:

* **Declared once, logically** (:func:`declare_views`): which native column becomes which
  Fivetran column, with which Fivetran type, as a small expression tree (:class:`Expr`). No
  SQL text here beyond fixed keywords.
* **Rendered per dialect** (:func:`render`): identifiers through ``Dialect.quote`` and
  ``Dialect.table``, types through ``Dialect.type_sql``, text ids through
  ``Dialect.text_to_bigint``. String literals are fixed ASCII names checked by
  :func:`safe_literal`; the one number from outside, the portal id, is checked by
  :func:`valid_portal_id`.
* **Property columns** come from ``_hubspot_column_map``: every column of a native object
  table becomes ``property_<HubSpot property name>``, in the order the columns were added (so
  a refreshed view only appends). A name the destination cannot carry (too long, or not a
  BigQuery identifier) or that collides case-insensitively with an earlier one is left out.
* **Published** (:class:`FivetranViews.publish`) at the end of each sync, under a warehouse
  lock, and only the views whose rendered definition changed (a hash per view in
  ``_hubspot_views``). A Fivetran table whose native table does not exist (yet) is an empty
  view with the same columns, replaced once the native table appears.

The style is recorded in the native schema (``_hubspot_settings``) at the first sync; a
different style later, or a native-style sync in the views' schema, fails with
:class:`SchemaStyleError` naming the migration (README, "Fivetran-compatible schema").
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect, fixed fragments and
# literals checked by safe_literal / valid_portal_id.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubspot_etl.config import ConfigError
from hubspot_etl.warehouse.base import WarehouseError
from hubspot_etl.warehouse.dialect import Dialect, P, Session, Upsert
from hubspot_etl.warehouse.naming import table_name_for_object
from hubspot_etl.warehouse.rows import property_option_rows
from hubspot_etl.warehouse.tables import (
    ASSOCIATION_TABLES,
    BIGINT,
    BOOLEAN,
    COLUMN_MAP,
    DOUBLE,
    FIVETRAN_NATIVE_TABLES,
    OWNER_TEAM,
    PROPERTY_OPTION,
    SETTINGS,
    SYNC_STATE,
    TEXT,
    TIMESTAMP,
    VIEW_HASHES,
    Table,
)

if TYPE_CHECKING:
    from hubspot_etl.warehouse.core import SqlWarehouse

log = logging.getLogger(__name__)

#: Bumped when the rendering changes in a way the definitions' hashes would not show.
RENDER_VERSION = "1"
#: ``deal_stage._fivetran_end`` of the open row (Fivetran's far-future end).
FAR_FUTURE = "9999-12-31 23:59:59.999+00:00"
MIGRATION_HELP = "README#fivetran-compatible-schema (Switching an existing schema)"
#: engagement table -> its ``engagement.type`` (emails: ``hs_email_direction``)
ENGAGEMENT_TYPES: dict[str, str] = {
    "call": "CALL",
    "email": "EMAIL",
    "meeting": "MEETING",
    "note": "NOTE",
    "task": "TASK",
    "communication": "COMMUNICATION",
}
ENGAGEMENT_OBJECTS = ("contact", "company", "deal")
HISTORY_OBJECTS = ("deal", "company", "contact")
_LITERAL = re.compile(r"[A-Za-z0-9_.:+\- ]{0,200}")


class SchemaStyleError(ConfigError):
    """The configured ``schema_style`` does not match what the warehouse holds."""


def safe_literal(text: str) -> str:
    """``'text'`` for a fixed ASCII name (no quote or backslash can reach the SQL)."""
    if not isinstance(text, str) or not _LITERAL.fullmatch(text):
        raise WarehouseError(f"not a literal the view SQL may carry: {text!r}")
    return f"'{text}'"


def valid_portal_id(value: Any) -> int:
    """The HubSpot portal id as a positive int (it becomes a literal of the view SQL)."""
    if isinstance(value, bool):
        raise ValueError(f"not a HubSpot portal id: {value!r}")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise ValueError(f"not a HubSpot portal id: {value!r}")
    return int(text)


# --------------------------------------------------------------------------- expressions
class Expr:
    """A logical SQL expression, rendered by :func:`render_expr`."""


@dataclass(frozen=True)
class Col(Expr):
    """A native column (``table`` is the alias of a joined table, None for the only one)."""

    name: str
    table: str | None = None


@dataclass(frozen=True)
class Const(Expr):
    """``TRUE``, ``FALSE``, an int, a literal name (:func:`safe_literal`) or a typed NULL."""

    value: bool | int | str | None
    type: str = TEXT


@dataclass(frozen=True)
class Cast(Expr):
    expr: Expr
    type: str


@dataclass(frozen=True)
class ToBigint(Expr):
    """Text such as ``hubspot_owner_id`` as a bigint (NULL when it is not a plain integer)."""

    expr: Expr


@dataclass(frozen=True)
class Func(Expr):
    """A function every destination spells the same: UPPER, COALESCE, CONCAT, MIN, MAX."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Op(Expr):
    """``left <op> right`` for AND, =, >=; ``NOT right`` when ``left`` is None."""

    op: str
    left: Expr | None
    right: Expr


@dataclass(frozen=True)
class Case(Expr):
    """``CASE expr WHEN a THEN b ... ELSE other END``."""

    expr: Expr
    whens: tuple[tuple[Expr, Expr], ...]
    other: Expr


@dataclass(frozen=True)
class NotNull(Expr):
    expr: Expr


def NOT(e: Expr) -> Op:  # noqa: N802 (reads like the SQL)
    return Op("NOT", None, e)


def AND(a: Expr, b: Expr) -> Op:  # noqa: N802
    return Op("AND", a, b)


def EQ(a: Expr, b: Expr) -> Op:  # noqa: N802
    return Op("=", a, b)


FALSE, TRUE = Const(False, BOOLEAN), Const(True, BOOLEAN)


def null(type_: str) -> Const:
    return Const(None, type_)


# --------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class Field:
    """One column of a view: its Fivetran name, Fivetran type and native expression."""

    name: str
    type: str
    expr: Expr


@dataclass(frozen=True)
class Join:
    table: str
    alias: str
    on: Expr
    left: bool = False


@dataclass(frozen=True)
class Select:
    """``SELECT fields FROM table [alias] joins [WHERE] [GROUP BY]``; no ``table``: no rows."""

    fields: tuple[Field, ...]
    table: str | None = None
    alias: str | None = None
    joins: tuple[Join, ...] = ()
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()


@dataclass(frozen=True)
class View:
    """A Fivetran table: its name, its columns and how they are read (UNION ALL of selects)."""

    name: str
    selects: tuple[Select, ...]
    sources: frozenset[str] = field(default_factory=frozenset)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(f.name, f.type) for f in self.selects[0].fields]


def empty(fields: Sequence[Field]) -> Select:
    """The same columns, no rows (the native table does not exist yet)."""
    return Select(tuple(Field(f.name, f.type, null(f.type)) for f in fields))


def render_expr(d: Dialect, e: Expr) -> str:
    if isinstance(e, Col):
        return (f"{e.table}." if e.table else "") + d.quote(e.name)
    if isinstance(e, Const):
        if e.value is None:
            return f"CAST(NULL AS {d.type_sql(e.type)})"
        if isinstance(e.value, bool):
            return "TRUE" if e.value else "FALSE"
        if isinstance(e.value, int):  # typed: a bare literal is the narrowest integer type
            return d.cast(str(int(e.value)), e.type)
        return safe_literal(e.value)
    if isinstance(e, Cast):
        return d.cast(render_expr(d, e.expr), e.type)
    if isinstance(e, ToBigint):
        return d.text_to_bigint(render_expr(d, e.expr))
    if isinstance(e, Func):
        if e.name not in ("UPPER", "COALESCE", "CONCAT", "MIN", "MAX"):
            raise ValueError(f"unknown function {e.name}")
        return f"{e.name}({', '.join(render_expr(d, a) for a in e.args)})"
    if isinstance(e, Op):
        if e.op not in ("AND", "=", ">="):
            if e.op == "NOT" and e.left is None:
                return f"(NOT {render_expr(d, e.right)})"
            raise ValueError(f"unknown operator {e.op}")
        assert e.left is not None
        return f"({render_expr(d, e.left)} {e.op} {render_expr(d, e.right)})"
    if isinstance(e, NotNull):
        return f"({render_expr(d, e.expr)} IS NOT NULL)"
    if isinstance(e, Case):
        whens = " ".join(f"WHEN {render_expr(d, a)} THEN {render_expr(d, b)}" for a, b in e.whens)
        return f"CASE {render_expr(d, e.expr)} {whens} ELSE {render_expr(d, e.other)} END"
    raise TypeError(f"not an expression: {e!r}")


def render_select(native: Dialect, s: Select) -> str:
    d = native
    cols = ", ".join(f"{render_expr(d, f.expr)} AS {d.quote(f.name)}" for f in s.fields)
    if s.table is None:
        return d.no_rows(cols)
    text = f"SELECT {cols} FROM {d.table(s.table)}" + (f" {s.alias}" if s.alias else "")
    for j in s.joins:
        text += f" {'LEFT ' if j.left else ''}JOIN {d.table(j.table)} {j.alias} ON {render_expr(d, j.on)}"
    if s.where is not None:
        text += f" WHERE {render_expr(d, s.where)}"
    if s.group_by:
        text += " GROUP BY " + ", ".join(render_expr(d, g) for g in s.group_by)
    return text


def render(native: Dialect, view: View) -> str:
    """The view's SELECT over the native tables (quoted, qualified, in the dialect's SQL)."""
    return " UNION ALL ".join(render_select(native, s) for s in view.selects)


# --------------------------------------------------------------------------- the native schema
@dataclass(frozen=True)
class PropertyColumn:
    property_name: str
    column_name: str
    logical_type: str


@dataclass
class Catalog:
    """What the views are built over: the native tables, their property columns, associations."""

    tables: set[str]
    #: native table -> its property columns, in the order they were added
    properties: dict[str, list[PropertyColumn]] = field(default_factory=dict)
    #: (from table, to table) -> association table
    associations: dict[tuple[str, str], str] = field(default_factory=dict)
    #: HubSpot object name -> native table (``contacts`` -> ``contact``)
    objects: dict[str, str] = field(default_factory=dict)
    portal_id: int | None = None

    def has(self, table: str) -> bool:
        return table in self.tables


def _synced(alias: str | None = None) -> Field:
    return Field("_fivetran_synced", TIMESTAMP, Col("_synced_at", alias))


def _deleted_flags(expr: Expr) -> tuple[Field, Field]:
    return Field("_fivetran_deleted", BOOLEAN, expr), Field("is_deleted", BOOLEAN, expr)


def _portal(catalog: Catalog) -> Field:
    value = catalog.portal_id
    return Field(
        "portal_id", BIGINT, null(BIGINT) if value is None else Const(valid_portal_id(value), BIGINT)
    )


def _as_type(column: PropertyColumn, wanted: str | None) -> tuple[str, Expr]:
    """A property column as the Fivetran type ``wanted`` (None: its own logical type)."""
    col: Expr = Col(column.column_name)
    have = column.logical_type
    if wanted is None or wanted == have:
        return have, col
    if wanted == BIGINT:
        return BIGINT, ToBigint(col)
    if wanted == TEXT:
        return TEXT, Cast(col, TEXT)
    return have, col  # e.g. widened to text: the stored text passes through


def property_column(name: str) -> str:
    """Fivetran's column of a HubSpot property: ``property_`` + the name in Fivetran's snake case
    (lower case, ``_`` between a lower-case letter or digit and an upper-case letter, and between a
    letter and a digit): ``dealname`` -> ``property_dealname``, ``address2`` -> ``property_address_2``."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    snake = re.sub(r"([A-Za-z])([0-9])", r"\1_\2", snake)
    return f"property_{snake.lower()}"


class Namer:
    """Output column names of one view: case-insensitively unique, within the dialect's limits."""

    def __init__(self, d: Dialect) -> None:
        self.d, self.taken = d, set[str]()

    def take(self, name: str) -> bool:
        key = name.lower()
        if key in self.taken or len(name.encode("utf-8")) > self.d.max_identifier_bytes:
            return False
        try:
            self.d.quote(name)
        except WarehouseError:
            return False
        self.taken.add(key)
        return True


def property_fields(
    d: Dialect, catalog: Catalog, table: str, fixed: Sequence[Field], required: Mapping[str, str]
) -> tuple[Field, ...]:
    """``fixed`` columns, then ``property_<name>`` for every property column of ``table``;
    ``required`` (property -> Fivetran type) are present (NULL) even when not synced."""
    namer = Namer(d)
    fields = [f for f in fixed if namer.take(f.name)]
    present = {c.property_name: c for c in catalog.properties.get(table, [])}
    for name, wanted in required.items():
        column = present.get(name)
        type_, expr = _as_type(column, wanted) if column else (wanted, null(wanted))
        if namer.take(property_column(name)):
            fields.append(Field(property_column(name), type_, expr))
    for column in catalog.properties.get(table, []):
        if column.property_name in required:
            continue
        out = property_column(column.property_name)
        if namer.take(out):
            type_, expr = _as_type(column, ID_PROPERTIES.get(column.property_name))
            fields.append(Field(out, type_, expr))
        else:
            log.info(
                "fivetran view %s: property %r has no column (name unusable)", table, column.property_name
            )
    return tuple(fields)


# --------------------------------------------------------------------------- the declarations
_COMMON_PROPERTIES = {"createdate": TIMESTAMP}
DEAL_PROPERTIES = {
    "dealname": TEXT,
    "description": TEXT,
    "amount": None,
    "closedate": TIMESTAMP,
    **_COMMON_PROPERTIES,
}
COMPANY_PROPERTIES = {
    "name": TEXT,
    "description": TEXT,
    **_COMMON_PROPERTIES,
    "industry": TEXT,
    "address": TEXT,
    "address2": TEXT,
    "city": TEXT,
    "state": TEXT,
    "country": TEXT,
    "annualrevenue": None,
}
CONTACT_PROPERTIES = {
    "hs_merged_object_ids": TEXT,
    "email": TEXT,
    "company": TEXT,
    "firstname": TEXT,
    "lastname": TEXT,
    **_COMMON_PROPERTIES,
    "jobtitle": TEXT,
    "annualrevenue": None,
}
ENGAGEMENT_PROPERTIES = {
    "hs_createdate": TIMESTAMP,
    "hs_timestamp": TIMESTAMP,
    "hubspot_owner_id": BIGINT,
    "hubspot_team_id": BIGINT,
}


#: Properties holding HubSpot ids, bigint on every object (joins to ``owner.owner_id``, ``team.id``).
ID_PROPERTIES = {"hubspot_owner_id": BIGINT, "hubspot_team_id": BIGINT}


def _required(d: Mapping[str, str | None]) -> dict[str, str]:
    """Required properties; a None type (numbers) is numeric, the type of number properties."""
    return {k: v or "numeric" for k, v in d.items()}


def _object_view(
    d: Dialect, catalog: Catalog, name: str, table: str, fixed: Sequence[Field], required: Mapping[str, str]
) -> View:
    fields = property_fields(d, catalog, table, fixed, required)
    select = Select(fields, table) if catalog.has(table) else empty(fields)
    return View(name, (select,), frozenset({table}))


def _deal(d: Dialect, c: Catalog) -> View:
    fixed = (
        _synced(),
        *_deleted_flags(Col("_is_deleted")),
        Field("deal_id", BIGINT, Col("id")),
        Field("deal_pipeline_id", TEXT, _property_as(c, "deal", "pipeline", TEXT)),
        Field("deal_pipeline_stage_id", TEXT, _property_as(c, "deal", "dealstage", TEXT)),
        Field("owner_id", BIGINT, _property_as(c, "deal", "hubspot_owner_id", BIGINT)),
        _portal(c),
    )
    return _object_view(d, c, "deal", "deal", fixed, _required(DEAL_PROPERTIES))


def _property_as(c: Catalog, table: str, prop: str, wanted: str) -> Expr:
    column = next((p for p in c.properties.get(table, []) if p.property_name == prop), None)
    return _as_type(column, wanted)[1] if column else null(wanted)


def _company(d: Dialect, c: Catalog) -> View:
    fixed = (_synced(), *_deleted_flags(Col("_is_deleted")), Field("id", BIGINT, Col("id")))
    return _object_view(d, c, "company", "company", fixed, _required(COMPANY_PROPERTIES))


def _contact(d: Dialect, c: Catalog) -> View:
    fixed = (_synced(), *_deleted_flags(Col("_is_deleted")), Field("id", BIGINT, Col("id")))
    return _object_view(d, c, "contact", "contact", fixed, _required(CONTACT_PROPERTIES))


def _simple(c: Catalog, name: str, table: str, fields: Sequence[Field], **kw: Any) -> View:
    fields = tuple(fields)
    select = Select(fields, table, **kw) if c.has(table) else empty(fields)
    return View(name, (select,), frozenset({table}))


def _owner(d: Dialect, c: Catalog) -> View:
    return _simple(
        c,
        "owner",
        "owner",
        (
            _synced(),
            *_deleted_flags(Col("archived")),
            Field("active_user_id", BIGINT, Col("user_id")),
            Field("created_at", TIMESTAMP, Col("created_at")),
            Field("email", TEXT, Col("email")),
            Field("first_name", TEXT, Col("first_name")),
            Field("last_name", TEXT, Col("last_name")),
            Field("owner_id", BIGINT, Col("id")),
            _portal(c),
            Field("type", TEXT, Col("type")),
            Field("updated_at", TIMESTAMP, Col("updated_at")),
        ),
    )


def _pipeline(d: Dialect, c: Catalog) -> View:
    return _simple(
        c,
        "deal_pipeline",
        "deal_pipeline",
        (
            *_deleted_flags(Col("_is_deleted")),
            _synced(),
            Field("active", BOOLEAN, NOT(Col("_is_deleted"))),
            Field("display_order", BIGINT, Cast(Col("display_order"), BIGINT)),
            Field("label", TEXT, Col("label")),
            Field("pipeline_id", TEXT, Col("id")),
            Field("created_at", TIMESTAMP, Col("created_at")),
            Field("updated_at", TIMESTAMP, Col("updated_at")),
        ),
    )


def _stage(d: Dialect, c: Catalog) -> View:
    probability = Cast(Col("probability"), DOUBLE)
    closed_won = AND(Func("COALESCE", (Col("is_closed"), FALSE)), Op(">=", probability, Const(1, BIGINT)))
    return _simple(
        c,
        "deal_pipeline_stage",
        "deal_pipeline_stage",
        (
            *_deleted_flags(Col("_is_deleted")),
            _synced(),
            Field("active", BOOLEAN, NOT(Col("_is_deleted"))),
            Field("closed_won", BOOLEAN, Func("COALESCE", (closed_won, FALSE))),
            Field("is_closed", BOOLEAN, Col("is_closed")),
            Field("display_order", BIGINT, Cast(Col("display_order"), BIGINT)),
            Field("label", TEXT, Col("label")),
            Field("pipeline_id", TEXT, Col("pipeline_id")),
            Field("probability", DOUBLE, probability),
            Field("stage_id", TEXT, Col("id")),
            Field("created_at", TIMESTAMP, Col("created_at")),
            Field("updated_at", TIMESTAMP, Col("updated_at")),
        ),
    )


def _association(c: Catalog, a: str, b: str) -> tuple[str, str, str] | None:
    """``(table, column of a, column of b)`` of the native association between ``a`` and ``b``."""
    if (a, b) in c.associations:
        return c.associations[(a, b)], "from_id", "to_id"
    if (b, a) in c.associations:
        return c.associations[(b, a)], "to_id", "from_id"
    return None


def _deal_association(d: Dialect, c: Catalog, other: str) -> View:
    found = _association(c, "deal", other)
    table, deal_col, other_col = found or ("", "from_id", "to_id")
    fields = (
        _synced(),
        *_deleted_flags(FALSE),
        Field("deal_id", BIGINT, Col(deal_col)),
        Field(f"{other}_id", BIGINT, Col(other_col)),
        Field("type_id", BIGINT, Cast(Col("type_id"), BIGINT)),
        Field("category", TEXT, Col("category")),
    )
    select = Select(fields, table) if found else empty(fields)
    return View(f"deal_{other}", (select,), frozenset({table} if found else ()))


def _engagement_type(c: Catalog, table: str) -> Expr:
    if table != "email":
        return Const(ENGAGEMENT_TYPES[table])
    direction = _property_as(c, "email", "hs_email_direction", TEXT)
    return Func("UPPER", (Func("COALESCE", (direction, Const("EMAIL"))),))


def _engagement(d: Dialect, c: Catalog) -> View:
    def fields(table: str) -> tuple[Field, ...]:
        return (
            _synced(),
            *_deleted_flags(Col("_is_deleted")),
            Field("id", BIGINT, Col("id")),
            _portal(c),
            Field("type", TEXT, _engagement_type(c, table)),
        )

    present = [t for t in ENGAGEMENT_TYPES if c.has(t)]
    selects = tuple(Select(fields(t), t) for t in present) or (empty(fields("call")),)
    return View("engagement", selects, frozenset(present))


def _engagement_of_type(d: Dialect, c: Catalog, table: str) -> View:
    fixed = [
        _synced(),
        *_deleted_flags(Col("_is_deleted")),
        Field("engagement_id", BIGINT, Col("id")),
        Field("type", TEXT, _engagement_type(c, table)),
    ]
    if table == "note":
        fixed.append(Field("body", TEXT, _property_as(c, "note", "hs_note_body", TEXT)))
    return _object_view(d, c, f"engagement_{table}", table, fixed, ENGAGEMENT_PROPERTIES)


def _engagement_association(d: Dialect, c: Catalog, other: str) -> View:
    def fields(e: str, o: str) -> tuple[Field, ...]:
        return (
            Field("_fivetran_synced", TIMESTAMP, Func("MAX", (Col("_synced_at"),))),
            *_deleted_flags(FALSE),
            Field("engagement_id", BIGINT, Col(e)),
            Field(f"{other}_id", BIGINT, Col(o)),
            Field("category", TEXT, Func("MIN", (Col("category"),))),
        )

    selects, sources = [], set()
    for engagement in ENGAGEMENT_TYPES:
        found = _association(c, engagement, other)
        if found:
            table, e, o = found
            selects.append(Select(fields(e, o), table, group_by=(Col(e), Col(o))))
            sources.add(table)
    return View(
        f"engagement_{other}", tuple(selects) or (empty(fields("from_id", "to_id")),), frozenset(sources)
    )


def _history(d: Dialect, c: Catalog, obj: str) -> View:
    return _simple(
        c,
        f"{obj}_property_history",
        f"{obj}_property_history",
        (
            _synced(),
            *_deleted_flags(FALSE),
            Field(f"{obj}_id", BIGINT, Col("object_id")),
            Field("name", TEXT, Col("property")),
            Field("source", TEXT, Col("source_type")),
            Field("source_id", TEXT, Col("source_id")),
            Field("timestamp", TIMESTAMP, Col("timestamp")),
            Field("value", TEXT, Col("value")),
        ),
    )


def _deal_stage(d: Dialect, c: Catalog) -> View:
    far_future = Cast(Const(FAR_FUTURE), TIMESTAMP)
    return _simple(
        c,
        "deal_stage",
        "deal_stage_history",
        (
            Field("_fivetran_active", BOOLEAN, Col("is_active")),
            Field("_fivetran_end", TIMESTAMP, Func("COALESCE", (Col("left_at"), far_future))),
            Field("_fivetran_start", TIMESTAMP, Col("entered_at")),
            _synced(),
            *_deleted_flags(FALSE),
            Field("date_entered", TIMESTAMP, Col("entered_at")),
            Field("deal_id", BIGINT, Col("object_id")),
            Field("source", TEXT, Col("source_type")),
            Field("source_id", TEXT, Col("source_id")),
            Field("value", TEXT, Col("stage_id")),
        ),
    )


def _owner_team(d: Dialect, c: Catalog) -> View:
    return _simple(
        c,
        "owner_team",
        "owner_team",
        (
            _synced(),
            *_deleted_flags(FALSE),
            Field("owner_id", BIGINT, Col("owner_id")),
            Field("team_id", BIGINT, Col("team_id")),
            Field("is_team_primary", BOOLEAN, Func("COALESCE", (Col("is_primary"), FALSE))),
        ),
    )


def _team(d: Dialect, c: Catalog) -> View:
    return _simple(
        c,
        "team",
        "owner_team",
        (
            Field("_fivetran_synced", TIMESTAMP, Func("MAX", (Col("_synced_at"),))),
            *_deleted_flags(FALSE),
            Field("id", BIGINT, Col("team_id")),
            Field("name", TEXT, Func("MAX", (Col("team_name"),))),
        ),
        group_by=(Col("team_id"),),
    )


def _user_id(alias: str) -> Expr:
    return Func("COALESCE", (Col("user_id", alias), Col("user_id_including_inactive", alias)))


def _team_user(d: Dialect, c: Catalog) -> View:
    fields = (
        _synced("t"),
        *_deleted_flags(Col("archived", "o")),
        Field("team_id", BIGINT, Col("team_id", "t")),
        Field("user_id", BIGINT, _user_id("o")),
        Field("is_secondary_user", BOOLEAN, NOT(Func("COALESCE", (Col("is_primary", "t"), FALSE)))),
    )
    if not (c.has("owner_team") and c.has("owner")):
        return View("team_user", (empty(fields),))
    join = Join("owner", "o", EQ(Col("id", "o"), Col("owner_id", "t")))
    select = Select(fields, "owner_team", "t", (join,), where=NotNull(_user_id("o")))
    return View("team_user", (select,), frozenset({"owner_team", "owner"}))


def _users(d: Dialect, c: Catalog) -> View:
    fields = (
        _synced("o"),
        *_deleted_flags(Col("archived", "o")),
        Field("id", TEXT, Cast(_user_id("o"), TEXT)),
        Field("primary_team_id", BIGINT, Col("team_id", "t") if c.has("owner_team") else null(BIGINT)),
        Field("role_id", BIGINT, null(BIGINT)),
        Field("email", TEXT, Col("email", "o")),
        Field("first_name", TEXT, Col("first_name", "o")),
        Field("last_name", TEXT, Col("last_name", "o")),
    )
    if not c.has("owner"):
        return View("users", (empty(fields),))
    joins: tuple[Join, ...] = ()
    if c.has("owner_team"):
        on = AND(EQ(Col("owner_id", "t"), Col("id", "o")), EQ(Col("is_primary", "t"), TRUE))
        joins = (Join("owner_team", "t", on, left=True),)
    select = Select(fields, "owner", "o", joins, where=NotNull(_user_id("o")))
    return View("users", (select,), frozenset({"owner", "owner_team"}))


def _role(d: Dialect, c: Catalog) -> View:
    """HubSpot's roles come from the Settings API, which the sync does not read: no rows."""
    fields = (
        Field("_fivetran_synced", TIMESTAMP, null(TIMESTAMP)),
        *_deleted_flags(FALSE),
        Field("id", BIGINT, null(BIGINT)),
        Field("name", TEXT, null(TEXT)),
        Field("requires_billing_write", BOOLEAN, null(BOOLEAN)),
    )
    return View("role", (empty(fields),))


def _hubspot_object(c: Catalog) -> Expr:
    """``contacts`` -> ``contact``: Fivetran names the object of a property in the singular."""
    whens = tuple(
        (Const(name), Const(table))
        for name, table in sorted(c.objects.items())
        if _LITERAL.fullmatch(name) and _LITERAL.fullmatch(table)
    )
    column = Col("object_name")
    return Case(column, whens, column) if whens else column


def _property_id() -> Expr:
    return Func("CONCAT", (Col("object_name"), Const("."), Col("property_name")))


def _property(d: Dialect, c: Catalog) -> View:
    return _simple(
        c,
        "property",
        "property_definition",
        (
            Field("_fivetran_id", TEXT, Func("CONCAT", (Col("object_name"), Const("."), Col("name")))),
            _synced(),
            *_deleted_flags(Col("archived")),
            Field("calculated", BOOLEAN, Col("calculated")),
            Field("created_at", TIMESTAMP, Col("created_at")),
            Field("description", TEXT, Col("description")),
            Field("field_type", TEXT, Col("field_type")),
            Field("group_name", TEXT, Col("group_name")),
            Field("hubspot_defined", BOOLEAN, Col("hubspot_defined")),
            Field("hubspot_object", TEXT, _hubspot_object(c)),
            Field("label", TEXT, Col("label")),
            Field("name", TEXT, Col("name")),
            Field("show_currency_symbol", BOOLEAN, Col("show_currency_symbol")),
            Field("type", TEXT, Col("type")),
            Field("updated_at", TIMESTAMP, Col("updated_at")),
        ),
    )


def _property_option(d: Dialect, c: Catalog) -> View:
    return _simple(
        c,
        "property_option",
        "property_option",
        (
            Field("label", TEXT, Col("label")),
            Field("property_id", TEXT, _property_id()),
            _synced(),
            *_deleted_flags(FALSE),
            Field("display_order", BIGINT, Cast(Col("display_order"), BIGINT)),
            Field("hidden", BOOLEAN, Col("hidden")),
            Field("value", TEXT, Col("value")),
            Field("hubspot_object", TEXT, _hubspot_object(c)),
            Field("name", TEXT, Col("property_name")),
        ),
    )


def _merged_deal(d: Dialect, c: Catalog) -> View:
    return _simple(
        c,
        "merged_deal",
        "deal",
        (
            _synced(),
            *_deleted_flags(FALSE),
            Field("deal_id", BIGINT, Col("merged_into_id")),
            Field("merged_deal_id", BIGINT, Col("id")),
        ),
        where=AND(Col("_is_deleted"), NotNull(Col("merged_into_id"))),
    )


#: The tables of Fivetran's HubSpot schema, in the order :func:`declare_views` declares them.
VIEW_NAMES: tuple[str, ...] = (
    "deal",
    "company",
    "contact",
    "owner",
    "deal_pipeline",
    "deal_pipeline_stage",
    "deal_company",
    "deal_contact",
    "deal_stage",
    *(f"{obj}_property_history" for obj in HISTORY_OBJECTS),
    "engagement",
    *(f"engagement_{t}" for t in ENGAGEMENT_TYPES),
    *(f"engagement_{o}" for o in ENGAGEMENT_OBJECTS),
    "owner_team",
    "team",
    "team_user",
    "users",
    "role",
    "property",
    "property_option",
    "merged_deal",
)


def declare_views(d: Dialect, c: Catalog) -> list[View]:
    """Every table of Fivetran's HubSpot schema, as views over ``c`` (see the module docstring)."""
    views = [
        _deal(d, c),
        _company(d, c),
        _contact(d, c),
        _owner(d, c),
        _pipeline(d, c),
        _stage(d, c),
        _deal_association(d, c, "company"),
        _deal_association(d, c, "contact"),
        _deal_stage(d, c),
        *(_history(d, c, obj) for obj in HISTORY_OBJECTS),
        _engagement(d, c),
        *(_engagement_of_type(d, c, t) for t in ENGAGEMENT_TYPES),
        *(_engagement_association(d, c, o) for o in ENGAGEMENT_OBJECTS),
        _owner_team(d, c),
        _team(d, c),
        _team_user(d, c),
        _users(d, c),
        _role(d, c),
        _property(d, c),
        _property_option(d, c),
        _merged_deal(d, c),
    ]
    return views


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
