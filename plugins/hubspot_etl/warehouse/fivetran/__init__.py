"""The Fivetran-compatible schema mode: views named, typed and shaped like Fivetran's HubSpot tables.

With ``destination.schema_style: fivetran`` the sync keeps its own (native) tables in
``destination.native_schema`` and publishes, in ``destination.schema``, one view per table of
Fivetran's HubSpot schema (``docs/fivetran.md``). What is where:

* :mod:`.expr`: the small expression language a view is declared in (:class:`~.expr.Expr`,
  :class:`~.expr.Select`, :class:`~.expr.View`, ...) and its rendering per dialect
  (:func:`~.expr.render`), with the literal checks (:func:`~.expr.safe_literal`,
  :func:`~.expr.valid_portal_id`).
* :mod:`.columns`: what the views read (:class:`~.columns.Catalog`) and the columns made of it:
  ``property_<name>`` columns (:func:`~.columns.property_fields`), the properties each Fivetran
  table always has (``*_PROPERTIES``), the common ``_fivetran_*`` columns.
* :mod:`.views`: one builder per Fivetran table; :func:`~.views.declare_views`,
  :data:`~.views.VIEW_NAMES`.
* :mod:`.publish`: :class:`~.publish.FivetranViews` (publishing under a lock, only what
  changed), the recorded schema style (:class:`~.publish.SchemaStyleError`), the native tables
  only the views read, and the sync's hook :func:`~.publish.publish_views`.
"""

from __future__ import annotations

from hubspot_etl.warehouse.fivetran.columns import Catalog, PropertyColumn, property_column
from hubspot_etl.warehouse.fivetran.expr import render, safe_literal, valid_portal_id
from hubspot_etl.warehouse.fivetran.publish import (
    FivetranViews,
    SchemaStyleError,
    add_missing_columns,
    check_native_style,
    publish_views,
    write_owner_teams,
    write_property_options,
)
from hubspot_etl.warehouse.fivetran.views import VIEW_NAMES, declare_views

__all__ = [
    "VIEW_NAMES",
    "Catalog",
    "FivetranViews",
    "PropertyColumn",
    "SchemaStyleError",
    "add_missing_columns",
    "check_native_style",
    "declare_views",
    "property_column",
    "publish_views",
    "render",
    "safe_literal",
    "valid_portal_id",
    "write_owner_teams",
    "write_property_options",
]
