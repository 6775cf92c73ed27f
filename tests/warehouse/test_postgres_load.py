"""PostgresWarehouse: what only PostgreSQL has (its constructor and connection factory).

Tables, schema evolution, spill-over and loading parts are the warehouse contract, run on every
destination: tests/contract/test_load.py.
"""

from __future__ import annotations

import psycopg
import pytest
from hubspot_etl.warehouse.postgres import PostgresWarehouse

from tests.support.records import prop, record


def test_constructor_needs_exactly_one_source(pg_uri: str) -> None:
    with pytest.raises(ValueError):
        PostgresWarehouse("s")
    with pytest.raises(ValueError):
        PostgresWarehouse("s", postgres_conn_id="x", conninfo=pg_uri)


def test_connection_factory(pg_uri: str, schema_name: str, write_part) -> None:
    wh = PostgresWarehouse(schema_name, connection_factory=lambda: psycopg.connect(pg_uri))
    assert not wh.exists()
    wh.ensure_schema()
    assert wh.exists()
    wh.ensure_object_table("contacts", [prop("email")])
    assert wh.load_part("contacts", "f", write_part([record(1, email="via factory")])).upserted == 1
    assert wh.live_ids("contacts") == {1}
