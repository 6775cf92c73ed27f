"""Fixtures for the BigQuery-only tests: one ``bqemulator`` per session, a fresh dataset per test
(the contract tests on every destination have their own: tests/contract/conftest.py).

The emulator (PyPI ``bqemulator``, DuckDB-backed) speaks BigQuery's REST API; the official
``google-cloud-bigquery`` client talks to it with only the endpoint changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from google.cloud import bigquery
from hubspot_etl.warehouse.bigquery import BigQueryWarehouse


@pytest.fixture
def dataset_name(bq_client: bigquery.Client) -> Iterator[str]:
    """A fresh dataset name per test (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    bq_client.delete_dataset(name, delete_contents=True, not_found_ok=True)


@pytest.fixture
def bq_wh(bq_client: bigquery.Client, dataset_name: str) -> BigQueryWarehouse:
    """A BigQueryWarehouse on a fresh dataset with the metadata tables created."""
    warehouse = BigQueryWarehouse(dataset_name, client=bq_client)
    warehouse.lock_poll_s = 0.1
    warehouse.ensure_schema()
    return warehouse
