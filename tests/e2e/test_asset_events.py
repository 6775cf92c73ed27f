"""Only runs that completed and wrote a change publish the object's Asset event, with an ``extra``.

Real ``dag.test()`` runs of ``hubspot_deals`` and ``hubspot_owners``; the events are read back
from Airflow's metadata DB.
"""

from __future__ import annotations

from typing import Any

import pytest

DEALS_ASSET = "x-hubspot://postgres/hubspot_warehouse/{schema}/deals"
OWNERS_ASSET = "x-hubspot://postgres/hubspot_warehouse/{schema}/owners"

pytestmark = pytest.mark.portal(contacts=0, companies=10, deals=30, tickets=0, custom=0, owners=4)


def events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
            .all()
        )
        return [{"extra": dict(row.extra or {}), "run_id": row.source_run_id} for row in rows]


def publish_state(env: Any, dag_run: Any) -> str:
    from hubspot_devtools import local

    return local.task_states(dag_run)["publish"]


def test_deals_publish_only_complete_runs_that_wrote_a_change(sync_env):
    env = sync_env
    env.write_config({"deals": {}})
    uri = DEALS_ASSET.format(schema=env.schema)

    dry = env.run("hubspot_deals", dry_run=True)
    assert publish_state(env, dry) == "skipped" and events(uri) == []

    limited = env.run("hubspot_deals", full_load=True, limit=5)
    assert env.report(limited)["complete"] is False
    assert publish_state(env, limited) == "skipped" and events(uri) == []

    full = env.run("hubspot_deals", full_load=True)
    report = env.report(full)
    (event,) = events(uri)
    assert event["run_id"] == full.run_id
    assert event["extra"]["mode"] == "full" and event["extra"]["complete"] is True
    assert event["extra"]["records_upserted"] == report["records_upserted"] > 0
    assert event["extra"]["records_changed"] == report["records_fetched"]
    assert event["extra"]["watermark"] == report["watermark"]
    assert set(event["extra"]["deletes"]) >= {"archived", "merged", "purged", "restored"}

    quiet = env.run("hubspot_deals")
    assert env.report(quiet)["mode"] == "incremental" and env.report(quiet)["records_changed"] == 0
    assert publish_state(env, quiet) == "skipped" and len(events(uri)) == 1

    live = [r for r in env.snapshot("deals")["records"] if not r.get("archived")]
    env.admin("PATCH", f"objects/deals/{live[0]['id']}", {"properties": {"amount": "1234.5"}})
    changed = env.run("hubspot_deals")
    assert publish_state(env, changed) == "success"
    last = events(uri)[-1]
    assert last["run_id"] == changed.run_id
    assert last["extra"]["mode"] == "incremental" and last["extra"]["records_changed"] == 1

    env.admin("DELETE", f"objects/deals/{live[1]['id']}")
    archived = env.run("hubspot_deals")
    assert env.report(archived)["deletes"]["archived"] == 1
    assert events(uri)[-1]["run_id"] == archived.run_id


def test_owners_publish_only_when_an_owner_changed(sync_env):
    env = sync_env
    env.write_config({})
    uri = OWNERS_ASSET.format(schema=env.schema)
    first = env.run("hubspot_owners")
    assert [e["run_id"] for e in events(uri)] == [first.run_id]
    again = env.run("hubspot_owners")
    assert env.report(again)["records_changed"] == 0
    assert publish_state(env, again) == "skipped" and len(events(uri)) == 1
