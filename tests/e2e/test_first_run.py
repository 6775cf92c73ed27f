"""A newcomer's first run on a real Airflow stack (api-server, scheduler, dag-processor).

* No ``hubspot_api`` pool exists: the scheduled run still completes, because the package's
  plugin creates the missing pool when the run starts, with a warning in the scheduler's log.
* The connection **Test** button: the request the UI's connections list sends (``port: 0`` for
  a connection stored without a port) succeeds for HubSpot connections made with the CLI or
  the REST API, and a wrong token gets one clear sentence back. The same request for a
  non-HubSpot connection is still refused by Airflow 3.3, so the fix stays scoped.
* The connection form (``hook_meta``) offers every documented extra, with no default that a
  save would freeze into the connection.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hubspot_devtools.airflow_stack import AirflowStack

from tests.e2e.conftest import TOKEN

pytestmark = [pytest.mark.slow, pytest.mark.portal(contacts=0, companies=5, deals=20, tickets=0, custom=0)]
DOCUMENTED_EXTRAS = {"api_version", "rate_limit_max", "search_per_second", "list_concurrency", "max_retries"}


def api_token(stack: AirflowStack) -> str:
    response = requests.get(f"{stack.url}/auth/token", timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def ui_test_request(stack: AirflowStack, token: str, connection: dict[str, Any]) -> requests.Response:
    """What the connections list's Test button posts: stored fields, ``port: Number(null)`` = 0."""
    body = {
        "connection_id": connection["connection_id"],
        "conn_type": connection["conn_type"],
        "description": connection.get("description") or "",
        "extra": connection.get("extra") or "{}",
        "host": connection.get("host") or "",
        "login": connection.get("login") or "",
        "password": connection.get("password") or "",
        "port": int(connection.get("port") or 0),
        "schema": connection.get("schema") or "",
    }
    return requests.post(
        f"{stack.url}/api/v2/connections/test",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def stored(stack: AirflowStack, token: str, conn_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.url}/api/v2/connections/{conn_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    response.raise_for_status()
    return response.json()


def test_first_run_without_pool_and_the_connection_test_button(sync_env, airflow_metadata, tmp_path):
    env = sync_env
    env.write_config({"deals": {}})
    with AirflowStack(
        tmp_path / "airflow",
        airflow_metadata.sqlalchemy_url,
        metadata_uri=airflow_metadata.libpq_uri,
        config={"core": {"test_connection": "Enabled"}},
    ) as stack:
        assert stack.query("SELECT pool FROM slot_pool WHERE pool = 'hubspot_api'") == []
        stack.wait_for_dag("hubspot_deals")
        stack.cli("dags", "unpause", "hubspot_deals")
        stack.cli("dags", "trigger", "hubspot_deals")
        (run,) = stack.wait_for_runs("hubspot_deals", expected=1, timeout=300)
        assert run["state"] == "success", stack.diagnostics("hubspot_deals")
        (pool,) = stack.query("SELECT slots, description FROM slot_pool WHERE pool = 'hubspot_api'")
        assert pool["slots"] == 4 and "created automatically for hubspot_deals" in pool["description"]
        assert "pool 'hubspot_api' did not exist: created it with 4 slots" in stack.process_log(
            "scheduler", 200_000
        )
        assert env.view.rows("deal"), "the run wrote the deals"

        token = api_token(stack)
        stack.cli(
            "connections", "add", "hubspot_cli", "--conn-type", "hubspot",
            "--conn-host", env.sandbox.url, "--conn-password", TOKEN,
        )  # fmt: skip
        cli_conn = stored(stack, token, "hubspot_cli")
        assert cli_conn["port"] is None
        response = ui_test_request(stack, token, cli_conn)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "status": True,
            "message": f"Connected to {env.sandbox.url} (API v3): the token is valid.",
        }

        created = requests.post(  # as the UI's "Add connection" form posts it: no port
            f"{stack.url}/api/v2/connections",
            json={
                "connection_id": "hubspot_ui",
                "conn_type": "hubspot",
                "host": env.sandbox.url,
                "password": "wrong-token-1234",
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        response = ui_test_request(stack, token, stored(stack, token, "hubspot_ui"))
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["status"] is False
        assert result["message"].startswith("HubSpot rejected the token (401")
        assert result["message"].endswith("put a valid private app token in the Password field.")
        assert "wrong-token-1234" not in result["message"]

        # Airflow 3.3's own check is untouched for other connection types
        stack.cli("connections", "add", "plain_http", "--conn-type", "http", "--conn-host", "example.invalid")
        response = ui_test_request(stack, token, stored(stack, token, "plain_http"))
        assert response.status_code == 400 and "differs from the stored connection" in response.text

        meta = requests.get(  # what the UI's connection form is built from
            f"{stack.url}/ui/connections/hook_meta", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()
        (hubspot,) = [m for m in meta if m["connection_type"] == "hubspot"]
        fields = hubspot["extra_fields"] or {}
        assert DOCUMENTED_EXTRAS <= set(fields), set(fields)
        for name, spec in fields.items():  # nothing the form would write into the extra on save
            assert spec.get("value") is None and "default" not in (spec.get("schema") or {}), (name, spec)
