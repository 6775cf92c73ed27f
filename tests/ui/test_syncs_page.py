"""The HubSpot syncs page in a real browser, served by a real ``airflow api-server``.

A sync of deals and companies (with scoring) runs through ``dag.test()`` against the sandbox
and PostgreSQL; an api-server on the same SQLite metadata DB, config and connections then
serves the page, and Chromium (Debian's, driven by Playwright) checks that the tables and charts
show the runs' figures. ``HUBSPOT_ETL_SCREENSHOT=<path>`` also saves the page's screenshot there
(``docs/img/hubspot-syncs.png`` in the README).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hubspot_devtools.airflow_stack import free_port

from tests.e2e.conftest import TOKEN

CHROMIUM = Path("/usr/bin/chromium")
USER, PASSWORD = "hubspot-admin", "page-test-password-3c1e"
OBJECTS = {
    "companies": {"associations": ["deals"], "scoring": {"enabled": True, "unit": "companies"}},
    "deals": {"associations": ["companies"]},
}
API_PATHS = ("api/objects", "api/objects/companies/runs", "api/scoring", "api/runs/hubspot_companies/x")

pytestmark = [pytest.mark.portal(contacts=0, companies=25, deals=30, tickets=0, custom=0, owners=3)]


class ApiServer:
    """``airflow api-server`` in a subprocess (own process group) with the Simple auth manager."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        passwords = home / "simple_auth_passwords.json"
        passwords.write_text(json.dumps({USER: PASSWORD}))
        self.env = {
            **os.environ,  # the metadata DB, HUBSPOT_ETL_CONFIG and AIRFLOW_CONN_* of the test
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-jwt-secret-0123456789abcdef",
            "AIRFLOW__API__SECRET_KEY": "ui-test-secret-key",
            "AIRFLOW__API__BASE_URL": self.url,
        }
        self.log = home / "api-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1"]
                + ["--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-4000:]
            try:
                if requests.get(f"{self.url}/api/v2/version", timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"api-server not up after {timeout}s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)

    def token(self) -> str:
        response = requests.post(
            f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10
        )
        assert response.status_code == 201, response.text
        return response.json()["access_token"]


@pytest.fixture
def api_server(tmp_path: Path, sync_env: Any) -> Iterator[ApiServer]:
    sync_env.write_config(OBJECTS)
    server = ApiServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _fmt(n: int) -> str:
    return f"{n:,}"


def test_syncs_page_shows_the_runs(sync_env: Any, api_server: ApiServer, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (scripts/test.sh does it as root)")
    from playwright.sync_api import sync_playwright

    sync_env.run("hubspot_deals")
    first = sync_env.run("hubspot_companies")
    sync_env.sandbox.portal.create("companies", {"name": "new since the first run", "lifecyclestage": "lead"})
    second = sync_env.run("hubspot_companies")
    # the warehouse's run-report rows, read by the test's own oracle (not by the page's code)
    reports = sorted(
        (r for r in sync_env.view.rows("_hubspot_run_report") if r["object_name"] == "companies"),
        key=lambda r: r["started_at"],
    )
    assert [r["run_id"] for r in reports] == [first.run_id, second.run_id]
    assert reports[1]["records_upserted"] == 1, reports
    last = reports[-1]
    history = [r for r in sync_env.view.rows("hs_pipeline_score_history")]
    snapshots = {r["snapshot_id"] for r in sync_env.view.rows("hs_snapshot_registry")}
    assert f"hubspot_companies:{second.run_id}" in snapshots and history

    api_server.wait()
    base = f"{api_server.url}/hubspot-syncs/"
    # access follows Airflow's auth manager: no token 401, a forged one 403
    for path in API_PATHS:
        assert requests.get(base + path, timeout=10).status_code == 401, path
        forged = {"Authorization": "Bearer not-a-jwt"}
        assert requests.get(base + path, headers=forged, timeout=10).status_code == 403, path
    token = api_server.token()
    auth = {"Authorization": f"Bearer {token}"}
    bodies = [requests.get(base + p, headers=auth, timeout=30) for p in API_PATHS[:3]]
    assert [b.status_code for b in bodies] == [200, 200, 200], [b.text[:500] for b in bodies]
    for body in bodies:  # figures only: no token, no connection host
        assert TOKEN not in body.text and sync_env.pg.socket_dir not in body.text
    plugins = requests.get(f"{api_server.url}/api/v2/plugins", headers=auth, timeout=10).json()
    views = [v for p in plugins["plugins"] for v in p["external_views"]]
    assert {v["name"]: v["destination"] for v in views if v["name"].startswith("HubSpot")} == {
        "HubSpot syncs": "nav",
        "HubSpot run report": "dag_run",
    }

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            context.add_cookies([{"name": "_token", "value": token, "url": api_server.url}])
            page = context.new_page()
            # as the "HubSpot run report" tab of the DAG run links it (run ids hold "+" and ":")
            page.goto(f"{base}?dag_id=hubspot_companies&run_id={quote(second.run_id, safe='')}")
            page.wait_for_selector("body[data-ready]", timeout=30_000)
            assert page.get_attribute("body", "data-ready") == "true", page.text_content("#error")

            row = page.locator('#objects tr[data-object="companies"]')
            assert row.locator("td.upserted").inner_text() == _fmt(last["records_upserted"])
            assert row.locator("td.records").inner_text() == _fmt(last["records_fetched"])
            assert row.locator(".api-total").inner_text() == _fmt(sum(last["api_calls"].values()))
            assert "fresh" in row.inner_text()
            assert page.locator('#objects tr[data-object="deals"]').count() == 1

            points = page.locator('svg[data-chart="records_upserted"] circle.point')
            assert points.count() == 2
            assert [points.nth(i).get_attribute("data-value") for i in range(2)] == [
                str(r["records_upserted"]) for r in reports
            ]
            calls = page.locator('svg[data-chart="api_calls"] circle.point')
            assert [calls.nth(i).get_attribute("data-value") for i in range(2)] == [
                str(sum(r["api_calls"].values())) for r in reports
            ]
            assert page.locator('svg[data-chart="api_calls"] path.budget').count() == 1

            report = page.locator("#run-report")
            assert report.locator('tr[data-field="run_id"] td').inner_text() == second.run_id
            assert report.locator('tr[data-field="records_upserted"] td').inner_text() == str(
                last["records_upserted"]
            )

            scores = page.locator('svg[data-chart="score_history"] circle.point')
            assert scores.count() == len(history)
            registry = page.locator("#snapshot-registry tbody").inner_text()
            assert all(s in registry for s in snapshots)

            # the DAG run's "HubSpot run report" tab: Airflow's UI frames the page for this run
            page.goto(
                f"{api_server.url}/dags/hubspot_companies/runs/{quote(second.run_id, safe='')}"
                "/plugin/hubspot-run-report"
            )
            framed = page.frame_locator("iframe").locator('#run-report tr[data-field="run_id"] td')
            assert framed.inner_text(timeout=30_000) == second.run_id
            page.goto(f"{base}?dag_id=hubspot_companies&run_id={quote(second.run_id, safe='')}")
            page.wait_for_selector("body[data-ready]", timeout=30_000)

            shot = tmp_path / "hubspot-syncs.png"
            page.screenshot(path=str(shot), full_page=True)
            if target := os.environ.get("HUBSPOT_ETL_SCREENSHOT"):
                shutil.copyfile(shot, target)
        finally:
            browser.close()
