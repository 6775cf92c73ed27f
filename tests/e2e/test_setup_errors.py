"""Setup errors fail at once, name the Airflow connection and the fix; transient errors still retry.

Every DAG here has ``retries: 2`` (a 1-second retry delay): a wrong token, a missing scope, a
missing HubSpot or warehouse connection and a refused warehouse login must end the task on its
first try, while a 5xx storm is retried. Real ``dag.test()`` runs against the sandbox over HTTP
and the embedded PostgreSQL; the try count is read from Airflow's metadata DB.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hubspot_devtools import local
from hubspot_sandbox import ALL_SCOPES, SandboxConfig

GOOD = "setup-good-token-41f0"
WRONG = "setup-wrong-token-9a2e"
NO_DEALS = "setup-nodeals-token-77c1"
DEALS_SCOPE = "crm.objects.deals.read"
RETRIES = {"retries": 2, "retry_delay_seconds": 1, "max_retry_delay_seconds": 2}


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        tokens={GOOD: list(ALL_SCOPES), NO_DEALS: [s for s in ALL_SCOPES if s != DEALS_SCOPE]},
        rate_limit_max=None,
        search_per_second=None,
    )


def tries(dag_run: Any, task_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter(
                TaskInstance.dag_id == dag_run.dag_id,
                TaskInstance.run_id == dag_run.run_id,
                TaskInstance.task_id == task_id,
            )
            .one()
        )
        return int(ti.try_number)


def use_hubspot(monkeypatch: pytest.MonkeyPatch, env: Any, token: str, **extra: Any) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(local.hubspot_connection(env.sandbox.url, token, **extra))
    )


def failed_once(env: Any, capfd: Any, caplog: Any, dag_id: str, task_id: str = "prepare") -> str:
    """Run ``dag_id``, expect ``task_id`` failed on its first try; return the run's output.

    The task log reaches stdout or pytest's log capture, depending on how earlier tests left
    logging configured; both are read.
    """
    caplog.set_level(logging.INFO)
    capfd.readouterr()
    caplog.clear()
    dag_run = env.run(dag_id, expect="failed")
    output = "".join(capfd.readouterr()) + caplog.text
    assert local.task_states(dag_run)[task_id] == "failed", local.task_states(dag_run)
    assert tries(dag_run, task_id) == 1, f"{task_id} was retried: {tries(dag_run, task_id)} tries"
    assert "not retried" in output
    return output


def test_wrong_token_fails_on_the_first_try_naming_the_connection(sync_env, monkeypatch, capfd, caplog):
    sync_env.write_config({"deals": {}}, **RETRIES)
    use_hubspot(monkeypatch, sync_env, WRONG)
    sync_env.sandbox.reset_counters()
    output = failed_once(sync_env, capfd, caplog, "hubspot_deals")
    assert "HubSpot rejected the token of Airflow connection 'hubspot_default'" in output
    assert "Password field" in output
    assert sync_env.sandbox.counters().get("responses.401") == 1
    assert WRONG not in output


def test_missing_scope_names_the_scope_and_the_connection(sync_env, monkeypatch, capfd, caplog):
    sync_env.write_config({"deals": {}}, **RETRIES)
    use_hubspot(monkeypatch, sync_env, NO_DEALS)
    output = failed_once(sync_env, capfd, caplog, "hubspot_deals")
    assert f"lacks the HubSpot scope(s) {DEALS_SCOPE}" in output
    assert "'hubspot_default'" in output


def test_an_object_library_object_never_activated_is_named_as_such(sync_env, monkeypatch, capfd, caplog):
    # the generated portal never activated Appointments (0-421)
    sync_env.write_config({"appointments": {"object_type": "0-421"}}, **RETRIES)
    use_hubspot(monkeypatch, sync_env, GOOD)
    output = failed_once(sync_env, capfd, caplog, "hubspot_appointments")
    assert "object appointments (0-421) is not activated in this portal" in output
    assert "set enabled: false" in output


def test_missing_hubspot_connection_says_how_to_create_it(sync_env, monkeypatch, capfd, caplog):
    sync_env.write_config({"deals": {}}, hubspot_conn_id="hubspot_nowhere", **RETRIES)
    output = failed_once(sync_env, capfd, caplog, "hubspot_deals")
    assert (
        "Airflow connection 'hubspot_nowhere' (the HubSpot connection of this DAG) does not exist" in output
    )
    assert "airflow connections add hubspot_nowhere --conn-type hubspot" in output


def test_missing_warehouse_connection_names_it(sync_env, monkeypatch, capfd, caplog):
    use_hubspot(monkeypatch, sync_env, GOOD)
    sync_env.write_config(
        {"deals": {"destination": {"conn_id": "warehouse_nowhere", "schema": sync_env.schema}}}, **RETRIES
    )
    output = failed_once(sync_env, capfd, caplog, "hubspot_deals")
    assert "Airflow connection 'warehouse_nowhere' (the postgres warehouse connection of this DAG)" in output


def test_refused_warehouse_login_is_not_retried(sync_env, monkeypatch, capfd, caplog):
    use_hubspot(monkeypatch, sync_env, GOOD)
    sync_env.write_config({"deals": {}}, **RETRIES)
    refused = {**sync_env.pg.airflow_connection(), "login": "nobody_here"}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_WAREHOUSE", json.dumps(refused))
    output = failed_once(sync_env, capfd, caplog, "hubspot_deals")
    assert "The PostgreSQL warehouse refused Airflow connection 'hubspot_warehouse'" in output
    assert 'role "nobody_here" does not exist' in output


def test_a_5xx_storm_is_still_retried(sync_env, monkeypatch, capfd, caplog):
    use_hubspot(monkeypatch, sync_env, GOOD, max_retries=1, backoff_base_s=0.01, backoff_max_s=0.02)
    sync_env.write_config({"deals": {}}, **RETRIES)
    sync_env.sandbox.config.fault_5xx_rate = 1.0
    try:
        dag_run = sync_env.run("hubspot_deals", expect="failed")
    finally:
        sync_env.sandbox.config.fault_5xx_rate = 0.0
    assert tries(dag_run, "prepare") == RETRIES["retries"] + 1
