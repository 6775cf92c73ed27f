"""A real, local Airflow 3 stack in subprocesses: api-server, scheduler, dag-processor.

For end-to-end tests that need what ``dag.test()`` does not give: runs created and
executed by the scheduler (backfills, scheduled runs, retries, killed workers). Nothing
here is needed by a deployed Airflow.

The metadata DB is a fresh PostgreSQL database (LocalExecutor runs tasks in parallel
worker processes, which SQLite does not support well). Typical use::

    db = MetadataDatabase.create(local_pg.uri)          # airflow_<uuid> on the same server
    with AirflowStack(tmp_path / "airflow", db.sqlalchemy_url, env=extra_env) as stack:
        stack.cli("pools", "set", "hubspot_api", "4", "HubSpot API")
        stack.wait_for_dag("hubspot_deals")
        stack.cli("dags", "unpause", "hubspot_deals")
        stack.cli("backfill", "create", "--dag-id", "hubspot_deals", ...)
        runs = stack.wait_for_runs("hubspot_deals", backfill_id=stack.latest_backfill_id("hubspot_deals"))
    db.drop()

``with`` migrates the DB, starts the three processes and, on exit, stops them and every
process they started (SIGTERM to each process group, then SIGKILL; task runners, which
sit in process groups of their own, by pid). For crash tests, :meth:`AirflowStack.kill`
signals one process (``"scheduler"``, ``"api-server"``, ``"dag-processor"``) and
:meth:`AirflowStack.restart` brings it back. Each process logs into ``<airflow_home>/stack-logs``;
:meth:`AirflowStack.diagnostics` gathers those tails and the task logs for assertion
messages. State is read straight from the metadata DB (:meth:`AirflowStack.query`), which
is faster than one ``airflow`` CLI process per poll.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"
PLUGINS_FOLDER = REPO_ROOT / "plugins"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may still take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class MetadataDatabase:
    """One throw-away PostgreSQL database for an Airflow metadata DB.

    ``admin_uri`` is a libpq URI of the server (e.g. ``LocalPostgres.uri``, Unix socket
    in ``?host=``); the database is created next to its default database.
    """

    admin_uri: str
    name: str

    @classmethod
    def create(cls, admin_uri: str, name: str | None = None) -> MetadataDatabase:
        import psycopg

        db = cls(admin_uri, name or f"airflow_{uuid.uuid4().hex[:12]}")
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db.name}"')
        return db

    @property
    def libpq_uri(self) -> str:
        """The same server and credentials as ``admin_uri``, this database."""
        parsed = urlparse(self.admin_uri)
        return parsed._replace(path=f"/{self.name}").geturl()

    @property
    def sqlalchemy_url(self) -> str:
        """``postgresql+psycopg://`` URL for ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``."""
        parsed = urlparse(self.admin_uri)
        query = parse_qs(parsed.query)
        user = quote(parsed.username or "postgres")
        password = f":{quote(parsed.password)}" if parsed.password else ""
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
        url = f"postgresql+psycopg://{user}{password}@{host}{port}/{self.name}"
        if "host" in query:  # Unix socket directory
            url += f"?host={quote(query['host'][0], safe='/')}"
        return url

    def drop(self) -> None:
        """Drop the database (PostgreSQL runs an immediate checkpoint for it)."""
        import psycopg

        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class AirflowStackError(RuntimeError):
    """A stack process died, a CLI call failed or a wait timed out; carries diagnostics."""


