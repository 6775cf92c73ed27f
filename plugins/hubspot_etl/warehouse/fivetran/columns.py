"""What the Fivetran-style views are built over, and the property columns they make of it.

:class:`Catalog`: the native tables, their property columns (from ``_hubspot_column_map``) and
associations. Every property column of a native object table becomes ``property_<HubSpot
property name>`` (:func:`property_fields`), in the order the columns were added (so a refreshed
view only appends). A name the destination cannot carry (too long, or not a BigQuery
identifier) or that collides case-insensitively with an earlier one is left out. The
``*_PROPERTIES`` maps are the property columns a Fivetran table has even when not synced.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hubspot_etl.warehouse.base import WarehouseError
from hubspot_etl.warehouse.dialect import Dialect
from hubspot_etl.warehouse.fivetran.expr import Cast, Col, Const, Expr, Field, ToBigint, null, valid_portal_id
from hubspot_etl.warehouse.tables import BIGINT, BOOLEAN, TEXT, TIMESTAMP

log = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- common columns
def synced(alias: str | None = None) -> Field:
    """``_fivetran_synced``: when the sync last wrote the row."""
    return Field("_fivetran_synced", TIMESTAMP, Col("_synced_at", alias))


def deleted_flags(expr: Expr) -> tuple[Field, Field]:
    """``_fivetran_deleted`` and ``is_deleted``, both ``expr``."""
    return Field("_fivetran_deleted", BOOLEAN, expr), Field("is_deleted", BOOLEAN, expr)


def portal(catalog: Catalog) -> Field:
    """``portal_id``: the HubSpot portal id as a literal (NULL while unknown)."""
    value = catalog.portal_id
    return Field(
        "portal_id", BIGINT, null(BIGINT) if value is None else Const(valid_portal_id(value), BIGINT)
    )


def as_type(column: PropertyColumn, wanted: str | None) -> tuple[str, Expr]:
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
        type_, expr = as_type(column, wanted) if column else (wanted, null(wanted))
        if namer.take(property_column(name)):
            fields.append(Field(property_column(name), type_, expr))
    for column in catalog.properties.get(table, []):
        if column.property_name in required:
            continue
        out = property_column(column.property_name)
        if namer.take(out):
            type_, expr = as_type(column, ID_PROPERTIES.get(column.property_name))
            fields.append(Field(out, type_, expr))
        else:
            log.info(
                "fivetran view %s: property %r has no column (name unusable)", table, column.property_name
            )
    return tuple(fields)


# --------------------------------------------------------------------------- required properties
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
