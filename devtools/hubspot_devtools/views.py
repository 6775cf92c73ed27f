"""Read-only views of one warehouse schema or dataset, as lists of dicts.

Used by the demo (to print the score history) and by the tests' oracle; both warehouses
offer the same three methods: ``rows(table)``, ``column_map(object_name)`` and
``table_exists(table)``.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]{1,1024}")


class WarehouseView:
    """Read-only access to one warehouse schema, for comparisons."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self.conninfo, self.schema = conninfo, schema

    def rows(self, table: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            return conn.execute(
                sql.SQL("SELECT * FROM {}").format(sql.Identifier(self.schema, table))
            ).fetchall()

    def column_map(self, object_name: str) -> dict[str, dict[str, Any]]:
        with psycopg.connect(self.conninfo, row_factory=dict_row) as conn:
            rows = conn.execute(
                sql.SQL("SELECT * FROM {} WHERE object_name = %s").format(
                    sql.Identifier(self.schema, "_hubspot_column_map")
                ),
                [object_name],
            ).fetchall()
        return {row["property_name"]: row for row in rows}

    def table_exists(self, table: str) -> bool:
        with psycopg.connect(self.conninfo) as conn:
            return conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", [f'"{self.schema}"."{table}"']
            ).fetchone()[0]


class BigQueryView:
    """Read-only access to one BigQuery dataset (the emulator in tests), same interface."""

    def __init__(self, client: Any, dataset: str) -> None:
        self.client, self.dataset = client, dataset

    def _table(self, table: str) -> str:
        """Backtick-quoted ``project.dataset.table``, after checking each part is a plain name."""
        for part in (self.dataset, table):
            if not _PLAIN_NAME.fullmatch(part):
                raise ValueError(f"not a plain BigQuery name: {part!r}")
        return f"`{self.client.project}.{self.dataset}.{table}`"

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [
            dict(row.items())
            for row in self.client.query(f"SELECT * FROM {self._table(table)}").result()  # noqa: S608 - quoted, validated name
        ]

    def column_map(self, object_name: str) -> dict[str, dict[str, Any]]:
        from google.cloud import bigquery

        job = self.client.query(
            f"SELECT * FROM {self._table('_hubspot_column_map')} WHERE object_name = @o",  # noqa: S608
            job_config=bigquery.QueryJobConfig(
                query_parameters=[bigquery.ScalarQueryParameter("o", "STRING", object_name)]
            ),
        )
        return {row["property_name"]: dict(row.items()) for row in job.result()}

    def table_exists(self, table: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.client.get_table(f"{self.client.project}.{self.dataset}.{table}")
            return True
        except NotFound:
            return False


class SnowflakeView:
    """Read-only access to one Snowflake schema (the emulator in tests), same interface.

    ``connect`` opens a connector connection to the database. Names are stored upper case (the
    product quotes them so); keys come back lower case and ``VARIANT`` documents parsed.
    """

    def __init__(self, connect: Any, schema: str) -> None:
        self.connect, self.schema = connect, schema

    @staticmethod
    def _quote(name: str) -> str:
        return '"' + name.upper().replace('"', '""') + '"'

    def _query(self, statement: str, params: Any = None) -> list[dict[str, Any]]:
        import json

        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(statement, params)
            # type code 5 is VARIANT (and 9/10 OBJECT/ARRAY): JSON text to parse
            documents = {i for i, d in enumerate(cur.description) if d[1] in (5, 9, 10)}
            names = [d[0].lower() for d in cur.description]
            return [
                {
                    name: (json.loads(v) if i in documents and isinstance(v, str) else v)
                    for i, (name, v) in enumerate(zip(names, row, strict=True))
                }
                for row in cur.fetchall()
            ]
        finally:
            conn.close()

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self._query(f"SELECT * FROM {self._quote(self.schema)}.{self._quote(table)}")  # noqa: S608

    def column_map(self, object_name: str) -> dict[str, dict[str, Any]]:
        rows = self._query(
            f"SELECT * FROM {self._quote(self.schema)}.{self._quote('_hubspot_column_map')} "  # noqa: S608
            "WHERE object_name = %s",
            [object_name],
        )
        return {row["property_name"]: row for row in rows}

    def table_exists(self, table: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM information_schema.tables WHERE UPPER(table_schema) = %s AND UPPER(table_name) = %s",
                [self.schema.upper(), table.upper()],
            )
        )