class AirflowStack:
    """api-server + scheduler (LocalExecutor) + dag-processor of this repo's DAGs.

    :param airflow_home: a fresh directory (created) for ``AIRFLOW_HOME``, logs and
        process output.
    :param sql_alchemy_conn: the metadata DB URL (see :class:`MetadataDatabase`).
    :param env: extra environment variables (connections, ``HUBSPOT_ETL_CONFIG``...);
        they are laid over a copy of ``os.environ`` and under the stack's own settings.
    :param config: extra Airflow settings as ``{"section": {"key": value}}``; they
        override the defaults below.
    :param metadata_uri: libpq URI of the metadata DB for :meth:`query` (defaults to one
        derived from ``sql_alchemy_conn``).
    """

    def __init__(
        self,
        airflow_home: Path,
        sql_alchemy_conn: str,
        *,
        env: Mapping[str, str] | None = None,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        metadata_uri: str | None = None,
        dags_folder: Path = DAGS_FOLDER,
        plugins_folder: Path = PLUGINS_FOLDER,
    ) -> None:
        self.airflow_home = Path(airflow_home)
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.airflow_home / "stack-logs"
        self.log_dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.sql_alchemy_conn = sql_alchemy_conn
        self.metadata_uri = metadata_uri or _libpq_uri(sql_alchemy_conn)
        settings: dict[str, dict[str, Any]] = {
            "core": {
                "dags_folder": dags_folder,
                "plugins_folder": plugins_folder,
                "load_examples": False,
                "executor": "LocalExecutor",
                "parallelism": 8,  # LocalExecutor worker processes; plenty for a test
                "execution_api_server_url": f"http://127.0.0.1:{self.port}/execution/",
                "dags_are_paused_at_creation": True,
                "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "simple_auth_manager_all_admins": True,
                "fernet_key": "",
            },
            "database": {"sql_alchemy_conn": sql_alchemy_conn},
            "api_auth": {"jwt_secret": secrets.token_urlsafe(32)},
            "api": {"secret_key": secrets.token_urlsafe(32), "base_url": f"http://127.0.0.1:{self.port}"},
            # own ports, so several stacks (and a developer's Airflow) can run side by side
            "logging": {
                "worker_log_server_port": free_port(),
                "trigger_log_server_port": free_port(),
            },
            "scheduler": {"enable_health_check": False},
            "dag_processor": {"refresh_interval": 5, "min_file_process_interval": 10},
        }
        for section, values in (config or {}).items():
            settings.setdefault(section, {}).update(values)
        self.env = {**os.environ, **(env or {}), "AIRFLOW_HOME": str(self.airflow_home)}
        for section, values in settings.items():
            for key, value in values.items():
                self.env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = _setting(value)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> AirflowStack:
        try:
            self.migrate()
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def migrate(self, timeout: float = 300) -> None:
        """``airflow db migrate`` (idempotent)."""
        self.cli("db", "migrate", timeout=timeout)

    def start(self, timeout: float = 90) -> AirflowStack:
        """Start the three processes; return once the api-server answers.

        The scheduler and dag-processor boot meanwhile: neither needs the api-server until
        a task runs, which needs a parsed DAG first.
        """
        self._spawn_api_server()
        self._spawn("scheduler", "scheduler")
        self._spawn("dag-processor", "dag-processor")
        self._wait_http(f"{self.url}/api/v2/monitor/health", timeout)
        return self

    def stop(self, grace: float = 15) -> None:
        """Stop every process started here and everything they started.

        SIGTERM to each process group, SIGKILL after ``grace`` seconds. Task runners live
        in process groups of their own (the task supervisor ``setpgid``s them), so the
        descendants are listed first and any still alive at the end are killed by pid.
        The scheduler and dag-processor go first, while the api-server still answers
        the task runners they wind down; the api-server last.
        """
        first = [proc for name, proc in self.processes.items() if name != "api-server"]
        self._stop(first, grace)
        self._stop([proc for proc in self.processes.values() if proc not in first], grace)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one stack process and its process group (e.g. a scheduler crash)."""
        _signal_group(self.processes[name], sig)

    def restart(self, name: str, grace: float = 15) -> None:
        """Stop one stack process (and its children) and start it again."""
        self._stop([self.processes[name]], grace)
        if name == "api-server":
            self._spawn_api_server()
            self._wait_http(f"{self.url}/api/v2/monitor/health", 90)
        else:
            self._spawn(name, name)

    def _stop(self, procs: list[subprocess.Popen[bytes]], grace: float) -> None:
        import psutil

        tree: list[psutil.Process] = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                tree += psutil.Process(proc.pid).children(recursive=True)
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in procs:
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for child in tree:
            with contextlib.suppress(psutil.Error):
                child.kill()  # psutil checks the pid still names the same process
        psutil.wait_procs(tree, timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ commands

    def cli(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this stack; raises with its output if it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AirflowStackError(
                f"airflow {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
            )
        return result

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rows of a read-only query on the metadata DB, as dicts."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.metadata_uri, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ waits

    def wait_for_dag(self, dag_id: str, timeout: float = 120, fail_on_import_errors: bool = True) -> None:
        """Until the dag-processor has serialized ``dag_id``.

        Any DAG import error fails at once (with its stack trace) unless
        ``fail_on_import_errors`` is False; then import errors only go into the timeout message.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            found = self.query(
                "SELECT d.dag_id FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
                "WHERE d.dag_id = %s AND NOT d.is_stale",
                [dag_id],
            )
            if found:
                return
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors and fail_on_import_errors:
                raise AirflowStackError(
                    f"DAG import errors while waiting for {dag_id}: {errors}\n{self.diagnostics()}"
                )
            if time.monotonic() > deadline:
                raise AirflowStackError(
                    f"{dag_id} not parsed after {timeout:.0f}s; import errors: {errors}\n{self.diagnostics()}"
                )
            time.sleep(1)

    def latest_backfill_id(self, dag_id: str) -> int:
        rows = self.query("SELECT max(id) AS id FROM backfill WHERE dag_id = %s", [dag_id])
        if not rows or rows[0]["id"] is None:
            raise AirflowStackError(f"no backfill of {dag_id}")
        return int(rows[0]["id"])

    def dag_runs(self, dag_id: str, *, backfill_id: int | None = None) -> list[dict[str, Any]]:
        """``dag_run`` rows of ``dag_id`` (only those of one backfill if given), oldest first."""
        sql = (
            "SELECT id, run_id, run_type, state, backfill_id, logical_date, "
            "data_interval_start, data_interval_end FROM dag_run WHERE dag_id = %s"
        )
        params: list[Any] = [dag_id]
        if backfill_id is not None:
            sql += " AND backfill_id = %s"
            params.append(backfill_id)
        return self.query(sql + " ORDER BY logical_date NULLS LAST, id", params)

    def wait_for_runs(
        self,
        dag_id: str,
        *,
        backfill_id: int | None = None,
        expected: int | None = None,
        timeout: float = 240,
    ) -> list[dict[str, Any]]:
        """Until every matching run (at least ``expected`` of them) is success or failed.

        Returns the ``dag_run`` rows; raises :class:`AirflowStackError` with the process
        and task logs on timeout or if a stack process dies.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            runs = self.dag_runs(dag_id, backfill_id=backfill_id)
            enough = len(runs) >= (expected or 1)
            if enough and all(run["state"] in TERMINAL_RUN_STATES for run in runs):
                return runs
            if time.monotonic() > deadline:
                states = {run["run_id"]: run["state"] for run in runs}
                raise AirflowStackError(
                    f"runs of {dag_id} not finished after {timeout:.0f}s: {states}\n"
                    f"{self.task_states(dag_id)}\n{self.diagnostics(dag_id)}"
                )
            time.sleep(1)

    def task_states(self, dag_id: str, run_id: str | None = None) -> dict[str, dict[str, str]]:
        """``run_id -> {task_id: state}``."""
        sql = "SELECT run_id, task_id, state FROM task_instance WHERE dag_id = %s"
        params: list[Any] = [dag_id]
        if run_id is not None:
            sql += " AND run_id = %s"
            params.append(run_id)
        states: dict[str, dict[str, str]] = {}
        for row in self.query(sql, params):
            states.setdefault(row["run_id"], {})[row["task_id"]] = str(row["state"])
        return states

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The ``task_instance`` row of one task (state, try_number, pid, hostname...), or None.

        ``pid`` is the task process (the supervisor's child, in a process group of its own)
        the supervisor reported when the try started; its parent is the supervisor, which
        under LocalExecutor is the executor's worker process.
        """
        rows = self.query(
            "SELECT task_id, run_id, state, try_number, max_tries, pid, hostname, start_date, end_date "
            "FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = -1",
            [dag_id, run_id, task_id],
        )
        return rows[0] if rows else None

    def wait_for_running_task(
        self, dag_id: str, run_id: str, task_id: str, *, try_number: int = 1, timeout: float = 120
    ) -> dict[str, Any]:
        """Until ``task_id`` runs try ``try_number`` with a known pid; returns its row."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            row = self.task_instance(dag_id, run_id, task_id)
            if row and row["state"] == "running" and row["pid"] and row["try_number"] == try_number:
                return row
            if time.monotonic() > deadline:
                raise AirflowStackError(
                    f"{dag_id}.{task_id} of {run_id} not running try {try_number} after {timeout:.0f}s: "
                    f"{row}\n{self.task_states(dag_id, run_id)}\n{self.diagnostics(dag_id)}"
                )
            time.sleep(0.1)

    # ------------------------------------------------------------------ diagnostics

    def check_alive(self) -> None:
        """Raise if a stack process has exited."""
        dead = {name: proc.returncode for name, proc in self.processes.items() if proc.poll() is not None}
        if dead:
            raise AirflowStackError(f"Airflow processes exited: {dead}\n{self.diagnostics()}")

    def process_log(self, name: str, tail: int = 6000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def task_logs(self, dag_id: str | None = None) -> dict[str, str]:
        """Task log files under ``<airflow_home>/logs`` (optionally of one DAG), path -> text."""
        root = self.airflow_home / "logs"
        pattern = f"dag_id={dag_id}/**/*.log" if dag_id else "dag_id=*/**/*.log"
        return {
            str(path.relative_to(root)): path.read_text(errors="replace")
            for path in sorted(root.glob(pattern))
            if path.is_file()
        }

    def diagnostics(self, dag_id: str | None = None, tail: int = 6000, task_tail: int = 2500) -> str:
        """Tails of every process log and of the task logs, for an assertion message."""
        parts = [f"=== {name} (last {tail} chars)\n{self.process_log(name, tail)}" for name in self.processes]
        for path, text in self.task_logs(dag_id).items():
            parts.append(f"=== task log {path} (last {task_tail} chars)\n{text[-task_tail:]}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ internals

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        try:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stop() reaches the children too
            )
        finally:
            log.close()

    def _spawn_api_server(self) -> None:
        self._spawn(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"
        )

    def _wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=2).status_code < 500:
                    return
            if time.monotonic() > deadline:
                raise AirflowStackError(f"{url} not up after {timeout:.0f}s\n{self.diagnostics()}")
            time.sleep(0.5)


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _libpq_uri(sqlalchemy_url: str) -> str:
    scheme, rest = sqlalchemy_url.split("://", 1)
    if not scheme.startswith("postgresql"):
        raise ValueError(f"query() needs a PostgreSQL metadata DB, not {scheme}")
    return f"postgresql://{rest}"


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the process group led by ``proc`` (started with ``start_new_session``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


__all__ = ["AirflowStack", "AirflowStackError", "MetadataDatabase", "free_port"]
