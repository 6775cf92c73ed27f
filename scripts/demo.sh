#!/usr/bin/env bash
# The main job on embedded defaults: bootstrap the project-local virtualenv, then run
# every generated DAG through Airflow against the HubSpot sandbox and an embedded
# PostgreSQL (full load, mutations, incremental run) and print the run reports.
# Extra arguments go to the demo, e.g. `bash scripts/demo.sh --records 20000`, or
# `--schema-style fivetran` (Fivetran's HubSpot tables as views; docs/fivetran.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m hubspot_devtools.demo "$@"
