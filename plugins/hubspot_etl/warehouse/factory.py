"""Build the warehouse adapter a destination config names.

DAGs, operators and sync steps call :func:`get_warehouse` and never branch on the
destination type themselves.
"""

from __future__ import annotations

from typing import Any

from hubspot_etl.warehouse.base import Warehouse


def get_warehouse(destination: Any, max_property_columns: int | None = None) -> Warehouse:
    """The adapter for ``destination`` (a :class:`hubspot_etl.config.Destination`)."""
    kwargs = {"max_property_columns": max_property_columns} if max_property_columns else {}
    if destination.type == "postgres":
        from hubspot_etl.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(destination.schema_name, postgres_conn_id=destination.conn_id, **kwargs)
    if destination.type == "bigquery":
        from hubspot_etl.warehouse.bigquery import BigQueryWarehouse

        return BigQueryWarehouse(
            destination.schema_name,
            gcp_conn_id=destination.conn_id,
            project=destination.project,
            location=destination.location,
            **kwargs,
        )
    raise ValueError(f"unknown destination type {destination.type!r}")
