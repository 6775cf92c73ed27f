"""Oracle: after a full run, a round of mutations and an incremental run, every warehouse (PostgreSQL and the BigQuery emulator)
table equals the sandbox's state: records and property values, deletes by kind, merges,
associations, pipelines, stages and owners. Real Airflow runs, real HTTP, real PostgreSQL.
"""

from __future__ import annotations

import pytest

from tests.support.oracle import warehouse_problems

OBJECT_DAGS = [
    "hubspot_contacts",
    "hubspot_companies",
    "hubspot_deals",
    "hubspot_tickets",
    "hubspot_services",
]


def run_all(env, **params):
    reports = {}
    for dag_id in [*OBJECT_DAGS, "hubspot_owners"]:
        reports[dag_id] = env.report(env.run(dag_id, **params))
    return reports


def assert_warehouse_equals_sandbox(env) -> None:
    problems = warehouse_problems(env)
    assert not problems, "warehouse differs from the sandbox:\n" + "\n".join(problems)


def mutate(env) -> dict:
    """A realistic round of changes between two runs."""
    contacts = [r for r in env.snapshot("contacts")["records"] if not r.get("archived")]
    companies = [r for r in env.snapshot("companies")["records"] if not r.get("archived")]
    deals = [r for r in env.snapshot("deals")["records"] if not r.get("archived")]
    c = [int(r["id"]) for r in contacts]
    co = [int(r["id"]) for r in companies]
    d = [int(r["id"]) for r in deals]
    env.admin(
        "POST",
        "properties/contacts",
        {"name": "favourite_colour", "label": "Favourite colour", "type": "string", "fieldType": "text"},
    )
    env.admin(
        "PATCH",
        f"objects/contacts/{c[0]}",
        {"properties": {"firstname": "Renamed", "favourite_colour": "teal"}},
    )
    env.admin("PATCH", f"objects/deals/{d[0]}", {"properties": {"amount": "12345.67"}})
    created = env.admin(
        "POST", "objects/contacts", {"properties": {"email": "new.person@example.com", "firstname": "New"}}
    )
    env.admin("DELETE", f"objects/contacts/{c[1]}")
    env.admin("DELETE", f"objects/companies/{co[0]}")
    env.admin("POST", "objects/contacts/merge", {"primaryObjectId": str(c[2]), "objectIdToMerge": str(c[3])})
    # Association-only changes: HubSpot bumps no modified date for them, and nothing else is
    # touched; the incremental run's association refresh must catch them (README, "Associations")
    env.admin("PUT", f"associations/contacts/{c[4]}/companies/{co[1]}")
    removed = next(
        a
        for a in env.snapshot("contacts")["associations"]
        if a["fromId"] == str(c[5]) and a["toType"] == "companies"
    )
    env.admin("DELETE", f"associations/contacts/{c[5]}/companies/{removed['toId']}")
    label = env.admin(
        "POST", "association-labels/deals/companies", {"label": "Reseller", "inverseLabel": "Resold deal"}
    )
    relabelled = next(a for a in env.snapshot("deals")["associations"] if a["toType"] == "companies")
    env.admin(
        "PUT",
        f"associations/deals/{relabelled['fromId']}/companies/{relabelled['toId']}",
        {"typeId": label["typeId"]},
    )
    return {"created": created, "archived_contact": c[1], "merged": (c[2], c[3])}


@pytest.mark.portal(contacts=240, companies=50, deals=80, tickets=40, custom=30)
@pytest.mark.parametrize("warehouse_kind", ["postgres", "bigquery", "snowflake"])
def test_full_mutate_incremental_equals_sandbox(sync_env, warehouse_kind):
    full = run_all(sync_env)
    assert {r["mode"] for r in full.values() if r["object_name"] != "owners"} == {"full"}
    assert_warehouse_equals_sandbox(sync_env)

    changes = mutate(sync_env)
    incremental = run_all(sync_env)
    contacts_report = incremental["hubspot_contacts"]
    assert contacts_report["mode"] == "incremental"
    assert contacts_report["deletes"]["merged"] == 1
    assert contacts_report["deletes"]["archived"] >= 1
    assert contacts_report["records_fetched"] < full["hubspot_contacts"]["records_fetched"]
    assert_warehouse_equals_sandbox(sync_env)

    # the new property became a column, with its value
    rows = {r["id"]: r for r in sync_env.view.rows("contact")}
    assert "favourite_colour" in next(iter(rows.values()))
    assert int(changes["created"]["id"]) in rows


def test_full_reconciliation_classifies_purged_records(sync_env):
    run_all(sync_env)
    # A record the warehouse has but HubSpot no longer knows at all (e.g. past the 90-day bin).
    with __import__("psycopg").connect(sync_env.pg.uri) as conn:
        conn.execute(
            f"INSERT INTO \"{sync_env.schema}\".contact (id, _synced_at) VALUES (999999999, now() - interval '1 day')"
        )
    report = sync_env.report(sync_env.run("hubspot_contacts", full_load=True))
    assert report["deletes"]["purged"] == 1
    row = [r for r in sync_env.view.rows("contact") if r["id"] == 999999999][0]
    assert row["_is_deleted"] and row["_deletion_kind"] == "purged"
