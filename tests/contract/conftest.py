"""The warehouse contract: one ``dest`` fixture, parametrized over every destination.

``dest`` is a :class:`Destination`: ``.kind`` (``"postgres"``, ``"bigquery"``, ``"snowflake"``),
``.wh`` (a warehouse on a fresh schema / dataset / database, ``ensure_schema()`` done,
``lock_poll_s = 0.1``) and dialect-neutral readers, so that a contract test is written once:

* ``rows(table)``: every row as a dict with lower-case keys; documents (jsonb, JSON, VARIANT)
  parsed to Python objects, numbers ``int``/``Decimal``, timestamps aware UTC datetimes,
  booleans ``bool``;
* ``column_types(table)``: ``lower(column) -> family`` (``numeric``, ``timestamp``, ``date``,
  ``boolean``, ``text``, ``json``, ``bigint``; ``double`` for floating point), in table order;
  an unknown type fails the test;
* ``tables()``: the names of the tables of the schema (lower case);
* ``execute(statement, params)``: a statement through the warehouse's own session (``@name``
  placeholders), for the few tests that simulate a crash by editing a metadata table;
* ``other(**kwargs)``: another warehouse object on the same schema (another worker: lock tests,
  or a different ``max_property_columns``); ``missing()``: one on a schema never created.

Sessions: PostgreSQL (``pg_uri``), the BigQuery emulator (``bq_client``), the Snowflake emulator
(``snowflake_conn_factory``: a fresh database per test, schema ``hubspot`` in it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hubspot_etl.warehouse.base import Warehouse
from hubspot_etl.warehouse.dialect import Dialect
from psycopg import sql
from psycopg.rows import dict_row

KINDS = ["postgres", "bigquery", "snowflake"]
FAMILIES = frozenset({"numeric", "timestamp", "date", "boolean", "text", "json", "bigint", "double"})

_PG_FAMILIES = {
    "bigint": "bigint",
    "integer": "bigint",
    "smallint": "bigint",
    "numeric": "numeric",
    "double precision": "double",
    "timestamp with time zone": "timestamp",
    "date": "date",
    "boolean": "boolean",
    "text": "text",
    "jsonb": "json",
    "json": "json",
}
_BQ_FAMILIES = {
    "INTEGER": "bigint",
    "INT64": "bigint",
    "NUMERIC": "numeric",
    "BIGNUMERIC": "numeric",
    "FLOAT": "double",
    "FLOAT64": "double",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "BOOL": "boolean",
    "STRING": "text",
    "JSON": "json",
}
_SF_FAMILIES = {
    "TIMESTAMP_TZ": "timestamp",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "TEXT": "text",
    "VARCHAR": "text",
    "VARIANT": "json",
    "FLOAT": "double",
}


#: bqemulator 1.4 stores BIGNUMERIC as DuckDB DECIMAL(38,5): 5 fraction digits (docs/bigquery.md).
EMULATOR_NUMERIC_SCALE: dict[str, int] = {"bigquery": 5}


def _family(table: str, column: str, families: Mapping[str, str], type_name: str) -> str:
    family = families.get(type_name)
    assert family in FAMILIES, f"{table}.{column}: unexpected column type {type_name!r}"
    return family


def _lower_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {str(k).lower(): v for k, v in row.items()}
    assert len(out) == len(row), f"column names differ only in case: {sorted(row)}"
    return out


def _utc(value: Any) -> Any:
    """Aware datetimes in UTC (naive ones are a reader bug: fail loudly)."""
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"naive timestamp read back: {value!r}"
        return value.astimezone(UTC)
    return value


@dataclass
class Destination:
    """One destination under test; see the module docstring."""

    kind: str
    wh: Any
    make: Callable[..., Any] = field(repr=False)
    make_missing: Callable[[], Any] = field(repr=False)
    read_rows: Callable[[str], list[dict[str, Any]]] = field(repr=False)
    read_column_types: Callable[[str], dict[str, str]] = field(repr=False)
    read_tables: Callable[[], set[str]] = field(repr=False)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [{k: _utc(v) for k, v in _lower_keys(r).items()} for r in self.read_rows(table)]

    def column_types(self, table: str) -> dict[str, str]:
        return self.read_column_types(table)

    def tables(self) -> set[str]:
        return {t.lower() for t in self.read_tables()}

    def other(self, **kwargs: Any) -> Any:
        """Another warehouse object (another worker) on the same schema, ``lock_poll_s = 0.1``."""
        warehouse = self.make(**kwargs)
        warehouse.lock_poll_s = 0.1
        return warehouse

    def missing(self) -> Any:
        """A warehouse object on a schema / dataset that was never created."""
        return self.make_missing()

    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """One statement through the warehouse's own session; ``{name}`` in ``statement`` is
        replaced by the dialect's qualified table name."""
        d = self.wh.d
        names = {part.split("}")[0] for part in statement.split("{")[1:]}
        text = statement.format(**{n: d.table(n) for n in names})
        with d.session() as s:
            return s.execute(text, params).rows

    @property
    def stored_scale(self) -> int | None:
        """Fraction digits the emulator keeps in a numeric column, where it keeps fewer than the
        dialect declares (``numeric_limits.max_scale``); None: as declared."""
        return EMULATOR_NUMERIC_SCALE.get(self.kind)

    @property
    def uses_lease_rows(self) -> bool:
        """Object locks are lease rows in ``_hubspot_locks`` (the dialect has no session lock)."""
        return type(self.wh.d).session_lock is Dialect.session_lock


def _ensured(warehouse: Warehouse) -> Warehouse:
    warehouse.lock_poll_s = 0.1
    warehouse.ensure_schema()
    return warehouse


