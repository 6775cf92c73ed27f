"""Parsing the DAG files imports no warehouse client, provider hook or HTTP library.

A fresh interpreter imports ``airflow.sdk`` (which every DAG file needs), then the three DAG
files with a config that uses both destinations; whatever the DAG files add to
``sys.modules`` is listed. The clients are imported when a task runs (``execute``), never at
parse time: the DAG processor parses the file every 30 s and each task process once.
(The parse *time* is measured by ``python -m bench.parse``, not here.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "google.cloud.bigquery",
    "google.cloud.storage",
    "airflow.providers.google.cloud",
    "airflow.providers.postgres",
    "airflow.providers.common.sql",
    "psycopg",
    "psycopg2",
    "requests",
    "hubspot_etl.hooks.hubspot",
    "hubspot_etl.sync.steps",
    "hubspot_etl.warehouse.postgres",
    "hubspot_etl.warehouse.bigquery",
)
SCRIPT = r"""
import json, runpy, sys
import airflow.sdk
before = set(sys.modules)
for name in ("hubspot_dags", "hubspot_import", "hubspot_healthcheck"):
    runpy.run_path(f"{sys.argv[1]}/{name}.py", run_name=name)
print("NEW " + json.dumps(sorted(set(sys.modules) - before)))
"""


def test_dag_files_import_no_client_at_parse_time(tmp_path):
    config = tmp_path / "hubspot_sync.yaml"
    config.write_text(
        "objects:\n"
        "  contacts: {associations: [companies]}\n"
        "  companies: {scoring: {enabled: true}}\n"
        "  deals: {destination: {type: bigquery, project: p1, schema: hubspot}, scoring: {enabled: true, unit: deals}}\n"
    )
    env = {**os.environ, "HUBSPOT_ETL_CONFIG": str(config)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(REPO / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("NEW ")), None)
    assert line, result.stderr[-3000:]
    new = json.loads(line[4:])
    assert "hubspot_etl.config" in new  # the DAG files did run
    leaked = [m for m in new if m.startswith(FORBIDDEN)]
    assert leaked == [], f"imported at parse time: {leaked}"
