"""Fixtures for the BigQuery adapter tests: one ``bqemulator`` per session, a fresh dataset per test.

The emulator (PyPI ``bqemulator``, DuckDB-backed) speaks BigQuery's REST API; the official
``google-cloud-bigquery`` client talks to it with only the endpoint changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

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


@pytest.fixture
def bq_query(bq_client: bigquery.Client, dataset_name: str) -> Callable[..., list[dict]]:
    """Run GoogleSQL with ``{ds}`` replaced by the test dataset; rows as dicts."""

    def run(statement: str, params: list[Any] | None = None) -> list[dict]:
        config = bigquery.QueryJobConfig(
            query_parameters=params or [], default_dataset=f"{bq_client.project}.{dataset_name}"
        )
        job = bq_client.query(
            statement.replace("{ds}", f"`{bq_client.project}.{dataset_name}`"), job_config=config
        )
        return [dict(r.items()) for r in job.result()]

    return run
