"""Deploy bundles: the wheel, and what Amazon MWAA, Cloud Composer 3 and Astronomer each take.

    make bundle                    # or: python -m hubspot_devtools.bundle --out dist
    python -m hubspot_devtools.bundle --airflow-version 3.0.6 --python 3.12

writes, under ``dist/``::

    airflow_hubspot_warehouse-<version>-py3-none-any.whl   the product (no sandbox, no devtools)
    mwaa/plugins.zip          the wheel, at the zip's top level (MWAA unzips it to /usr/local/airflow/plugins)
    mwaa/requirements.txt     the constraints line of the chosen Airflow and Python, then the wheel's path
    mwaa/dags/                the DAGs folder to upload (DAG files and hubspot_sync.yaml only)
    mwaa/deploy.sh            the aws commands that upload all of it
    composer/<wheel>, composer/dags/, composer/requirements.txt, composer/deploy.sh
    astronomer/               an Astro project: Dockerfile, requirements.txt, wheels/, dags/,
                              airflow_settings.yaml (local connections and the pool), .dockerignore
    MANIFEST.json             what was built, from which commit, for which versions

docs/deploy.md walks through each platform. The DAGs folder is a copy of the repository's
``dags/``: the package code never goes there, it arrives with the wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

from hubspot_devtools.airflow_matrix import REPO_ROOT, build_wheel

DAG_FILES = ("hubspot_dags.py", "hubspot_import.py", "hubspot_healthcheck.py", "hubspot_sync.yaml")
#: the Airflow the MWAA constraints line names by default (the oldest supported: what MWAA offers)
DEFAULT_AIRFLOW = "3.0.6"
#: MWAA runs Airflow 3 on Python 3.12
DEFAULT_PYTHON = "3.12"
#: an Astro Runtime 3.x image (Airflow 3); pick your Deployment's tag
DEFAULT_ASTRO_IMAGE = "astrocrpublic.azurecr.io/runtime:3.1-1"
CONSTRAINTS_URL = (
    "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
)
MWAA_PLUGINS_DIR = "/usr/local/airflow/plugins"


def copy_dags(target: Path) -> list[str]:
    """Copy the deployable DAG files (and the sync config) into ``target``; returns their names."""
    target.mkdir(parents=True, exist_ok=True)
    source = REPO_ROOT / "dags"
    copied = []
    for name in DAG_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
            copied.append(name)
    return copied


def mwaa_bundle(out: Path, wheel: Path, airflow: str, python: str) -> Path:
    """``plugins.zip`` (the wheel), ``requirements.txt`` and ``dags/`` for Amazon MWAA."""
    folder = out / "mwaa"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "plugins.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(wheel, wheel.name)
    constraints = CONSTRAINTS_URL.format(airflow=airflow, python=python)
    (folder / "requirements.txt").write_text(
        "# Amazon MWAA: installs the HubSpot package from plugins.zip, within the constraints of\n"
        f"# Airflow {airflow} on Python {python} (match your environment's versions; docs/deploy.md).\n"
        f'--constraint "{constraints}"\n'
        f"{MWAA_PLUGINS_DIR}/{wheel.name}\n"
    )
    copy_dags(folder / "dags")
    script = folder / "deploy.sh"
    script.write_text(_template("mwaa_deploy.sh"))
    script.chmod(0o755)
    return folder


def composer_bundle(out: Path, wheel: Path, version: str) -> Path:
    """The wheel, ``dags/``, ``requirements.txt`` and ``deploy.sh`` for Cloud Composer 3."""
    folder = out / "composer"
    folder.mkdir(parents=True)
    shutil.copy2(wheel, folder / wheel.name)
    copy_dags(folder / "dags")
    (folder / "requirements.txt").write_text(
        "# Cloud Composer 3: the package, from your Artifact Registry Python repository (deploy.sh).\n"
        f"airflow-hubspot-warehouse=={version}\n"
    )
    script = folder / "deploy.sh"
    script.write_text(_template("composer_deploy.sh", wheel=wheel.name))
    script.chmod(0o755)
    return folder


def _template(name: str, **values: str) -> str:
    """A file of ``templates/`` with its ``@NAME@`` placeholders filled in."""
    text = (Path(__file__).with_name("templates") / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", value)
    return text


def astronomer_bundle(out: Path, wheel: Path, image: str) -> Path:
    """An Astro project (``astro deploy`` builds it): Dockerfile, wheels/, dags/, settings."""
    folder = out / "astronomer"
    (folder / "wheels").mkdir(parents=True)
    shutil.copy2(wheel, folder / "wheels" / wheel.name)
    copy_dags(folder / "dags")
    (folder / "Dockerfile").write_text(
        f'# Astro project for the HubSpot package (docs/deploy.md, "Astronomer"). Use your Deployment\'s\n'
        f"# Astro Runtime 3.x tag (Airflow 3.0 to 3.3).\n"
        f"FROM {image}\n"
        f"RUN pip install --no-cache-dir /usr/local/airflow/wheels/{wheel.name}\n"
    )
    (folder / "requirements.txt").write_text(
        "# The HubSpot package is installed from wheels/ by the Dockerfile; add your own packages here.\n"
    )
    (folder / "packages.txt").write_text("")
    (folder / ".dockerignore").write_text(".astro\n.env\nairflow_settings.yaml\n")
    (folder / "airflow_settings.yaml").write_text(_astro_settings())
    return folder


def _astro_settings() -> str:
    return """# Local connections and pools for `astro dev start` (not deployed; on Astro use the
# Environment Manager or a secrets backend, docs/deploy.md).
airflow:
  connections:
    - conn_id: hubspot_default
      conn_type: hubspot
      conn_host: https://api.hubapi.com
      conn_password: pat-na1-REPLACE-ME
      conn_extra:
        api_version: "2026-09"
    - conn_id: hubspot_warehouse
      conn_type: postgres
      conn_host: warehouse.example.com
      conn_schema: analytics
      conn_login: airflow_hubspot
      conn_password: REPLACE-ME
      conn_port: 5432
  pools:
    - pool_name: hubspot_api
      pool_slot: 4
      pool_description: HubSpot API
  variables: []
"""


def _commit() -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    return result.stdout.strip() or None


def build_bundles(
    out: Path,
    airflow: str = DEFAULT_AIRFLOW,
    python: str = DEFAULT_PYTHON,
    astro_image: str = DEFAULT_ASTRO_IMAGE,
) -> dict:
    """Build the wheel and the three bundles into ``out`` (emptied first); returns the manifest."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    wheel = build_wheel(out)
    version = wheel.name.split("-")[1]
    manifest = {
        "wheel": wheel.name,
        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "version": version,
        "commit": _commit(),
        "mwaa": {"airflow": airflow, "python": python, "path": str(mwaa_bundle(out, wheel, airflow, python))},
        "composer": {"path": str(composer_bundle(out, wheel, version))},
        "astronomer": {"image": astro_image, "path": str(astronomer_bundle(out, wheel, astro_image))},
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist")
    parser.add_argument(
        "--airflow-version", default=DEFAULT_AIRFLOW, help="Airflow of the MWAA constraints line"
    )
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="Python of the MWAA constraints line")
    parser.add_argument(
        "--astro-image", default=DEFAULT_ASTRO_IMAGE, help="Astro Runtime image of the Dockerfile"
    )
    args = parser.parse_args(argv)
    manifest = build_bundles(args.out, args.airflow_version, args.python, args.astro_image)
    print(f"built {manifest['wheel']} and the mwaa/, composer/, astronomer/ bundles under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
