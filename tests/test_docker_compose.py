"""docker-compose.yaml parses with the docker-compose 1.29 client and has the stack it promises.

No Docker engine is needed: ``docker-compose config`` only reads and validates the file.
The client is installed once into ``.local/compose-venv`` (it needs PyYAML 5, which cannot
live in the project's virtualenv, and Cython < 3 to build it).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TOOL_VENV = REPO / ".local" / "compose-venv"


@pytest.fixture(scope="module")
def compose_cli() -> Path:
    binary = TOOL_VENV / "bin" / "docker-compose"
    TOOL_VENV.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time: pytest-xdist workers (or two checkouts' runs) may both get here.
    with open(TOOL_VENV.parent / "compose-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            _build_compose_venv()
    return binary


def _build_compose_venv() -> None:
    """Install the docker-compose 1.29 client into its own virtualenv (PyYAML 5, Cython < 3)."""
    venv.create(TOOL_VENV, with_pip=True)
    constraints = REPO / ".local" / "compose-constraints.txt"
    constraints.write_text("cython<3\n")
    env = {**os.environ, "PIP_CONSTRAINT": str(constraints)}
    subprocess.run(
        [str(TOOL_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "docker-compose==1.29.2"],
        check=True,
        env=env,
        timeout=600,
    )


def test_compose_config_parses(compose_cli):
    result = subprocess.run(
        [str(compose_cli), "-f", str(REPO / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "WAREHOUSE_"))},
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    services = resolved["services"]
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-metadata",
        "warehouse",
        "hubspot-sandbox",
    ):
        assert name in services, name
    scheduler = services["airflow-scheduler"]
    mounts = {
        volume.split(":")[1] if isinstance(volume, str) else volume["target"]
        for volume in scheduler["volumes"]
    }
    assert {"/opt/airflow/dags", "/opt/airflow/plugins"} <= mounts
    assert "/opt/airflow/include" not in mounts  # the scoring SQL ships inside the package
    env = scheduler["environment"]
    hubspot_conn = json.loads(env["AIRFLOW_CONN_HUBSPOT_DEFAULT"])
    assert hubspot_conn["conn_type"] == "hubspot" and "hubspot-sandbox" in hubspot_conn["host"]
    assert env["AIRFLOW_CONN_HUBSPOT_WAREHOUSE"].startswith("postgresql://")
    assert "hubspot_sandbox" in " ".join(services["hubspot-sandbox"]["entrypoint"])


def test_compose_interpolates_user_connections(compose_cli):
    env = {**os.environ, "WAREHOUSE_CONN": "postgresql://u:p@db.example.com:5432/analytics"}
    result = subprocess.run(
        [str(compose_cli), "-f", str(REPO / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["airflow-scheduler"]["environment"]["AIRFLOW_CONN_HUBSPOT_WAREHOUSE"].endswith(
        "/analytics"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
