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
from typing import Any

import pytest
from hubspot_devtools.bigquery_emulator import LocalBigQuery, start_bq_emulator
from hubspot_devtools.local import LocalPostgres, start_postgres
from hubspot_devtools.snowflake_emulator import LocalSnowflake, start_snowflake_emulator

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


@pytest.fixture(scope="session")
def snowflake_emulator() -> Iterator[LocalSnowflake]:
    """One Snowflake emulator (fakesnow, own venv) per test session, for the official connector.

    ``.connect(database, schema)`` opens a connector connection; ``.airflow_connection()`` is
    the JSON of an Airflow ``snowflake`` connection for the provider's SnowflakeHook. That one
    uses the emulator's HTTPS port, whose certificate this fixture makes trusted for the
    session (``REQUESTS_CA_BUNDLE``: the usual CAs plus the emulator's). docs/snowflake.md.
    """
    emulator = start_snowflake_emulator()
    previous = {name: os.environ.get(name) for name in emulator.env()}
    os.environ.update(emulator.env())
    yield emulator
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    emulator.stop()


class SnowflakeConnFactory:
    """Zero-argument callable: a new connector connection to this test's own database."""

    def __init__(self, emulator: LocalSnowflake, database: str, schema: str = "PUBLIC") -> None:
        self.emulator, self.database, self.schema = emulator, database, schema
        self.opened: list[Any] = []

    def __call__(self) -> Any:
        conn = self.emulator.connect(database=self.database, schema=self.schema)
        self.opened.append(conn)
        return conn

    def airflow_connection(self) -> dict[str, Any]:
        """The test's database as an Airflow ``snowflake`` connection (JSON form)."""
        return self.emulator.airflow_connection(database=self.database, schema=self.schema)

    def close(self) -> None:
        for conn in self.opened:
            try:
                conn.close()
            except Exception:  # noqa: S110 (a broken connection is closed enough)
                pass


@pytest.fixture
def snowflake_conn_factory(snowflake_emulator: LocalSnowflake) -> Iterator[SnowflakeConnFactory]:
    """``connect()`` opens a new connection to a fresh database of this test (schema PUBLIC).

    The database (``factory.database``) is dropped and the connections closed afterwards.
    """
    factory = SnowflakeConnFactory(snowflake_emulator, f"TEST_{uuid.uuid4().hex[:12].upper()}")
    snowflake_emulator.create_database(factory.database)
    yield factory
    factory.close()
    snowflake_emulator.drop_database(factory.database)


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


def _memoize_jsonschema_meta_check() -> None:
    """Check each distinct JSON schema against its meta-schema once per test process.

    Airflow 3.3's ``dag.test()`` re-parses and re-serialises every DAG of the bundle on each
    call, and serialising a task resolves its params through ``jsonschema.validate``, which
    validates the *schema itself* against the meta-schema every time: half of a test's
    ``dag.test()`` time. Values are still validated on every call; only the check of a schema
    that was already found valid is skipped. Deployments and the subprocess runs
    (``airflow dags test``, the api-server) are untouched.
    """
    import jsonschema
    from jsonschema import exceptions, validators

    checked: set[str] = set()

    def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
        cls = cls or validators.validator_for(schema)
        key = f"{cls.__name__}:{json.dumps(schema, sort_keys=True, default=str)}"
        if key not in checked:
            cls.check_schema(schema)
            checked.add(key)
        error = exceptions.best_match(cls(schema, *args, **kwargs).iter_errors(instance))
        if error is not None:
            raise error

    jsonschema.validate = validate


_memoize_jsonschema_meta_check()


#: test folders (or files) whose tests share files outside their temp dirs: the Airflow-minor
#: virtualenvs and the wheel build (tests/matrix), the compose client's virtualenv. Under
#: pytest-xdist each such group runs on one worker, one test after another.
_SERIAL_GROUPS = {"matrix": "tests/matrix/", "compose": "tests/test_docker_compose.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path)).as_posix()
        for group, where in _SERIAL_GROUPS.items():
            if f"/{where}" in path or path.endswith(f"/{where}"):
                item.add_marker(pytest.mark.xdist_group(group))
