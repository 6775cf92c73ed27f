"""Two runs of one object never interleave, and a full reconciliation never marks a record
loaded meanwhile as deleted. Runs go through the real step functions and real Airflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hubspot_devtools import local
from hubspot_etl.sync import steps
from hubspot_etl.warehouse.base import WarehouseLockError


def step_context(env, run_id: str, **defaults) -> steps.StepContext:
    return env.step_context(run_id, **defaults)


@pytest.mark.portal(contacts=200, companies=20, deals=10, tickets=5, custom=5)
def test_second_run_fails_clearly_while_the_first_holds_the_object(sync_env):
    sync_env.write_config({"contacts": {}}, lease_wait_seconds=0)
    first = step_context(sync_env, "scheduled__first")
    plan = steps.prepare(first)  # the first run is now between prepare and finalize

    dag_run = sync_env.run("hubspot_contacts", expect="failed")  # a manual trigger meanwhile
    assert local.task_states(dag_run)["prepare"] == "failed"
    assert local.task_states(dag_run)["extract"] == "upstream_failed"
    with pytest.raises(WarehouseLockError, match="another sync of 'contacts' is running.*scheduled__first"):
        steps.prepare(step_context(sync_env, "manual__second"))
    assert sync_env.view.rows("contact") == [], "the second run must not have written anything"

    # The first run completes undisturbed; then the object is free again.
    manifest = steps.extract(first, plan)
    loaded = steps.load(first, plan, manifest)
    linked = steps.associations(first, plan, manifest)
    reconciled = steps.reconcile(first, plan, manifest)
    steps.finalize(first, plan, manifest, loaded, linked, reconciled)
    assert sync_env.report(sync_env.run("hubspot_contacts"))["mode"] == "incremental"


@pytest.mark.portal(contacts=200, companies=20, deals=10, tickets=5, custom=5)
def test_a_run_that_lost_its_lease_cannot_write(sync_env):
    slow = step_context(sync_env, "slow-run")
    plan = steps.prepare(slow)
    # the slow run's lease expires and another run takes the object over
    with psycopg.connect(sync_env.pg.uri) as conn:
        conn.execute(
            f"UPDATE \"{sync_env.schema}\"._hubspot_run_leases SET expires_at = now() - interval '1 second'"
        )
    other = step_context(sync_env, "other-run")
    steps.prepare(other)
    manifest = steps.extract(slow, plan)  # its parts cannot be loaded during extract either
    assert manifest["parts"] and manifest["preloaded"] == {}
    with pytest.raises(WarehouseLockError, match="other-run"):
        steps.load(slow, plan, manifest)
    assert sync_env.view.rows("contact") == []


@pytest.mark.portal(contacts=200, companies=20, deals=10, tickets=5, custom=5)
def test_full_reconciliation_never_deletes_a_record_loaded_after_its_listing(sync_env):
    """Defence in depth behind the lease: purge candidates are only rows synced before the
    full extract began, so a record that arrived meanwhile is never classified purged."""
    full = step_context(sync_env, "full-run")
    plan = steps.prepare(full)
    manifest = steps.extract(full, plan)  # HubSpot listed as of now
    created = sync_env.admin("POST", "objects/contacts", {"properties": {"email": "late@example.com"}})
    late_id = int(created["id"])
    # a concurrent writer (e.g. a run that took over an expired lease) loads the new record
    with psycopg.connect(sync_env.pg.uri) as conn:
        conn.execute(
            f'INSERT INTO "{sync_env.schema}".contact (id, _synced_at, _updated_at) VALUES (%s, %s, %s)',
            [late_id, datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=1)],
        )
    loaded = steps.load(full, plan, manifest)
    linked = steps.associations(full, plan, manifest)
    reconciled = steps.reconcile(full, plan, manifest)
    assert reconciled["purge_check"] == "done"
    assert reconciled["deletes"]["purged"] == 0
    row = next(r for r in sync_env.view.rows("contact") if r["id"] == late_id)
    assert row["_is_deleted"] is False
    steps.finalize(full, plan, manifest, loaded, linked, reconciled)
