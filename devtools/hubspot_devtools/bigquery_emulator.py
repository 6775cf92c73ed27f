"""A local BigQuery: the ``bqemulator`` package (DuckDB-backed, speaks BigQuery's REST API).

Used by the tests and by the demo's ``--warehouse bigquery`` switch. The official
``google-cloud-bigquery`` client talks to it with only the endpoint changed; Airflow
reaches it through a Google Cloud connection whose extras carry ``api_endpoint`` and
``anonymous`` (see ``hubspot_etl.hooks.bigquery``). Needs DuckDB's spatial extension
installed offline, which ``scripts/bootstrap.sh`` does.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PROJECT = "hubspot-local"


@dataclass
class LocalBigQuery:
    process: subprocess.Popen
    url: str
    project: str

    def client(self) -> Any:
        """An official BigQuery client on the emulator (anonymous credentials)."""
        return emulator_client(self.url, self.project)

    def airflow_connection(self) -> dict[str, Any]:
        """The emulator as an Airflow Google Cloud connection (JSON form of ``AIRFLOW_CONN_*``)."""
        return {
            "conn_type": "google_cloud_platform",
            "extra": {"project": self.project, "api_endpoint": self.url, "anonymous": True},
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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
        raise RuntimeError("bqemulator is not installed: run scripts/bootstrap.sh")
    return found


def start_bq_emulator(
    workdir: str | os.PathLike[str], project: str = DEFAULT_PROJECT, timeout_s: float = 60.0
) -> LocalBigQuery:
    """Start ``bqemulator`` (in memory) on a free port and wait until it answers.

    Its log goes to ``<workdir>/bqemulator.log``.
    """
    port = _free_port()
    log_path = Path(workdir) / "bqemulator.log"
    with open(log_path, "wb") as log:
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
            cwd=str(workdir),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited ({process.returncode}): {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/bigquery/v2/projects/{project}/datasets", timeout=2) as resp:
                json.load(resp)
            return LocalBigQuery(process, url, project)
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"bqemulator did not answer on {url}: {log_path.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)


def emulator_client(url: str, project: str) -> Any:
    """An official BigQuery client pointed at ``url`` with anonymous credentials."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=url)
    )
