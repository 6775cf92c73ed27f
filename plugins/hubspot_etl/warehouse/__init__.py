"""Warehouse adapters: HubSpot records -> PostgreSQL (and later BigQuery), same tables.

Modules: :mod:`.naming` (table/column names), :mod:`.types` (value conversion),
:mod:`.planning` (schema evolution plan), :mod:`.records` (staging rows), :mod:`.base` (the
:class:`~.base.Warehouse` interface) and :mod:`.postgres` (the PostgreSQL adapter);
:func:`get_warehouse` (from :mod:`.factory`) picks the adapter for a destination config.
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
