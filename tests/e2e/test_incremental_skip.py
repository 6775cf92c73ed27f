"""Incremental runs skip what the warehouse already has; the deletes check runs on its cadence.

Real ``dag.test()`` runs of ``hubspot_contacts`` against the sandbox over HTTP, on PostgreSQL
(``stored_modified`` itself is tested on every warehouse in tests/contract/test_ops.py). After
each run the oracle compares the whole warehouse with the sandbox.

* a burst: many contacts modified in the same millisecond; the run after the one that read
  them searches them again (the lookback) and batch-reads none, but the one record changed
  since, and the warehouse stays exact;
* ``deletes_check`` not due: a merge into a live survivor still lands, a delete waits; on the
  run where the check is due the delete lands and the warehouse is exact again. The run report
  says whether the run checked and when deletes were last checked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.oracle import warehouse_problems

pytestmark = pytest.mark.portal(contacts=360, companies=10, deals=5, tickets=0, custom=0, owners=2)
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


def test_the_run_after_a_burst_reads_only_what_changed_since(sync_env):
    env = sync_env
    env.write_config({"contacts": {}}, lookback_minutes=60)
    env.run("hubspot_contacts")  # first run: full
    portal = env.sandbox.portal
    burst = live_ids(env)[:300]
    at = portal.clock()
    instant = int(at * 1000) + 5
    for rid in burst:
        portal.update("contacts", rid, {"firstname": f"Burst {rid}"}, updated_at=instant)

    first = env.report(env.run("hubspot_contacts"))
    assert first["mode"] == "incremental" and first["records_fetched"] == len(burst)
    assert batch_reads(first) == 3 and first["records_unchanged"] == 0
    assert_exact(env, "the run that read the burst")

    portal.update("contacts", burst[7], {"firstname": "Changed again"})
    second = env.report(env.run("hubspot_contacts"))
    assert second["records_unchanged"] == len(burst) - 1  # searched again (lookback), not read
    assert second["records_fetched"] == 1 and batch_reads(second) == 1
    assert_exact(env, "the run after the burst")

    third = env.report(env.run("hubspot_contacts"))
    assert batch_reads(third) == 0 and third["records_fetched"] == 0
    assert third["records_unchanged"] == len(burst)
    assert third["changed"] is False
    assert_exact(env, "a run with nothing changed")


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
    env.write_config({"contacts": {}}, deletes_check=YEARLY)
    full = env.report(env.run("hubspot_contacts"))
    assert full["deletes_checked"] is True
    checked_at = full["deletes_checked_at"]
    assert checked_at is not None

    gone, merged, survivor = live_ids(env)[:3]
    env.admin("DELETE", f"objects/contacts/{gone}")
    env.admin("POST", "objects/contacts/merge", {"primaryObjectId": survivor, "objectIdToMerge": merged})
    not_due = env.report(env.run("hubspot_contacts"))
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
    due = env.report(env.run("hubspot_contacts"))
    assert due["deletes_checked"] is True and due["deletes"]["archived"] == 1
    assert due["deletes_checked_at"] > checked_at
    assert rows_by_id(env)[int(gone)]["_deletion_kind"] == "archived"
    assert_exact(env, "the run where the deletes check was due")
    state = env.view.rows("_hubspot_sync_state")[0]
    assert state["deletes_checked_at"] == datetime.fromisoformat(due["deletes_checked_at"])
