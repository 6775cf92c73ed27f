"""``full_load_method: export``: a full run reads contacts through HubSpot's Exports API (the
extract task defers to the export trigger, run inline by ``dag.test()``), and the warehouse
equals the sandbox; after a round of changes an incremental run keeps it exact. The export's
labels column gives the contact-company pair (which has labelled types) its association types,
so no contact's companies are re-read. The product's ``export_association_cap`` is five, so the
contact given five deals (the export keeps them all: the client asks for no per-row cap) takes
the association API fallback: the one association call of the run. Real Airflow runs, real
HTTP, real PostgreSQL.
"""

from __future__ import annotations

import pytest
from hubspot_sandbox import ALL_SCOPES, SandboxConfig

from tests.e2e.conftest import TOKEN
from tests.support.oracle import warehouse_problems

CAP = 5  # above any generated contact's companies or deals: only the contact given CAP deals hits it
OBJECTS = {
    "contacts": {
        "associations": ["companies", "deals"],
        "full_load_method": "export",
        "export_poll_seconds": 1,
        "export_association_cap": CAP,  # the sandbox's, below (lifted by the request's override)
    },
    # listed, and without associations of their own: only the contacts DAG runs again below
    "companies": {},
    "deals": {},
}


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        tokens={TOKEN: list(ALL_SCOPES)},
        rate_limit_max=None,
        search_per_second=None,
        export_association_cap=CAP,
        export_polls_to_complete=2,
    )


def live_ids(env, object_type: str) -> list[int]:
    return [int(r["id"]) for r in env.snapshot(object_type)["records"] if not r.get("archived")]


def assert_exact(env) -> None:
    problems = warehouse_problems(env, owners=False)
    assert not problems, "warehouse differs from the sandbox:\n" + "\n".join(problems)


@pytest.mark.portal(contacts=60, companies=12, deals=15, tickets=0, custom=0, extra_properties=2)
def test_export_full_load_then_incremental_equals_sandbox(sync_env):
    from hubspot_devtools import local

    env = sync_env
    env.write_config(OBJECTS)
    contacts, companies = live_ids(env, "contacts"), live_ids(env, "companies")
    capped = contacts[0]
    for deal in live_ids(env, "deals")[:CAP]:  # reaches the configured cap
        env.admin("PUT", f"associations/contacts/{capped}/deals/{deal}")
    labelled = contacts[6]  # a labelled association the export must carry
    env.admin(
        "PUT", f"associations/contacts/{labelled}/companies/{companies[0]}", {"label": "Billing contact"}
    )

    for dag_id in ("hubspot_companies", "hubspot_deals"):
        assert env.report(env.run(dag_id))["mode"] == "full"
    run = env.run("hubspot_contacts")
    report = env.report(run)
    manifest = local.xcom_result(run, "extract")

    assert report["mode"] == "full"
    assert manifest["method"] == "export"
    assert report["api_calls"]["exports.start"] == 1
    assert report["api_calls"]["exports.status"] >= 2  # the trigger's polls and the resumed read
    assert "objects.list" not in manifest["api_calls"]["calls"]  # no listing of live records
    # the contacts' companies (a pair with labelled types) come with their labels from the
    # export: no re-read. The one association call re-reads the contact whose deals reached
    # export_association_cap (without it, the run's association call count would be 0).
    assert report["association_refresh"]["calls"] == 1
    assert report["api_calls"].get("associations.batch_read", 0) == 1
    # the watermark handed to incremental runs is the export's start
    assert report["watermark"] == manifest["extract_started_at"]
    assert_exact(env)
    assert len([r for r in env.view.rows("contact_deal") if r["from_id"] == capped]) >= CAP
    labels = {r["label"] for r in env.view.rows("contact_company") if r["from_id"] == labelled}
    assert {"Billing contact", None} <= labels

    # a round of changes, then an incremental run
    env.admin("PATCH", f"objects/contacts/{contacts[1]}", {"properties": {"firstname": "Renamed"}})
    created = env.admin("POST", "objects/contacts", {"properties": {"email": "export.new@example.com"}})
    env.admin("DELETE", f"objects/contacts/{contacts[2]}")
    env.admin(
        "POST",
        "objects/contacts/merge",
        {"primaryObjectId": str(contacts[3]), "objectIdToMerge": str(contacts[4])},
    )
    env.admin("PUT", f"associations/contacts/{contacts[5]}/companies/{companies[4]}")
    incremental = env.report(env.run("hubspot_contacts"))
    assert incremental["mode"] == "incremental"
    assert "exports.start" not in incremental["api_calls"]
    assert incremental["deletes"]["merged"] == 1
    assert_exact(env)
    assert int(created["id"]) in {r["id"] for r in env.view.rows("contact")}
