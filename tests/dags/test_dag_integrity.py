"""The DAG folder imports cleanly and builds the DAGs the config describes, fast and offline."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags")


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_object_plus_owners(dagbag):
    assert set(dagbag.dag_ids) == {
        "hubspot_contacts",
        "hubspot_companies",
        "hubspot_deals",
        "hubspot_tickets",
        "hubspot_services",
        *(f"hubspot_{f}" for f in ("calls", "emails", "meetings", "notes", "tasks", "communications")),
        "hubspot_line_items",
        "hubspot_owners",
        "hubspot_import",
        "hubspot_healthcheck",
    }  # the shipped config's other objects are there with enabled: false: no DAG


def test_object_dag_shape(dagbag):
    dag = dagbag.dags["hubspot_deals"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "prepare",
        "extract",
        "load",
        "associations",
        "reconcile",
        "history",  # the shipped config keeps deal-stage history
        "finalize",
        "publish",
    ]
    assert "history" not in dagbag.dags["hubspot_contacts"].task_ids
    assert dag.max_active_runs == 1
    assert set(dag.params) == {"full_load", "dry_run", "limit", "since"}
    assert "hubspot" in dag.tags
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    for task in dag.tasks:
        assert task.retries >= 1 and task.retry_exponential_backoff
        assert task.execution_timeout is not None
    assert dag.get_task("extract").pool == "hubspot_api"
    assert dag.get_task("finalize").outlets == []
    (asset,) = dag.get_task("publish").outlets
    # the asset names its destination, so a schema/environment change makes a new asset
    assert asset.uri == asset.name == "x-hubspot://postgres/hubspot_warehouse/hubspot/deals"


def test_fifty_objects_parse_fast_and_offline(tmp_path, monkeypatch):
    """Building 50 DAGs reads one YAML file: no sockets, well under a second."""
    import importlib.util

    names = [f"obj_{i:02d}" for i in range(50)]
    body = "objects:\n" + "".join(
        f"  {n}:\n    object_type: p1_{n}\n    associations: [contacts]\n" for n in names
    )
    config = tmp_path / "sync.yaml"
    config.write_text(body)
    monkeypatch.setenv("HUBSPOT_ETL_CONFIG", str(config))

    def no_network(*args, **kwargs):
        raise AssertionError("DAG parsing opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    spec = importlib.util.spec_from_file_location(
        "hubspot_dags_under_test", REPO / "dags" / "hubspot_dags.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # warm imports once
    started = time.perf_counter()
    dags = module.build_all()
    elapsed = time.perf_counter() - started
    assert len(dags) == 51
    print(f"50 objects + owners built in {elapsed:.3f}s")
    assert elapsed < 5, (
        "parsing 50 objects should take well under a second; 5 s means something is badly wrong"
    )


def test_scoring_group_only_where_enabled(dagbag):
    companies = dagbag.dags["hubspot_companies"]
    scoring = [t.task_id for t in companies.tasks if t.task_id.startswith("scoring.")]
    assert "scoring.history" in scoring
    assert all(
        "finalize" in t.upstream_task_ids or t.upstream_task_ids & set(scoring)
        for t in companies.tasks
        if t.task_id in scoring
    )
    assert not [t for t in dagbag.dags["hubspot_deals"].tasks if t.task_id.startswith("scoring.")]


def test_each_dag_documents_itself_for_its_users(dagbag):
    """The docs shown in the UI name what the DAG syncs, its tables, connections and params."""
    deals = dagbag.dags["hubspot_deals"].doc_md
    assert deals != dagbag.dags["hubspot_contacts"].doc_md
    for expected in (
        "HubSpot **deals**",
        "`deal`",
        "`deal_company`",
        "`deal_pipeline`",
        "`hubspot_default`",
        "`hubspot_warehouse`",
        "`full_load`",
        "`dry_run`",
        "0 * * * *",
        "x-hubspot://postgres/hubspot_warehouse/hubspot/deals",
        "README.md#configuration",
    ):
        assert expected in deals, expected
    assert "`scoring` group" in dagbag.dags["hubspot_companies"].doc_md
    assert "owner" in dagbag.dags["hubspot_owners"].doc_md


def test_an_ambiguous_object_name_fails_dag_parsing_with_the_fix(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import BundleDagBag

    config = tmp_path / "hubspot_sync.yaml"
    config.write_text("objects:\n  services:\n    associations: [contacts]\n")
    monkeypatch.setenv("HUBSPOT_ETL_CONFIG", str(config))
    bag = BundleDagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags")
    errors = "\n".join(str(e) for e in bag.import_errors.values())
    assert "objects.services.object_type" in errors and "0-162" in errors and "fullyQualifiedName" in errors
    assert "hubspot_services" not in bag.dag_ids
