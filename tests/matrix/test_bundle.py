"""``make bundle``: the wheel holds the product only, and each platform's bundle is complete."""

from __future__ import annotations

import hashlib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

DAG_FILES = {"hubspot_dags.py", "hubspot_import.py", "hubspot_healthcheck.py", "hubspot_sync.yaml"}


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _read(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(suffix))
        return archive.read(name).decode()


def test_the_wheel_ships_the_product_and_its_resources_only(bundle: dict[str, Any]) -> None:
    wheel = Path(bundle["out"]) / bundle["wheel"]
    names = _names(wheel)
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"hubspot_etl"}
    assert not [n for n in names if "sandbox" in n or "devtools" in n or n.startswith("tests/")]
    for resource in (
        "hubspot_etl/resources/hubspot_sync.yaml",
        "hubspot_etl/resources/stage_mapping.yaml",
        "hubspot_etl/resources/sql/postgres/scoring_units.sql",
        "hubspot_etl/resources/sql/bigquery/scoring_units.sql",
        "hubspot_etl/airflow_plugin.py",
        "hubspot_etl/compat.py",
        "hubspot_etl/ui/static/index.html",
        "hubspot_etl/ui/static/app.js",
        "hubspot_etl/ui/static/style.css",
    ):
        assert resource in names, resource
    entry_points = _read(wheel, ".dist-info/entry_points.txt")
    assert "[apache_airflow_provider]" in entry_points and "[airflow.plugins]" in entry_points
    metadata = Parser().parsestr(_read(wheel, ".dist-info/METADATA"))
    requires = metadata.get_all("Requires-Dist")
    assert "apache-airflow<3.4,>=3.0.6" in requires
    assert any(r.startswith("orjson") for r in requires) and any(
        r.startswith("psycopg[binary]") for r in requires
    )
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == bundle["sha256"]


def test_each_platform_bundle_is_complete(bundle: dict[str, Any]) -> None:
    out = Path(bundle["out"])
    wheel = out / bundle["wheel"]
    mwaa = Path(bundle["mwaa"]["path"])
    with zipfile.ZipFile(mwaa / "plugins.zip") as archive:
        assert archive.namelist() == [wheel.name]
        assert archive.read(wheel.name) == wheel.read_bytes()
    requirements = (mwaa / "requirements.txt").read_text().splitlines()
    assert (
        '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-3.0.6/constraints-3.12.txt"'
        in requirements
    )
    assert f"/usr/local/airflow/plugins/{wheel.name}" in requirements
    composer = Path(bundle["composer"]["path"])
    assert (composer / wheel.name).read_bytes() == wheel.read_bytes()
    assert (composer / "requirements.txt").read_text().splitlines()[
        -1
    ] == f"airflow-hubspot-warehouse=={bundle['version']}"
    astro = Path(bundle["astronomer"]["path"])
    assert (astro / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    dockerfile = (astro / "Dockerfile").read_text()
    assert f"pip install --no-cache-dir /usr/local/airflow/wheels/{wheel.name}" in dockerfile
    assert dockerfile.splitlines()[2].startswith("FROM ")
    for folder in (mwaa, composer, astro):
        assert {p.name for p in (folder / "dags").iterdir()} == DAG_FILES, folder
        assert not list((folder / "dags").rglob("hubspot_etl")), "the package code never goes into dags/"
    for script in (mwaa / "deploy.sh", composer / "deploy.sh"):
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash") and "@WHEEL@" not in text, script
        assert script.stat().st_mode & 0o111
