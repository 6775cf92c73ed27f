"""Session-wide test set-up.

Airflow reads its configuration from the environment when it is first imported, so the
environment is set here, at import time, before any test module imports Airflow:
a throw-away AIRFLOW_HOME with a SQLite metadata DB, this repository's ``dags/`` and
``plugins/`` folders, and no example DAGs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hubspot_devtools.bigquery_emulator import LocalBigQuery, start_bq_emulator
from hubspot_devtools.local import LocalPostgres, start_postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="hubspot-etl-airflow-"))

os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("XDG_RUNTIME_DIR", str(_AIRFLOW_HOME))
os.environ.setdefault("HUBSPOT_ETL_ENV", "")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the throw-away Airflow metadata DB once per session (needed by ``dag.test()``)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def local_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """One real PostgreSQL 16 server (embedded, from the ``pgserver`` wheel) per test session."""
    # Outside pytest's basetemp: a concurrent pytest session may chmod /tmp/pytest-of-<user>
    # to 0700, and the server (run as user "pgserver") would then PANIC at its next checkpoint.
    data_dir = Path(tempfile.mkdtemp(prefix="hubspot-etl-pgdata-"))
    pg = start_postgres(data_dir)
    yield pg
    pg.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_uri(local_pg: LocalPostgres) -> str:
    """libpq URI of the session's PostgreSQL (Unix socket)."""
    return local_pg.uri


@pytest.fixture(scope="session")
def local_bq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBigQuery]:
    """One BigQuery emulator (``bqemulator``) per test session, driven by the official client."""
    bq = start_bq_emulator(tmp_path_factory.mktemp("bqemulator"), project="hubspot-test")
    yield bq
    bq.stop()


@pytest.fixture(scope="session")
def bq_emulator(local_bq: LocalBigQuery) -> tuple[str, str]:
    """``(url, project)`` of the session's emulator."""
    return local_bq.url, local_bq.project


@pytest.fixture(scope="session")
def bq_client(local_bq: LocalBigQuery):
    """The official BigQuery client on the session's emulator."""
    return local_bq.client()


@pytest.fixture
def write_part(tmp_path: Path) -> Callable[[list[dict], str], Path]:
    """Write records as an NDJSON part file; returns its path."""

    def write(records: list[dict], name: str = "part") -> Path:
        path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.ndjson"
        with open(path, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
        return path

    return write
