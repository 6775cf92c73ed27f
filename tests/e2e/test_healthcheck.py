"""``hubspot_healthcheck`` through real ``dag.test()`` runs: one table, every broken item named.

The healthy run checks a real token, real scopes, the embedded PostgreSQL and a staging folder
and writes nothing that stays in the warehouse; the broken run has a token without the deals
scope, a refused warehouse login and a staging base that cannot be written, and its failure
names all three. The BigQuery adapter's access check runs on the emulator.
"""

from __future__ import annotations

import json
import logging

import pytest
from hubspot_devtools import local
from hubspot_sandbox import ALL_SCOPES, SandboxConfig

from tests.e2e.conftest import TOKEN

NO_DEALS = "health-nodeals-token-3d9f"
DEALS_SCOPE = "crm.objects.deals.read"
OBJECTS = {"deals": {"associations": ["companies"]}, "companies": {}}

pytestmark = pytest.mark.portal(contacts=0, companies=5, deals=10, tickets=0, custom=0)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    scopes = list(ALL_SCOPES)
    return SandboxConfig(
        tokens={TOKEN: scopes, NO_DEALS: [s for s in scopes if s != DEALS_SCOPE]},
        rate_limit_max=None,
        search_per_second=None,
    )


def tables(env) -> set[str]:
    import psycopg

    with psycopg.connect(env.pg.uri) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [env.schema]
        )
        return {r[0] for r in rows}


def test_healthy_deployment_reports_every_item_and_leaves_nothing(sync_env):
    env = sync_env
    env.write_config(OBJECTS)
    env.run("hubspot_deals")  # the schema exists now: the scratch-table path runs
    before = tables(env)
    run = env.run("hubspot_healthcheck")
    result = local.xcom_result(run, "report")
    assert result["broken"] == 0, result["table"]
    by_item = {}
    for check in result["checks"]:
        by_item.setdefault(check["item"], []).append(check)
    assert {c["target"] for c in by_item["scopes"]} == {
        "deals via hubspot_default",
        "companies via hubspot_default",
    }
    deals = next(c for c in by_item["scopes"] if c["target"].startswith("deals"))
    assert "pipelines" in deals["detail"] and "associations to companies" in deals["detail"]
    (warehouse,) = by_item["warehouse"]
    assert "scratch table created and dropped" in warehouse["detail"]
    assert [c["status"] for c in by_item["staging"]] == ["ok"]
    assert by_item["pool"] == [
        {"item": "pool", "target": "hubspot_api", "status": "ok", "detail": "exists: this task ran in it"}
    ]
    assert by_item["airflow"][0]["status"] == "ok"
    assert by_item["hubspot"][0]["status"] == "ok"
    assert tables(env) == before, "the health check left a table behind"
    for line in ("item", "scopes", "warehouse", "staging", "pool", "airflow"):
        assert line in result["table"]


def test_broken_deployment_fails_naming_every_broken_item(sync_env, monkeypatch, capfd, caplog, tmp_path):
    env = sync_env
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the staging folder should be")
    env.write_config(OBJECTS, staging_base=f"file://{blocker}/staging")
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(local.hubspot_connection(env.sandbox.url, NO_DEALS))
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_WAREHOUSE",
        json.dumps({**env.pg.airflow_connection(), "login": "nobody_healthy"}),
    )
    caplog.set_level(logging.INFO)  # the task log reaches stdout or the log capture: read both
    capfd.readouterr()
    run = env.run("hubspot_healthcheck", expect="failed")
    output = "".join(capfd.readouterr()) + caplog.text
    states = local.task_states(run)
    assert states["check"] == "success" and states["report"] == "failed", states
    assert "3 broken:" in output
    assert f"scopes deals via hubspot_default: missing scope(s) {DEALS_SCOPE}" in output
    assert (
        "warehouse postgres hubspot_warehouse" in output and 'role "nobody_healthy" does not exist' in output
    )
    assert f"staging file://{blocker}/staging" in output
    assert NO_DEALS not in output


def test_bigquery_access_check_on_the_emulator(local_bq):
    from hubspot_etl.warehouse.bigquery import BigQueryWarehouse

    client = local_bq.client()
    warehouse = BigQueryWarehouse("health_bq", client=client, project=local_bq.project)
    notes = warehouse.check_access(scratch_suffix="first")
    assert all(ok for ok, _ in notes) and "does not exist yet" in notes[-1][1]
    warehouse.ensure_schema()
    try:
        notes = warehouse.check_access(scratch_suffix="second")
        assert all(ok for ok, _ in notes), notes
        assert "scratch table created, written and dropped" in notes[-1][1]
        names = {t.table_id for t in client.list_tables(f"{local_bq.project}.health_bq")}
        assert not [n for n in names if n.startswith("_hubspot_healthcheck")], names
    finally:
        client.delete_dataset(f"{local_bq.project}.health_bq", delete_contents=True, not_found_ok=True)
