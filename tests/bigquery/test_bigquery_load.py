"""BigQueryWarehouse on the BigQuery emulator: what only BigQuery has (the constructor, identifier
rules, and table metadata that must follow the storage through schema evolution).

Tables, schema evolution, spill-over and loading parts are the warehouse contract, run on every
destination: tests/contract/test_load.py.
"""

from __future__ import annotations

import pytest
from google.cloud import bigquery
from hubspot_etl.warehouse.base import WarehouseError
from hubspot_etl.warehouse.bigquery import BigQueryWarehouse, ident

from tests.support.records import prop, record

#: The emulator's tables API reports JSON as STRING and BIGNUMERIC as NUMERIC (docs/bigquery.md).
METADATA_NAMES = {"JSON": ("JSON", "STRING"), "BIGNUMERIC": ("BIGNUMERIC", "NUMERIC")}


def table_schema(client: bigquery.Client, dataset: str, table: str) -> dict[str, str]:
    """``column -> type`` as get_table() reports it."""
    return {f.name: f.field_type for f in client.get_table(f"{client.project}.{dataset}.{table}").schema}


def query_schema(client: bigquery.Client, dataset: str, table: str) -> dict[str, str]:
    """``column -> type`` as a query over the table reports it (the storage)."""
    job = client.query(f"SELECT * FROM `{client.project}.{dataset}.{table}` LIMIT 0")
    return {f.name: f.field_type for f in job.result().schema}


def test_constructor_and_identifiers(bq_client, dataset_name) -> None:
    assert not BigQueryWarehouse(dataset_name, client=bq_client).exists()
    with pytest.raises(ValueError):
        BigQueryWarehouse(dataset_name)
    with pytest.raises(ValueError):
        BigQueryWarehouse("bad-name; DROP", client=bq_client)
    with pytest.raises(WarehouseError):
        ident("a`b")
    with pytest.raises(WarehouseError):
        ident("_PARTITIONTIME")
    assert ident("select") == "`select`"


def test_table_metadata_follows_the_storage(
    bq_wh: BigQueryWarehouse, bq_client, dataset_name, write_part
) -> None:
    """get_table() (what BI tools and the console show) lists the columns queries see, through
    creation, added columns and widening (the emulator's ALTER changes storage only)."""

    def agree() -> dict[str, str]:
        meta, storage = (
            table_schema(bq_client, dataset_name, "deal"),
            query_schema(bq_client, dataset_name, "deal"),
        )
        assert list(meta) == list(storage)
        for name, type_ in storage.items():
            assert meta[name] in METADATA_NAMES.get(type_, (type_,)), (name, meta[name], type_)
        return meta

    bq_wh.ensure_object_table("deals", [prop("amount", "number"), prop("closedate", "datetime")])
    meta = agree()
    assert meta["id"] == "INTEGER" and meta["closedate"] == "TIMESTAMP"
    assert meta["amount"] in ("BIGNUMERIC", "NUMERIC") and meta["_rejects"] in ("JSON", "STRING")
    bq_wh.load_part("deals", "p1", write_part([record(1, amount="10.5", closedate="2024-03-01T12:00:00Z")]))
    bq_wh.ensure_object_table(
        "deals", [prop("amount", "string"), prop("closedate", "datetime"), prop("select", "date")]
    )
    meta = agree()
    assert meta["amount"] == "STRING" and meta["select"] == "DATE"
    bq_wh.ensure_object_table("deals", [prop("amount", "number"), prop("later", "bool")])
    meta = agree()
    assert meta["amount"] == "STRING" and meta["later"] == "BOOLEAN"
