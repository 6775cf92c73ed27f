"""Fixtures for the warehouse tests: one schema per test on the session's PostgreSQL (``pg_uri``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hubspot_etl.warehouse.postgres import PostgresWarehouse
from psycopg import sql


@pytest.fixture
def schema_name(pg_uri: str) -> Iterator[str]:
    """A fresh schema name per test (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def wh(pg_uri: str, schema_name: str) -> PostgresWarehouse:
    """A PostgresWarehouse on a fresh schema with metadata tables created."""
    warehouse = PostgresWarehouse(schema_name, conninfo=pg_uri)
    warehouse.ensure_schema()
    return warehouse


@pytest.fixture
def query(pg_uri: str, schema_name: str) -> Callable[..., list[dict]]:
    """Run a query with ``search_path`` = the test schema; rows as dicts."""

    def run(statement: str | sql.Composable, params: Any = None) -> list[dict]:
        with psycopg.connect(pg_uri, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_name)))
            conn.execute("SET TIME ZONE 'UTC'")
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    return run
