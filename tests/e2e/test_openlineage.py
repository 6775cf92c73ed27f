"""OpenLineage events of a real sync run, and a run where the provider cannot be imported.

A ``dag.test()`` run of ``hubspot_contacts`` (sandbox + PostgreSQL) with the OpenLineage
provider's listener registered and its file transport: the events are read back from the file.
Extract reads the HubSpot object and writes the run's staged parts; load reads those and writes
the warehouse table with its schema and the rows upserted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.portal(contacts=40, companies=6, deals=0, tickets=0, custom=0, owners=2)

OBJECTS = {"contacts": {"associations": ["companies"]}, "companies": {}}


def _clear_openlineage_caches() -> None:
    """The provider caches its configuration (``@cache``): re-read it from the environment."""
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins import listener

    for value in vars(conf).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()
    listener.get_openlineage_listener.cache_clear()


@pytest.fixture
def lineage_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """OpenLineage on, to a file: its listener registered with the task SDK's listener manager
    (the plugin registers it at import only where a transport was configured then)."""
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.sdk.listener import get_listener_manager

    path = tmp_path / "openlineage.ndjson"
    monkeypatch.setenv(
        "AIRFLOW__OPENLINEAGE__TRANSPORT",
        json.dumps({"type": "file", "log_file_path": str(path), "append": True}),
    )
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "e2e")
    # emit from a thread of the task process, not a fork of the test process
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    _clear_openlineage_caches()
    manager = get_listener_manager()
    listener = get_openlineage_listener()
    manager.add_listener(listener)
    try:
        yield path
    finally:
        manager.pm.unregister(listener)
        monkeypatch.undo()
        _clear_openlineage_caches()


def task_events(path: Path, task_id: str) -> dict[str, dict[str, Any]]:
    """``eventType -> event`` of one task's run events (the job is ``<dag_id>.<task_id>``)."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {e["eventType"]: e for e in events if e["job"]["name"].endswith(f".{task_id}")}


def summary(dataset: dict[str, Any]) -> dict[str, Any]:
    facets = {
        **dataset.get("facets", {}),
        **dataset.get("inputFacets", {}),
        **dataset.get("outputFacets", {}),
    }
    out: dict[str, Any] = {"namespace": dataset["namespace"], "name": dataset["name"]}
    if "schema" in facets:
        out["fields"] = [f["name"] for f in facets["schema"]["fields"]]
    for key in ("inputStatistics", "outputStatistics"):
        if key in facets:
            out[key] = {k: v for k, v in facets[key].items() if not k.startswith("_")}
    return out


def stored_columns(env: Any, table: str) -> list[str]:
    import psycopg

    with psycopg.connect(env.pg.uri) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (env.schema, table),
        ).fetchall()
    return [name for (name,) in rows]


def test_a_sync_run_emits_the_hubspot_object_the_staged_parts_and_the_tables(sync_env, lineage_file):
    from hubspot_etl.sync.run_report import RUN_REPORT_KEYS

    sync_env.write_config(OBJECTS)
    dag_run = sync_env.run("hubspot_contacts")
    report = sync_env.report(dag_run)
    fetched = report["records_fetched"]
    assert fetched > 0
    assert [k for k in report if k in RUN_REPORT_KEYS] == [k for k in RUN_REPORT_KEYS if k in report]
    hubspot_ns = "hubspot://" + sync_env.sandbox.url.split("://", 1)[1].rstrip("/")

    extract = task_events(lineage_file, "extract")
    assert set(extract) >= {"START", "COMPLETE"}
    start_inputs = [summary(d) for d in extract["START"]["inputs"]]
    assert start_inputs == [{"namespace": hubspot_ns, "name": "contacts"}]
    [source] = [summary(d) for d in extract["COMPLETE"]["inputs"]]
    assert (source["name"], source["inputStatistics"]["rowCount"]) == ("contacts", fetched)
    [staged] = [summary(d) for d in extract["COMPLETE"]["outputs"]]
    assert staged["namespace"] == "file://"
    assert staged["name"].startswith(str(sync_env.staging)) and "hubspot_contacts" in staged["name"]
    assert staged["outputStatistics"]["rowCount"] == fetched
    assert staged["outputStatistics"]["fileCount"] >= 1

    load = task_events(lineage_file, "load")
    [load_input] = [summary(d) for d in load["COMPLETE"]["inputs"]]
    assert (load_input["namespace"], load_input["name"]) == (staged["namespace"], staged["name"])
    [table] = [summary(d) for d in load["COMPLETE"]["outputs"]]
    assert table["namespace"].startswith("postgres://")
    assert table["name"] == f"postgres.{sync_env.schema}.contact"
    assert table["outputStatistics"]["rowCount"] == report["records_upserted"] == fetched
    assert table["fields"] == stored_columns(sync_env, "contact")  # every column, in table order
    assert {"id", "_synced_at", "email", "lifecyclestage"} <= set(table["fields"])

    assoc = task_events(lineage_file, "associations")
    [link] = [summary(d) for d in assoc["COMPLETE"]["outputs"]]
    assert link["name"] == f"postgres.{sync_env.schema}.contact_company"
    assert link["outputStatistics"]["rowCount"] == report["associations"]["companies"]

    assert [summary(d)["name"] for d in assoc["START"]["inputs"]] == ["contacts.associations"]

    reconcile = task_events(lineage_file, "reconcile")
    assert [summary(d)["name"] for d in reconcile["COMPLETE"]["outputs"]] == [
        f"postgres.{sync_env.schema}.contact"
    ]


def test_the_operators_run_and_return_no_lineage_where_the_provider_cannot_be_imported(
    sync_env, monkeypatch: pytest.MonkeyPatch
):
    from hubspot_devtools import local

    for name in ("airflow.providers.openlineage.extractors", "openlineage.client.event_v2"):
        monkeypatch.setitem(sys.modules, name, None)  # import of it raises ImportError
    sync_env.write_config(OBJECTS)
    dag_run = sync_env.run("hubspot_owners")
    assert set(local.task_states(dag_run).values()) == {"success"}

    from hubspot_etl.config import load_config
    from hubspot_etl.operators.sync import HubSpotExtractOperator

    cfg = next(o for o in load_config().objects if o.key == "contacts")
    operator = HubSpotExtractOperator(object_config=cfg)
    assert operator.get_openlineage_facets_on_start() is None
    assert operator.get_openlineage_facets_on_complete(None) is None
