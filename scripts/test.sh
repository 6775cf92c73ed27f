#!/usr/bin/env bash
# The test command: bootstrap the project-local virtualenv, then run the whole suite
# (real PostgreSQL, BigQuery emulator, HubSpot sandbox over HTTP, real Airflow runs).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/hooks -k search`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
