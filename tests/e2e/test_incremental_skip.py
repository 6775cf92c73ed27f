"""Incremental runs skip what the warehouse already has; the deletes check runs on its cadence.

Syncs of contacts through the step functions (what the DAG's tasks run) against the sandbox
over HTTP, on PostgreSQL. ``stored_modified`` itself is tested on every warehouse in
tests/contract/test_ops.py. After the runs the oracle compares the warehouse with the sandbox.

* a burst: many contacts modified in the same millisecond; the run after the one that read
  them searches them again (the lookback) and batch-reads none, but the one record changed
  since, and the warehouse stays exact;
* a stale search hit (the index lags a newer write) is skipped, and read by the run after the
  index caught up;
* ``deletes_check`` not due: a merge into a live survivor still lands, a delete waits; on the
  run where the check is due the delete lands and the warehouse is exact again. The run report
  says whether the run checked and when deletes were last checked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import pytest
from hubspot_etl.sync import steps
from psycopg import sql

from tests.support.oracle import warehouse_problems

pytestmark = pytest.mark.portal(contacts=240, companies=10, deals=5, tickets=0, custom=0, owners=2)
YEARLY = "0 0 1 1 *"  # a cadence that is never due again within a test


def assert_exact(env: Any, when: str) -> None:
    problems = warehouse_problems(env, owners=False)
    assert not problems, f"after {when}, the warehouse differs from the sandbox:\n" + "\n".join(problems)


def live_ids(env: Any) -> list[str]:
    return [r["id"] for r in env.snapshot("contacts")["records"] if not r.get("archived")]


def batch_reads(report: dict[str, Any]) -> int:
    return int(report["api_calls"].get("objects.batch_read", 0))


def rows_by_id(env: Any) -> dict[int, dict[str, Any]]:
    return {int(r["id"]): r for r in env.view.rows("contact")}


def run_steps(env: Any, run: int, **defaults: Any) -> dict[str, Any]:
    """One sync of contacts through the step functions (what the DAG's tasks call, with their
    XComs as dicts; faster than a DAG run); returns the run report."""
    ctx = env.step_context(f"manual__{run}", lookback_minutes=60, **defaults)
    plan = steps.prepare(ctx)
    manifest = steps.extract(ctx, plan)
    loaded = steps.load(ctx, plan, manifest)
    linked = steps.associations(ctx, plan, manifest)
    reconciled = steps.reconcile(ctx, plan, manifest)
    return steps.finalize(ctx, plan, manifest, loaded, linked, reconciled)


def test_the_run_after_a_burst_reads_only_what_changed_since(sync_env):
    env = sync_env
    env.objects = {"contacts": {}}  # what the oracle compares
    assert run_steps(env, 1)["mode"] == "full"
    portal = env.sandbox.portal
    burst = live_ids(env)[:200]
    instant = int(portal.clock() * 1000) + 5
    for rid in burst:
        portal.update("contacts", rid, {"firstname": f"Burst {rid}"}, updated_at=instant)

    first = run_steps(env, 2)
    assert first["mode"] == "incremental" and first["records_fetched"] == len(burst)
    assert batch_reads(first) == 2 and first["records_unchanged"] == 0
    assert_exact(env, "the run that read the burst")

    portal.update("contacts", burst[7], {"firstname": "Changed again"})
    second = run_steps(env, 3)
    assert second["records_unchanged"] == len(burst) - 1  # searched again (lookback), not read
    assert second["records_fetched"] == 1 and batch_reads(second) == 1
    assert_exact(env, "the run after the burst")


def set_deletes_checked_at(env: Any, value: datetime) -> None:
    """What the passing of time does to the cadence: the last check was ``value``."""
    with psycopg.connect(env.pg.uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.{} SET deletes_checked_at = %s").format(
                sql.Identifier(env.schema), sql.Identifier("_hubspot_sync_state")
            ),
            (value,),
        )


def test_a_delete_waits_for_the_run_where_the_deletes_check_is_due(sync_env):
    env = sync_env
    env.objects = {"contacts": {}}  # what the oracle compares
    full = run_steps(env, 1, deletes_check=YEARLY)
    assert full["deletes_checked"] is True
    checked_at = full["deletes_checked_at"]
    assert checked_at is not None

    gone, merged, survivor = live_ids(env)[:3]
    env.admin("DELETE", f"objects/contacts/{gone}")
    env.admin("POST", "objects/contacts/merge", {"primaryObjectId": survivor, "objectIdToMerge": merged})
    not_due = run_steps(env, 2, deletes_check=YEARLY)
    assert not_due["deletes_checked"] is False and not_due["deletes_checked_at"] == checked_at
    assert "objects.list" not in not_due["api_calls"]  # no archived listing
    rows = rows_by_id(env)
    assert (rows[int(merged)]["_deletion_kind"], rows[int(merged)]["merged_into_id"]) == (
        "merged",
        int(survivor),
    )
    assert rows[int(gone)]["_is_deleted"] is False  # waits for the check
    problems = warehouse_problems(env, owners=False)
    assert problems and all(gone in p for p in problems), problems

    set_deletes_checked_at(env, datetime.fromisoformat(checked_at).replace(year=2000))
    due = run_steps(env, 3, deletes_check=YEARLY)
    assert due["deletes_checked"] is True and due["deletes"]["archived"] == 1
    assert due["deletes_checked_at"] > checked_at
    assert rows_by_id(env)[int(gone)]["_deletion_kind"] == "archived"
    assert_exact(env, "the run where the deletes check was due")
    state = env.view.rows("_hubspot_sync_state")[0]
    assert state["deletes_checked_at"] == datetime.fromisoformat(due["deletes_checked_at"])
    stored = {r["run_id"]: r["details"] for r in env.view.rows("_hubspot_run_report")}
    assert stored["manual__2"]["deletes_checked"] is False
    assert stored["manual__2"]["deletes_checked_at"] == checked_at


def index_lags_behind(env: Any, rid: str, lagging: bool) -> None:
    """The sandbox's search index shows ``rid`` as before its last write (``lagging``), or
    as it is: the record's current version counts as indexed from never, or from now. The
    sandbox serves search from indexed versions only while a lag is configured."""
    portal = env.sandbox.portal
    record = portal._record(portal.object_type("contacts"), rid)
    record.valid_from = float("inf") if lagging else portal.clock() - 1


def test_a_stale_search_hit_is_skipped_and_read_once_the_index_catches_up(sync_env):
    """Search shows the version the warehouse holds while the index lags a newer write: the
    hit is skipped, as a hit the index had not caught up with at all would be missed, and the
    lookback reads it on the run after the index caught up."""
    env = sync_env
    env.objects = {"contacts": {}}  # what the oracle compares
    assert run_steps(env, 1)["mode"] == "full"  # the list API, no index involved
    env.admin("PATCH", "config", {"search_index_lag_s": 0.001})
    rid = live_ids(env)[0]
    env.admin("PATCH", f"objects/contacts/{rid}", {"properties": {"firstname": "First"}})
    first = run_steps(env, 2)
    assert first["records_fetched"] == 1 and rows_by_id(env)[int(rid)]["firstname"] == "First"

    env.admin("PATCH", f"objects/contacts/{rid}", {"properties": {"firstname": "Second"}})
    index_lags_behind(env, rid, lagging=True)
    stale = run_steps(env, 3)  # the index still shows "First"'s date
    assert stale["records_unchanged"] == 1 and stale["records_fetched"] == 0

    index_lags_behind(env, rid, lagging=False)
    caught_up = run_steps(env, 4)
    assert caught_up["records_fetched"] == 1 and rows_by_id(env)[int(rid)]["firstname"] == "Second"
    assert_exact(env, "the run after the index caught up")
