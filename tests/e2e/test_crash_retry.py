"""A load killed with SIGKILL (as a lost worker is) and then retried leaves no duplicates,
no half-loaded part, and the same table as an uninterrupted load.

Prepare and extract run in-process through the same step functions the operators call;
the load runs in a child process that is killed mid-load, then the retry runs here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from hubspot_etl.config import parse_config
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_etl.sync import steps
from hubspot_etl.warehouse.postgres import PostgresWarehouse

from tests.e2e.conftest import TOKEN
from tests.support.oracle import check_object

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {plugins!r})
    from hubspot_etl.warehouse import records
    original = records.RowBuilder.build
    def slow_build(self, record, seq):  # widen the window in which a kill can land
        time.sleep(0.004)
        return original(self, record, seq)
    records.RowBuilder.build = slow_build
    from hubspot_etl.config import parse_config
    from hubspot_etl.sync import steps
    from hubspot_etl.warehouse.postgres import PostgresWarehouse
    args = json.load(open(sys.argv[1]))
    cfg = parse_config(args["config"]).objects[0]
    ctx = steps.StepContext(cfg=cfg, dag_id="hubspot_contacts", run_id="crash-run",
        warehouse_factory=lambda: PostgresWarehouse(args["schema"], conninfo=args["uri"]))
    print("loading", flush=True)
    steps.load(ctx, args["plan"], args["manifest"])
    print("done", flush=True)
    """
)


def loaded_parts(uri: str, schema: str) -> int:
    with psycopg.connect(uri) as conn:
        return conn.execute(f'SELECT count(*) FROM "{schema}"._hubspot_loaded_parts').fetchone()[0]


@pytest.mark.portal(contacts=1200, companies=20, deals=20, tickets=10, custom=10, extra_properties=4)
def test_killed_load_is_retried_without_duplicates(sync_env, tmp_path):
    document = {
        "objects": {"contacts": {}},
        "defaults": {
            "destination": {"schema": sync_env.schema},
            "staging_base": f"file://{tmp_path / 'staging'}",
            "part_size": 100,
            "load_during_extract": False,  # this test kills the load step; test_preload covers extract
        },
    }
    cfg = parse_config(document).objects[0]
    ctx = steps.StepContext(
        cfg=cfg,
        dag_id="hubspot_contacts",
        run_id="crash-run",
        hook_factory=lambda: HubSpotHook.from_params(token=TOKEN, host=sync_env.sandbox.url),
        warehouse_factory=lambda: PostgresWarehouse(sync_env.schema, conninfo=sync_env.pg.uri),
    )
    plan = steps.prepare(ctx)
    manifest = steps.extract(ctx, plan)
    total_parts = len(manifest["parts"])
    assert total_parts >= 10

    args = tmp_path / "args.json"
    args.write_text(
        json.dumps(
            {
                "config": document,
                "schema": sync_env.schema,
                "uri": sync_env.pg.uri,
                "plan": plan,
                "manifest": manifest,
            }
        )
    )
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(plugins=str(REPO / "plugins")))
    child = subprocess.Popen(
        [sys.executable, str(script), str(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while loaded_parts(sync_env.pg.uri, sync_env.schema) < 3:
            assert child.poll() is None, child.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the child never loaded three parts"
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL

    committed = loaded_parts(sync_env.pg.uri, sync_env.schema)
    assert 3 <= committed < total_parts, "the kill must land mid-load"
    # Every committed part is complete, and nothing of an uncommitted part is visible.
    rows_after_kill = len(sync_env.view.rows("contact"))
    assert rows_after_kill == sum(part["rows"] for part in manifest["parts"][:committed])

    retry = steps.load(ctx, plan, manifest)
    assert retry["parts_skipped"] == committed
    assert retry["parts_loaded"] == total_parts - committed
    assert loaded_parts(sync_env.pg.uri, sync_env.schema) == total_parts

    rows = sync_env.view.rows("contact")
    assert len(rows) == len({row["id"] for row in rows}) == manifest["records"]
    # A second retry is a no-op.
    again = steps.load(ctx, plan, manifest)
    assert again["parts_loaded"] == 0 and again["parts_skipped"] == total_parts
    # And the loaded rows equal HubSpot's live contacts, value for value.
    snapshot = sync_env.snapshot("contacts")
    snapshot["records"] = [r for r in snapshot["records"] if not r.get("archived")]
    snapshot["merged"] = {}
    assert check_object(sync_env.view, snapshot, "contact", "contacts") == []