# ---------------------------------------------------------------------- PostgreSQL
def _postgres(request: pytest.FixtureRequest) -> Iterator[Destination]:
    from hubspot_etl.warehouse.postgres import PostgresWarehouse

    pg_uri: str = request.getfixturevalue("pg_uri")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    missing = f"t_{uuid.uuid4().hex[:12]}"

    def connect() -> psycopg.Connection:
        conn = psycopg.connect(pg_uri, autocommit=True, row_factory=dict_row)
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def rows(table: str) -> list[dict[str, Any]]:
        with connect() as conn:
            return conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))).fetchall()

    def column_types(table: str) -> dict[str, str]:
        with connect() as conn:
            found = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
        return {
            r["column_name"].lower(): _family(table, r["column_name"], _PG_FAMILIES, r["data_type"])
            for r in found
        }

    def tables() -> set[str]:
        with connect() as conn:
            found = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
            ).fetchall()
        return {r["table_name"] for r in found}

    def make(**kwargs: Any) -> PostgresWarehouse:
        return PostgresWarehouse(schema, conninfo=pg_uri, **kwargs)

    try:
        yield Destination(
            "postgres",
            _ensured(make()),
            make,
            lambda: PostgresWarehouse(missing, conninfo=pg_uri),
            rows,
            column_types,
            tables,
        )
    finally:
        with psycopg.connect(pg_uri, autocommit=True) as conn:
            for name in (schema, missing):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


# ---------------------------------------------------------------------- BigQuery
def _bigquery(request: pytest.FixtureRequest) -> Iterator[Destination]:
    from hubspot_etl.warehouse.bigquery import BigQueryWarehouse

    client = request.getfixturevalue("bq_client")
    dataset = f"t_{uuid.uuid4().hex[:12]}"
    missing = f"t_{uuid.uuid4().hex[:12]}"

    def rows(table: str) -> list[dict[str, Any]]:
        job = client.query(f"SELECT * FROM `{client.project}.{dataset}.{table}`")
        return [dict(row.items()) for row in job.result()]

    def column_types(table: str) -> dict[str, str]:
        # the schema of a query: the emulator's table metadata reports JSON columns as STRING
        schema = client.query(f"SELECT * FROM `{client.project}.{dataset}.{table}` LIMIT 0").result().schema
        return {f.name.lower(): _family(table, f.name, _BQ_FAMILIES, f.field_type) for f in schema}

    def tables() -> set[str]:
        return {t.table_id for t in client.list_tables(dataset)}

    def make(**kwargs: Any) -> BigQueryWarehouse:
        return BigQueryWarehouse(dataset, client=client, **kwargs)

    try:
        yield Destination(
            "bigquery",
            _ensured(make()),
            make,
            lambda: BigQueryWarehouse(missing, client=client),
            rows,
            column_types,
            tables,
        )
    finally:
        client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


# ---------------------------------------------------------------------- Snowflake
_SF_DOCUMENT_TYPE_CODES = (5, 9, 10)  # VARIANT, OBJECT, ARRAY: JSON text to parse


def _snowflake(request: pytest.FixtureRequest) -> Iterator[Destination]:
    from hubspot_etl.warehouse.snowflake import SnowflakeWarehouse

    factory = request.getfixturevalue("snowflake_conn_factory")
    schema = "hubspot"

    def query(statement: str, params: Any = None) -> tuple[list[Any], list[tuple]]:
        conn = factory()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return list(cur.description or []), cur.fetchall()
        finally:
            conn.close()

    def rows(table: str) -> list[dict[str, Any]]:
        wh: SnowflakeWarehouse = dest.wh
        description, found = query(f"SELECT * FROM {wh.d.table(table)}")
        documents = {i for i, d in enumerate(description) if d[1] in _SF_DOCUMENT_TYPE_CODES}
        names = [d[0] for d in description]
        return [
            {
                name: json.loads(v) if i in documents and isinstance(v, str) else v
                for i, (name, v) in enumerate(zip(names, row, strict=True))
            }
            for row in found
        ]

    def sf_family(table: str, column: str, data_type: str, scale: Any) -> str:
        if data_type.upper() in ("NUMBER", "DECIMAL", "NUMERIC"):
            return "bigint" if scale in (0, None) else "numeric"
        return _family(table, column, _SF_FAMILIES, data_type.upper())

    def column_types(table: str) -> dict[str, str]:
        _, found = query(
            "SELECT column_name, data_type, numeric_scale FROM information_schema.columns "
            "WHERE UPPER(table_schema) = %s AND UPPER(table_name) = %s ORDER BY ordinal_position",
            [schema.upper(), table.upper()],
        )
        return {name.lower(): sf_family(table, name, data_type, scale) for name, data_type, scale in found}

    def tables() -> set[str]:
        _, found = query(
            "SELECT table_name FROM information_schema.tables WHERE UPPER(table_schema) = %s",
            [schema.upper()],
        )
        return {name for (name,) in found}

    def make(**kwargs: Any) -> SnowflakeWarehouse:
        return SnowflakeWarehouse(schema, connection_factory=factory, **kwargs)

    dest = Destination(
        "snowflake",
        _ensured(make()),
        make,
        lambda: SnowflakeWarehouse(f"missing_{uuid.uuid4().hex[:8]}", connection_factory=factory),
        rows,
        column_types,
        tables,
    )
    yield dest


_BUILDERS = {"postgres": _postgres, "bigquery": _bigquery, "snowflake": _snowflake}


@pytest.fixture(params=KINDS, ids=KINDS)
def dest(request: pytest.FixtureRequest) -> Iterator[Destination]:
    """The destination under test (see the module docstring); only its emulator is started."""
    yield from _BUILDERS[request.param](request)
