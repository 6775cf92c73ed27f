"""Fixtures for the BigQuery adapter tests: one ``bqemulator`` per session, a fresh dataset per test.

The emulator (PyPI ``bqemulator``, DuckDB-backed) speaks BigQuery's REST API; the official
``google-cloud-bigquery`` client talks to it with only the endpoint changed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from hubspot_etl.warehouse.bigquery import BigQueryWarehouse

EMULATOR_PROJECT = "hubspot-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _emulator_binary() -> str:
    """``bqemulator`` next to the running interpreter (the venv), else on PATH."""
    candidate = Path(sys.executable).with_name("bqemulator")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("bqemulator")
    if not found:
        pytest.skip("bqemulator is not installed")
    return found


def start_bq_emulator(
    tmpdir: str | os.PathLike[str], project: str = EMULATOR_PROJECT, timeout_s: float = 60.0
) -> tuple[subprocess.Popen, str, str]:
    """Start ``bqemulator`` (in-memory) on a free port; returns ``(process, url, project)``.

    The log goes to ``<tmpdir>/bqemulator.log``. Stop it with ``process.terminate()``.
    """
    port = _free_port()
    log_path = Path(tmpdir) / "bqemulator.log"
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the process for its lifetime
    process = subprocess.Popen(
        [
            _emulator_binary(),
            "start",
            "--project",
            project,
            "--rest-host",
            "127.0.0.1",
            "--rest-port",
            str(port),
            "--grpc-port",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(tmpdir),
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited ({process.returncode}): {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/bigquery/v2/projects/{project}/datasets", timeout=2) as resp:
                json.load(resp)
            return process, url, project
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"bqemulator did not answer on {url}: {log_path.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)


def emulator_client(url: str, project: str) -> bigquery.Client:
    """An official client pointed at the emulator (anonymous credentials)."""
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
    )


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(url, project)`` of the session's emulator."""
    process, url, project = start_bq_emulator(tmp_path_factory.mktemp("bqemulator"))
    yield url, project
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def bq_client(bq_emulator: tuple[str, str]) -> bigquery.Client:
    """The official BigQuery client on the emulator."""
    url, project = bq_emulator
    return emulator_client(url, project)


@pytest.fixture
def dataset_name(bq_client: bigquery.Client) -> Iterator[str]:
    """A fresh dataset name per test (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    bq_client.delete_dataset(name, delete_contents=True, not_found_ok=True)


@pytest.fixture
def bq_wh(bq_client: bigquery.Client, dataset_name: str) -> BigQueryWarehouse:
    """A BigQueryWarehouse on a fresh dataset with the metadata tables created."""
    warehouse = BigQueryWarehouse(dataset_name, client=bq_client)
    warehouse.lock_poll_s = 0.1
    warehouse.ensure_schema()
    return warehouse


@pytest.fixture
def bq_query(bq_client: bigquery.Client, dataset_name: str) -> Callable[..., list[dict]]:
    """Run GoogleSQL with ``{ds}`` replaced by the test dataset; rows as dicts."""

    def run(statement: str, params: list[Any] | None = None) -> list[dict]:
        config = bigquery.QueryJobConfig(
            query_parameters=params or [], default_dataset=f"{bq_client.project}.{dataset_name}"
        )
        job = bq_client.query(
            statement.replace("{ds}", f"`{bq_client.project}.{dataset_name}`"), job_config=config
        )
        return [dict(r.items()) for r in job.result()]

    return run


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
