"""The built wheel on every supported Airflow minor, deployed the way Composer and MWAA deploy it.

For each minor (3.0 and 3.3 on every run; ``make test-matrix`` or
``HUBSPOT_ETL_AIRFLOW_MINORS=all`` for 3.0, 3.1, 3.2 and 3.3): a virtualenv with that Airflow,
the providers that install with it, and the product wheel from ``make bundle`` (not editable;
no repository path on ``sys.path``); a DAGs folder that holds only the bundle's ``dags/`` plus
this test's ``hubspot_sync.yaml`` beside the DAG file; an empty plugins folder. Then:

1. parse: no import errors, every configured DAG present, the package imported from the
   virtualenv's site-packages and no development package importable;
2. ``airflow dags reserialize`` (what the DAG processor does), then real ``airflow dags test``
   runs of ``hubspot_owners``, ``hubspot_deals`` and ``hubspot_companies`` (with its scoring
   group) against the sandbox over HTTP and the embedded PostgreSQL, then ``hubspot_healthcheck``;
3. the rows that landed equal the sandbox's (the oracle), and the score history equals the
   one the development install (Airflow 3.3, in-process ``dag.test()``) computes for the same
   portal.

Each minor's virtualenv is cached under ``.local/airflow-matrix`` (keyed by what it installs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot_devtools import local
from hubspot_devtools.airflow_matrix import (
    AirflowMinor,
    MatrixVenv,
    ensure_venv,
    installed_versions,
    selected_minors,
)
from hubspot_devtools.views import WarehouseView
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal

from tests.support.oracle import check_associations, check_object

pytestmark = pytest.mark.slow

TOKEN = "matrix-token-5c1e7a"
OBJECTS = {
    "companies": {"associations": ["deals"], "scoring": {"enabled": True}},
    "deals": {"associations": ["companies"], "history": ["dealstage", "amount"]},
}
EXPECTED_DAGS = {
    "hubspot_companies",
    "hubspot_deals",
    "hubspot_owners",
    "hubspot_import",
    "hubspot_healthcheck",
}
RUN_ORDER = ("hubspot_owners", "hubspot_deals", "hubspot_companies")
#: run after the syncs, on every minor: it must pass there too
CHECKS = ("hubspot_healthcheck",)
HISTORY_COLUMNS = (
    "owner_id",
    "combined_stage",
    "num_units",
    "total_score",
    "total_amount",
    "weighted_amount",
)
TIMINGS = Path(__file__).resolve().parents[2] / ".local" / "airflow-matrix" / "last-run.json"

PARSE_SCRIPT = r"""
import importlib.util, json, sys
try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3.1+
except ImportError:
    from airflow.models.dagbag import DagBag  # Airflow 3.0
