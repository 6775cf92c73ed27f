#!/usr/bin/env bash
# The test command: bootstrap the project-local virtualenv, then run the whole suite
# (real PostgreSQL, BigQuery emulator, HubSpot sandbox over HTTP, real Airflow runs).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/hooks -k search`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Two workers (pytest-xdist; HUBSPOT_ETL_TEST_WORKERS=0 runs in one process). Tests that share
# files outside their temp dirs (the Airflow-minor virtualenvs, the compose client) stay on
# one worker each (``xdist_group``, set in tests/conftest.py).
exec .venv/bin/python -m pytest -n "${HUBSPOT_ETL_TEST_WORKERS:-2}" --dist loadgroup "$@"
