#!/usr/bin/env bash
# The test command: bootstrap the project-local virtualenv, then run the whole suite
# (real PostgreSQL, BigQuery emulator, HubSpot sandbox over HTTP, real Airflow runs).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/hooks -k search`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The browser test (tests/ui) drives Debian's Chromium through Playwright; install it when
# missing and we can (root with apt-get); otherwise that test skips and says why.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "test: installing Debian's chromium for the browser test"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "test: could not install chromium; tests/ui/test_syncs_page.py will skip"
fi
# Two workers (pytest-xdist; HUBSPOT_ETL_TEST_WORKERS=0 runs in one process). Tests that share
# files outside their temp dirs (the Airflow-minor virtualenvs, the compose client) stay on
# one worker each (``xdist_group``, set in tests/conftest.py).
exec .venv/bin/python -m pytest -n "${HUBSPOT_ETL_TEST_WORKERS:-2}" --dist loadgroup "$@"