bag = DagBag(sys.argv[1])  # no include_examples: it raises on 3.3.0-3.3.2
import hubspot_etl
print("MATRIX " + json.dumps({
    "dag_ids": sorted(bag.dag_ids),
    "import_errors": {k: str(v)[-3000:] for k, v in bag.import_errors.items()},
    "package_file": hubspot_etl.__file__,
    "dev_packages": [m for m in ("hubspot_sandbox", "hubspot_devtools") if importlib.util.find_spec(m)],
}))
"""


@pytest.fixture(scope="session")
def portal_server() -> Any:
    """One deterministic portal for every minor (the runs only read it)."""
    portal = generate_portal(seed=23, contacts=0, companies=40, deals=60, tickets=0, custom=0, owners=5)
    config = SandboxConfig(tokens={TOKEN: list(ALL_SCOPES)}, rate_limit_max=None, search_per_second=None)
    with SandboxServer(portal, config) as server:
        yield server


def _sync_defaults(schema: str, staging: Path) -> dict[str, Any]:
    return {
        "destination": {"type": "postgres", "conn_id": "hubspot_warehouse", "schema": schema},
        "staging_base": f"file://{staging}",
        "schedule": None,
        "full_refresh_schedule": None,
        "retries": 0,
    }


@pytest.fixture(scope="session")
def reference_history(
    portal_server: Any,
    local_pg: local.LocalPostgres,
    airflow_db: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[tuple]:
    """The score history of the development install (in-process ``dag.test()``, Airflow 3.3)."""
    work = tmp_path_factory.mktemp("reference")
    schema = "matrix_reference"
    config = local.write_sync_config(
        work / "hubspot_sync.yaml", OBJECTS, _sync_defaults(schema, work / "staging")
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HUBSPOT_ETL_CONFIG", str(config))
        patch.setenv("HUBSPOT_ETL_ENV", "")
        patch.setenv(
            "AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(local.hubspot_connection(portal_server.url, TOKEN))
        )
        patch.setenv("AIRFLOW_CONN_HUBSPOT_WAREHOUSE", json.dumps(local_pg.airflow_connection()))
        for dag_id in RUN_ORDER:
            run = local.run_dag(dag_id)
            assert str(getattr(run.state, "value", run.state)) == "success", local.task_states(run)
    return _history(WarehouseView(local_pg.uri, schema))


def _history(view: WarehouseView) -> list[tuple]:
    rows = view.rows("hs_pipeline_score_history")
    return sorted(
        (tuple(Decimal(r[c]) if isinstance(r[c], Decimal) else r[c] for c in HISTORY_COLUMNS) for r in rows),
        key=str,
    )


class MinorRun:
    """One minor's deployment: its virtualenv, AIRFLOW_HOME, DAGs folder and environment."""

    def __init__(self, minor: AirflowMinor, venv: MatrixVenv, work: Path, env: dict[str, str]) -> None:
        self.minor, self.venv, self.work, self.env = minor, venv, work, env
        self.timings: dict[str, float] = {"venv": round(venv.seconds, 1)}

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = subprocess.run(
            [str(self.venv.python), "-m", "airflow", *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings[" ".join(args[:3])] = round(time.monotonic() - started, 1)
        return result


def _deploy(
    minor: AirflowMinor, bundle: dict[str, Any], work: Path, server: Any, pg: local.LocalPostgres
) -> MinorRun:
    wheel = Path(bundle["out"]) / bundle["wheel"]
    venv = ensure_venv(minor, wheel)
    dags = work / "dags"
    shutil.copytree(Path(bundle["mwaa"]["path"]) / "dags", dags)
    schema = f"matrix_{minor.minor.replace('.', '_')}"
    # the deployment's own config, beside the DAG file (the bundle's example config is replaced)
    local.write_sync_config(dags / "hubspot_sync.yaml", OBJECTS, _sync_defaults(schema, work / "staging"))
    (work / "plugins").mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(work)),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(work / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(work / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'home' / 'airflow.db'}",
        "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(local.hubspot_connection(server.url, TOKEN)),
        "AIRFLOW_CONN_HUBSPOT_WAREHOUSE": json.dumps(pg.airflow_connection()),
    }
    (work / "home").mkdir()
    return MinorRun(minor, venv, work, env)


def _parse(run: MinorRun) -> dict[str, Any]:
    result = subprocess.run(
        [str(run.venv.python), "-c", PARSE_SCRIPT, run.env["AIRFLOW__CORE__DAGS_FOLDER"]],
        env=run.env,
        cwd=run.work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("MATRIX ")), None)
    assert line, (
        f"parse script failed on {run.minor.minor}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return json.loads(line.removeprefix("MATRIX "))


@pytest.mark.parametrize("minor", selected_minors(), ids=lambda m: m.minor)
def test_wheel_parses_and_syncs_on_airflow_minor(
    minor: AirflowMinor,
    bundle: dict[str, Any],
    portal_server: Any,
    local_pg: local.LocalPostgres,
    reference_history: list[tuple],
    tmp_path: Path,
) -> None:
    run = _deploy(minor, bundle, tmp_path, portal_server, local_pg)
    versions = installed_versions(run.venv)
    assert versions["apache-airflow"] == minor.airflow
    assert versions["airflow-hubspot-warehouse"] == bundle["version"]

    parsed = _parse(run)
    assert parsed["import_errors"] == {}, parsed["import_errors"]
    assert set(parsed["dag_ids"]) == EXPECTED_DAGS
    assert "site-packages" in parsed["package_file"] and str(run.venv.path) in parsed["package_file"]
    assert parsed["dev_packages"] == [], "the deployment must not see the sandbox or the devtools"

    migrated = run.airflow("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    serialized = run.airflow("dags", "reserialize")
    assert serialized.returncode == 0, serialized.stderr[-3000:]
    for dag_id in (*RUN_ORDER, *CHECKS):
        result = run.airflow("dags", "test", dag_id)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "state=success" in output, (
            f"airflow dags test {dag_id} on Airflow {minor.airflow}:\n{output[-6000:]}"
        )

    view = WarehouseView(local_pg.uri, f"matrix_{minor.minor.replace('.', '_')}")
    companies = requests.get(f"{portal_server.url}/_sandbox/state/companies", timeout=30).json()
    deals = requests.get(f"{portal_server.url}/_sandbox/state/deals", timeout=30).json()
    problems = check_object(view, companies, "company", "companies") + check_object(
        view, deals, "deal", "deals"
    )
    live_companies = {int(r["id"]) for r in companies["records"] if not r.get("archived")}
    live_deals = {int(r["id"]) for r in deals["records"] if not r.get("archived")}
    problems += check_associations(view, companies, "company_deal", "deals", live_companies, live_deals)
    assert problems == [], problems
    # every record, plus a tombstone per id merged away (merged_into_id names its survivor)
    assert len(view.rows("company")) == len(companies["records"]) + len(companies["merged"]) > 0

    # the history task ran on this minor: every deal the API returns has its stage history
    # and exactly one open stage row
    stage_rows = view.rows("deal_stage_history")
    open_rows = {int(r["object_id"]) for r in stage_rows if r["is_active"]}
    assert live_deals <= open_rows and sum(1 for r in stage_rows if r["is_active"]) == len(open_rows)
    assert {int(r["object_id"]) for r in view.rows("deal_property_history")} >= live_deals

    registry = view.rows("hs_snapshot_registry")
    assert [r["scoring_status"] for r in registry] == ["success"]
    assert registry[0]["num_units"] == len(live_companies)
    history = _history(view)
    assert history == reference_history and len(history) > 3
    _record(minor, versions, run.timings)


def _record(minor: AirflowMinor, versions: dict[str, str], timings: dict[str, float]) -> None:
    """Keep each minor's versions and timings (``.local/airflow-matrix/last-run.json``)."""
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    data[minor.minor] = {"versions": versions, "seconds": timings}
    TIMINGS.write_text(json.dumps(data, indent=2))
