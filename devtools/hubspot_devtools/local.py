"""Local, account-free environment: embedded PostgreSQL, the HubSpot sandbox, Airflow runs.

Used by the demo (``scripts/demo.sh``) and the end-to-end tests. Nothing here is needed
by a deployed Airflow; ``pgserver`` is a dev dependency (requirements-dev.txt).

- :func:`start_postgres` starts a throw-away PostgreSQL 16 from the ``pgserver`` wheel;
- :func:`airflow_environment` points Airflow at a local home, the repo's DAGs, a sync
  config and the two connections (as ``AIRFLOW_CONN_*`` variables);
- :func:`run_dag` runs one generated DAG through Airflow with ``dag.test()``.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"


@dataclass
class LocalPostgres:
    server: Any
    uri: str

    @property
    def socket_dir(self) -> str:
        return parse_qs(urlparse(self.uri).query)["host"][0]

    def airflow_connection(self) -> dict[str, Any]:
        """The server as an Airflow connection (JSON form of ``AIRFLOW_CONN_*``)."""
        return {"conn_type": "postgres", "host": self.socket_dir, "login": "postgres", "schema": "postgres"}

    def stop(self) -> None:
        """Stop the server. pgserver 0.1.4 leaves its ``atexit`` hook registered after
        ``cleanup()``; it would log into a closed stream at exit, so it is removed too."""
        self.server.cleanup()
        atexit.unregister(self.server._cleanup)


def start_postgres(data_dir: Path) -> LocalPostgres:
    """Start (or reuse) an embedded PostgreSQL whose data lives in ``data_dir``."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    return LocalPostgres(server, server.get_uri())


def hubspot_connection(url: str, token: str, api_version: str = "v3", **extra: Any) -> dict[str, Any]:
    return {
        "conn_type": "hubspot",
        "host": url,
        "password": token,
        "extra": {"api_version": api_version, **extra},
    }


def write_sync_config(path: Path, objects: dict[str, Any], defaults: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"defaults": defaults, "objects": objects}, sort_keys=False))
    return path


def airflow_environment(
    airflow_home: Path,
    config_path: Path,
    hubspot_conn: dict[str, Any],
    warehouse_conn: dict[str, Any],
) -> dict[str, str]:
    """Environment variables for an Airflow that runs this repo's DAGs against local services."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "HUBSPOT_ETL_CONFIG": str(config_path),
        "HUBSPOT_ETL_ENV": "",
        "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps(hubspot_conn),
        "AIRFLOW_CONN_HUBSPOT_WAREHOUSE": json.dumps(warehouse_conn),
    }


def migrate_airflow_db(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )


def load_dag(dag_id: str) -> Any:
    """Parse the DAG folder now (picking up the current config) and return one DAG."""
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER)
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags[dag_id]


def run_dag(dag_id: str, conf: dict[str, Any] | None = None, logical_date: Any = None) -> Any:
    """Run one DAG through Airflow (``dag.test()``) and return the DagRun.

    ``logical_date=None`` makes a run without a data interval, as a manual trigger with a
    cleared date does; the sync then windows from its stored watermark up to now.
    """
    dag = load_dag(dag_id)
    return dag.test(run_conf=conf or {}, logical_date=logical_date)


def task_states(dag_run: Any) -> dict[str, str]:
    """``task_id -> state`` of a finished DagRun (read from the metadata DB)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(TaskInstance.task_id, TaskInstance.state)
            .filter(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
            .all()
        )
    return {task_id: str(getattr(state, "value", state)) for task_id, state in rows}


def xcom_result(dag_run: Any, task_id: str) -> Any:
    """The return value (XCom) of one task of a finished DagRun."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel.value)
            .filter(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
            .first()
        )
    if row is None:
        return None
    value = row[0]
    return json.loads(value) if isinstance(value, str | bytes) else value
