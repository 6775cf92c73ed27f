"""BigQueryWarehouse: what only BigQuery has: the Airflow connection path (EndpointBigQueryHook).

Deletes, associations, pipelines, owners, state, reports and the lease lock are the warehouse
contract, run on every destination: tests/contract/test_ops.py.
"""

from __future__ import annotations

import json

from hubspot_etl.hooks.bigquery import EndpointBigQueryHook
from hubspot_etl.warehouse import get_warehouse
from hubspot_etl.warehouse.bigquery import BigQueryWarehouse

from tests.support.records import prop, record


def test_airflow_connection_path(bq_emulator, dataset_name, monkeypatch, write_part) -> None:
    url, project = bq_emulator
    monkeypatch.setenv(
        "AIRFLOW_CONN_BQ_EMULATOR_TEST",
        json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"project": project, "api_endpoint": url, "anonymous": True},
            }
        ),
    )
    hook = EndpointBigQueryHook(gcp_conn_id="bq_emulator_test")
    assert hook.api_endpoint == url and hook.anonymous and hook.project_id == project

    from hubspot_etl.config import Destination

    destination = {"type": "bigquery", "conn_id": "bq_emulator_test", "schema": dataset_name}
    wh = get_warehouse(Destination.model_validate(destination))
    assert isinstance(wh, BigQueryWarehouse) and wh.gcp_conn_id == "bq_emulator_test"
    wh.ensure_schema()
    assert wh.project == project
    wh.ensure_object_table("contacts", [prop("email")])
    assert wh.load_part("contacts", "hook", write_part([record(1, email="via hook")])).rows == 1
    assert wh.live_ids("contacts") == {1}


def test_hook_extras_without_endpoint_keep_provider_credentials(monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BQ_PLAIN_TEST",
        json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "p", "endpoint": "http://x:1/"}}
        ),
    )
    hook = EndpointBigQueryHook(gcp_conn_id="bq_plain_test")
    assert hook.api_endpoint == "http://x:1" and hook.anonymous  # endpoint and no key: anonymous
    assert hook.get_client_options().api_endpoint == "http://x:1"
    monkeypatch.setenv(
        "AIRFLOW_CONN_BQ_PLAIN_TEST",
        json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "p", "key_path": "/nope.json"}}
        ),
    )
    hook = EndpointBigQueryHook(gcp_conn_id="bq_plain_test")
    assert hook.api_endpoint is None and not hook.anonymous
    assert hook.get_client_options().api_endpoint is None
