"""HubSpot records -> PostgreSQL, BigQuery or Snowflake: the same tables in each.

The shared core: :mod:`.tables` (every table, in logical types), :mod:`.rows` (HubSpot JSON ->
rows), :mod:`.naming` (table/column names), :mod:`.types` (value conversion), :mod:`.planning`
(schema evolution), :mod:`.records` (staged records -> rows), :mod:`.core`, :mod:`.relations` and
:mod:`.leases` (the :class:`~.base.Warehouse` of :mod:`.base`, written once). Each destination
is a :class:`~.dialect.Dialect`: :mod:`.postgres`, :mod:`.bigquery`, :mod:`.snowflake`;
:mod:`.registry` maps ``destination.type`` to them (:func:`get_warehouse`).
"""

from __future__ import annotations

from hubspot_etl.warehouse.base import (
    LoadResult,
    SchemaChangeSummary,
    Warehouse,
    WarehouseError,
    WarehouseLockError,
)
from hubspot_etl.warehouse.registry import get_warehouse

__all__ = [
    "LoadResult",
    "SchemaChangeSummary",
    "Warehouse",
    "WarehouseError",
    "WarehouseLockError",
    "get_warehouse",
]
