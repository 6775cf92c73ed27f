"""Fault profiles: a full sync, a round of mutations and an incremental sync under each of
HubSpot's known misbehaviours. Afterwards the warehouse must equal the sandbox exactly: no
losses, no duplicates. Real Airflow runs, real HTTP, real PostgreSQL.

Backoff waits are shortened through the connection's extras (``backoff_base_s`` etc.) so
the profiles run in seconds; the retry logic itself is the production code path.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from hubspot_devtools import local

from tests.e2e.conftest import TOKEN
from tests.e2e.test_oracle import assert_warehouse_equals_sandbox

OBJECTS = {"contacts": {"associations": ["companies"]}, "companies": {"associations": ["contacts"]}}
DAGS = ["hubspot_contacts", "hubspot_companies", "hubspot_owners"]
FAST_RETRIES = {
    "max_retries": 25,
    "backoff_base_s": 0.02,
    "backoff_max_s": 0.3,
    "rate_limit_backoff_s": 0.2,
    "search_backoff_s": 0.2,
}

PROFILES = {
    "5xx_20_percent": {"fault_5xx_rate": 0.2},
    "429_without_retry_after": {"fault_429_rate": 0.3},
    "dropped_connections": {"drop_connection_rate": 0.15},
    "truncated_bodies": {"truncate_body_rate": 0.15},
}


def use_fast_retries(env, monkeypatch) -> None:
    conn = local.hubspot_connection(env.sandbox.url, TOKEN, **FAST_RETRIES)
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))


def run_all(env) -> dict:
    return {dag_id: env.report(env.run(dag_id)) for dag_id in DAGS}


def mutate(env) -> None:
    contacts = [int(r["id"]) for r in env.snapshot("contacts")["records"] if not r.get("archived")]
    companies = [int(r["id"]) for r in env.snapshot("companies")["records"] if not r.get("archived")]
    for contact_id in contacts[:15]:
        env.admin("PATCH", f"objects/contacts/{contact_id}", {"properties": {"jobtitle": f"t{contact_id}"}})
    env.admin("POST", "objects/contacts", {"properties": {"email": "fault@example.com"}})
    env.admin("DELETE", f"objects/contacts/{contacts[20]}")
    env.admin(
        "POST",
        "objects/contacts/merge",
        {"primaryObjectId": str(contacts[21]), "objectIdToMerge": str(contacts[22])},
    )
    env.admin("PUT", f"associations/contacts/{contacts[23]}/companies/{companies[2]}")
    env.admin("PATCH", f"objects/contacts/{contacts[23]}", {"properties": {"jobtitle": "linked"}})
    env.admin("PATCH", f"objects/companies/{companies[2]}", {"properties": {"name": "linked co"}})


@pytest.mark.portal(contacts=400, companies=60, deals=10, tickets=5, custom=5)
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_sync_survives_fault_profile(sync_env, monkeypatch, profile):
    sync_env.write_config(OBJECTS)
    use_fast_retries(sync_env, monkeypatch)
    sync_env.admin("PATCH", "config", PROFILES[profile])
    sync_env.admin("POST", "counters/reset")
    run_all(sync_env)
    mutate(sync_env)
    run_all(sync_env)
    counters = sync_env.admin("GET", "counters")
    sync_env.admin("PATCH", "config", {key: 0.0 for key in PROFILES[profile]})
    injected = sum(v for k, v in counters.items() if k.startswith("faults."))
    assert injected > 0, f"the profile injected no fault: {counters}"
    assert_warehouse_equals_sandbox(sync_env)


@pytest.mark.portal(contacts=300, companies=40, deals=10, tickets=5, custom=5)
def test_search_index_lag_loses_nothing(sync_env, monkeypatch):
    """Changes invisible to search at the first incremental run arrive with the next one:
    the next window starts a lookback before the watermark, and the lookback exceeds the lag."""
    lag = 30
    sync_env.write_config(OBJECTS, lookback_minutes=2)
    use_fast_retries(sync_env, monkeypatch)
    run_all(sync_env)
    sync_env.admin("PATCH", "config", {"search_index_lag_s": lag})
    mutate(sync_env)
    mutated_at = time.monotonic()
    first = sync_env.report(sync_env.run("hubspot_contacts"))
    assert first["records_fetched"] == 0, "search should not see changes younger than the lag yet"
    time.sleep(max(0.0, lag + 1 - (time.monotonic() - mutated_at)))
    run_all(sync_env)
    assert_warehouse_equals_sandbox(sync_env)


@pytest.mark.portal(contacts=1500, companies=50, deals=10, tickets=5, custom=5)
def test_records_changed_while_a_full_sync_pages(sync_env, monkeypatch):
    """Updates and creations during a full extract reach the warehouse by the next incremental run."""
    sync_env.write_config(OBJECTS, part_size=200)
    use_fast_retries(sync_env, monkeypatch)
    sync_env.admin("PATCH", "config", {"latency_ms": 15})
    ids = [int(r["id"]) for r in sync_env.snapshot("contacts")["records"] if not r.get("archived")]
    stop = threading.Event()
    touched: list[int] = []

    def churn() -> None:
        portal = sync_env.sandbox.portal
        step = 0
        while not stop.is_set():
            target = ids[(step * 37) % len(ids)]
            portal.update("contacts", target, {"jobtitle": f"during-{step}"})
            if step % 5 == 0:
                portal.create("contacts", {"email": f"during{step}@example.com"})
            touched.append(target)
            step += 1
            time.sleep(0.01)

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        full = sync_env.report(sync_env.run("hubspot_contacts"))
    finally:
        stop.set()
        worker.join(timeout=10)
    assert full["mode"] == "full" and len(touched) > 20
    sync_env.admin("PATCH", "config", {"latency_ms": 0})
    run_all(sync_env)
    assert_warehouse_equals_sandbox(sync_env)
