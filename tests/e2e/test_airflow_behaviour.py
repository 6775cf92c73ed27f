"""Airflow behaviour: configured failure callbacks fire with the cause, and one object's
failing DAG never affects another object's DAG. Real Airflow runs against the sandbox."""

from __future__ import annotations

import json

import pytest
from hubspot_devtools import local
from hubspot_sandbox import ALL_SCOPES


@pytest.fixture
def sandbox_config():
    from hubspot_sandbox import SandboxConfig

    from tests.e2e.conftest import TOKEN

    scopes = [s for s in ALL_SCOPES if s != "crm.objects.contacts.read"]
    return SandboxConfig(tokens={TOKEN: scopes}, rate_limit_max=None, search_per_second=None)


@pytest.mark.portal(contacts=50, companies=20, deals=30, tickets=5, custom=5)
def test_one_failing_object_does_not_affect_another_and_callbacks_fire(sync_env, tmp_path, monkeypatch):
    failures = tmp_path / "failures.jsonl"
    monkeypatch.setenv("HUBSPOT_TEST_FAILURE_FILE", str(failures))
    sync_env.write_config(
        {"contacts": {}, "deals": {}},
        on_failure_callbacks=["tests.support.callbacks:record_failure"],
    )
    failed = sync_env.run("hubspot_contacts", expect="failed")
    assert local.task_states(failed)["prepare"] == "failed"

    deals = sync_env.report(sync_env.run("hubspot_deals"))
    live = [r for r in sync_env.snapshot("deals")["records"] if not r.get("archived")]
    assert deals["status"] == "healthy" and deals["records_fetched"] == len(live)

    records = [json.loads(line) for line in failures.read_text().splitlines()]
    assert [(r["dag_id"], r["task_id"]) for r in records] == [("hubspot_contacts", "prepare")]
    assert "crm.objects.contacts.read" in records[0]["cause"], records[0]["cause"]
