"""The destinations, keyed by ``destination.type``: the one place that knows which exist.

The config's allowed values, the ``part_size`` default, the warehouse and scoring store of a
destination, its connection help and the meaning of its errors all come from here; no other
module branches on the destination type. Each entry names the module of its dialect, imported
only when a task runs (never at DAG parse time). That module provides
``build_warehouse(destination, max_property_columns)`` and ``explain_error(exc, destination)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from hubspot_etl.warehouse.base import Warehouse


@dataclass(frozen=True)
class DestinationType:
    type: str
    #: "PostgreSQL schema", for messages and DAG docs.
    container: str
    #: Records per staged part: small where loading overlaps extraction best, larger where each
    #: part is a load job with a daily quota (BigQuery: 1,500 per table per day).
    part_size: int
    module: str
    connection_help: str

    def _module(self) -> Any:
        return importlib.import_module(self.module)

    def warehouse(self, destination: Any, max_property_columns: int | None = None) -> Warehouse:
        return self._module().build_warehouse(destination, max_property_columns)

    def explain_error(self, exc: BaseException, destination: Any) -> str | None:
        """A message naming the cause when ``exc`` is a permanent setup error of this destination."""
        return self._module().explain_error(exc, destination)

    def describe(self, destination: Any) -> str:
        project = f"`{destination.project}.`" if destination.project else ""
        return f"{self.container} {project}`{destination.schema_name}` (connection `{destination.conn_id}`)"


DESTINATIONS: dict[str, DestinationType] = {
    d.type: d
    for d in (
        DestinationType(
            "postgres",
            "PostgreSQL schema",
            2_500,
            "hubspot_etl.warehouse.postgres",
            "airflow connections add {conn_id} --conn-uri postgresql://user:password@host:5432/database",
        ),
        DestinationType(
            "bigquery",
            "BigQuery dataset",
            20_000,
            "hubspot_etl.warehouse.bigquery",
            "airflow connections add {conn_id} --conn-type google_cloud_platform "
            '--conn-extra \'{{"project": "<project>"}}\'',
        ),
        DestinationType(
            "snowflake",
            "Snowflake schema",
            20_000,
            "hubspot_etl.warehouse.snowflake",
            "airflow connections add {conn_id} --conn-type snowflake --conn-login <user> --conn-password "
            '<password> --conn-extra \'{{"account": "<account>", "database": "<database>", "warehouse": "<wh>"}}\'',
        ),
    )
}


def destination_type(type_: str) -> DestinationType:
    try:
        return DESTINATIONS[type_]
    except KeyError:
        raise ValueError(f"unknown destination type {type_!r} (one of {', '.join(DESTINATIONS)})") from None


def get_warehouse(destination: Any, max_property_columns: int | None = None) -> Warehouse:
    """The warehouse of ``destination`` (a :class:`hubspot_etl.config.Destination`)."""
    return destination_type(destination.type).warehouse(destination, max_property_columns)
