"""Warehouse adapters: HubSpot records -> PostgreSQL (and later BigQuery), same tables.

Modules: :mod:`.naming` (table/column names), :mod:`.types` (value conversion),
:mod:`.planning` (schema evolution plan), :mod:`.records` (staging rows), :mod:`.base` (the
:class:`~.base.Warehouse` interface) and :mod:`.postgres` (the PostgreSQL adapter).
"""

from __future__ import annotations

from typing import Any

from hubspot_etl.warehouse.base import (
    LoadResult,
    SchemaChangeSummary,
    Warehouse,
    WarehouseError,
    WarehouseLockError,
)

__all__ = [
    "LoadResult",
    "SchemaChangeSummary",
    "Warehouse",
    "WarehouseError",
    "WarehouseLockError",
    "get_warehouse",
]


def get_warehouse(destination: Any) -> Warehouse:
    """Adapter for a config ``Destination`` (``type``, ``conn_id``, ``schema_name``)."""
    kind = getattr(destination, "type", "postgres")
    schema = getattr(destination, "schema_name", None) or getattr(destination, "schema", "hubspot")
    if kind == "postgres":
        from hubspot_etl.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(schema, postgres_conn_id=destination.conn_id)
    raise NotImplementedError(f"warehouse type {kind!r} is not implemented yet")
