"""The tables of Fivetran's HubSpot schema, declared once as views over the native tables.

One builder per Fivetran table (``_deal``, ``_company``, ...), with Fivetran's columns and types
(``docs/fivetran.md``; the facts are in the research note the contract test is written from), in
the language of :mod:`.expr` over a :class:`~.columns.Catalog`. :func:`declare_views` lists them
in the order of :data:`VIEW_NAMES`. A table whose native table does not exist (yet) is an empty
view with the same columns, replaced once the native table appears.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubspot_etl.warehouse.dialect import Dialect
from hubspot_etl.warehouse.fivetran.columns import (
    COMPANY_PROPERTIES,
    CONTACT_PROPERTIES,
    DEAL_PROPERTIES,
    ENGAGEMENT_PROPERTIES,
    Catalog,
    as_type,
    deleted_flags,
    portal,
    property_fields,
    synced,
)
from hubspot_etl.warehouse.fivetran.expr import (
    AND,
    EQ,
    FALSE,
    LITERAL,
    NOT,
    TRUE,
    Case,
    Cast,
    Col,
    Const,
    Expr,
    Field,
    Func,
    Join,
    NotNull,
    Op,
    Select,
    View,
    empty,
    null,
)
from hubspot_etl.warehouse.tables import BIGINT, BOOLEAN, DOUBLE, TEXT, TIMESTAMP

#: ``deal_stage._fivetran_end`` of the open row (Fivetran's far-future end).
FAR_FUTURE = "9999-12-31 23:59:59.999+00:00"
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


def _required(d: Mapping[str, str | None]) -> dict[str, str]:
    """Required properties; a None type (numbers) is numeric, the type of number properties."""
    return {k: v or "numeric" for k, v in d.items()}


def _object_view(
    d: Dialect, catalog: Catalog, name: str, table: str, fixed: Sequence[Field], required: Mapping[str, str]
) -> View:
    return _simple(catalog, name, table, property_fields(d, catalog, table, fixed, required))


def _deal(d: Dialect, c: Catalog) -> View:
    fixed = (
        synced(),
        *deleted_flags(Col("_is_deleted")),
        Field("deal_id", BIGINT, Col("id")),
        Field("deal_pipeline_id", TEXT, _property_as(c, "deal", "pipeline", TEXT)),
        Field("deal_pipeline_stage_id", TEXT, _property_as(c, "deal", "dealstage", TEXT)),
        Field("owner_id", BIGINT, _property_as(c, "deal", "hubspot_owner_id", BIGINT)),
        portal(c),
    )
    return _object_view(d, c, "deal", "deal", fixed, _required(DEAL_PROPERTIES))


def _property_as(c: Catalog, table: str, prop: str, wanted: str) -> Expr:
    column = next((p for p in c.properties.get(table, []) if p.property_name == prop), None)
    return as_type(column, wanted)[1] if column else null(wanted)


def _company(d: Dialect, c: Catalog) -> View:
    fixed = (synced(), *deleted_flags(Col("_is_deleted")), Field("id", BIGINT, Col("id")))
    return _object_view(d, c, "company", "company", fixed, _required(COMPANY_PROPERTIES))


def _contact(d: Dialect, c: Catalog) -> View:
    fixed = (synced(), *deleted_flags(Col("_is_deleted")), Field("id", BIGINT, Col("id")))
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
            synced(),
            *deleted_flags(Col("archived")),
            Field("active_user_id", BIGINT, Col("user_id")),
            Field("created_at", TIMESTAMP, Col("created_at")),
            Field("email", TEXT, Col("email")),
            Field("first_name", TEXT, Col("first_name")),
            Field("last_name", TEXT, Col("last_name")),
            Field("owner_id", BIGINT, Col("id")),
            portal(c),
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
            *deleted_flags(Col("_is_deleted")),
            synced(),
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
            *deleted_flags(Col("_is_deleted")),
            synced(),
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
        synced(),
        *deleted_flags(FALSE),
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
            synced(),
            *deleted_flags(Col("_is_deleted")),
            Field("id", BIGINT, Col("id")),
            portal(c),
            Field("type", TEXT, _engagement_type(c, table)),
        )

    present = [t for t in ENGAGEMENT_TYPES if c.has(t)]
    selects = tuple(Select(fields(t), t) for t in present) or (empty(fields("call")),)
    return View("engagement", selects, frozenset(present))


def _engagement_of_type(d: Dialect, c: Catalog, table: str) -> View:
    fixed = [
        synced(),
        *deleted_flags(Col("_is_deleted")),
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
            *deleted_flags(FALSE),
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
            synced(),
            *deleted_flags(FALSE),
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
            synced(),
            *deleted_flags(FALSE),
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
            synced(),
            *deleted_flags(FALSE),
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
            *deleted_flags(FALSE),
            Field("id", BIGINT, Col("team_id")),
            Field("name", TEXT, Func("MAX", (Col("team_name"),))),
        ),
        group_by=(Col("team_id"),),
    )


def _user_id(alias: str) -> Expr:
    return Func("COALESCE", (Col("user_id", alias), Col("user_id_including_inactive", alias)))


def _team_user(d: Dialect, c: Catalog) -> View:
    fields = (
        synced("t"),
        *deleted_flags(Col("archived", "o")),
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
        synced("o"),
        *deleted_flags(Col("archived", "o")),
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
        *deleted_flags(FALSE),
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
        if LITERAL.fullmatch(name) and LITERAL.fullmatch(table)
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
            synced(),
            *deleted_flags(Col("archived")),
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
            synced(),
            *deleted_flags(FALSE),
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
            synced(),
            *deleted_flags(FALSE),
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
