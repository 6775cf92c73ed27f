"""Oracle over every object family: engagements (calls, emails, meetings, notes, tasks,
communications), commerce (products, line items, quotes, invoices), leads, goals and the
object-library objects a portal activated (services, appointments, courses, listings), beside contacts,
companies, deals and tickets. After a full run, a round of changes in every family (updates,
a create with an association, deletes, a restore, stage and quantity changes) and an
incremental run, every table equals the sandbox: records and values, deletes, associations,
pipelines, owners, and the property- and stage-history tables. Real Airflow runs, real HTTP,
every warehouse.
"""

from __future__ import annotations

import pytest

from tests.support.history import (
    expected_stages,
    readable,
    sandbox_history,
    warehouse_history,
    warehouse_stages,
)
from tests.support.oracle import warehouse_problems

DEAL_HISTORY = ["dealstage", "amount"]
LINE_ITEM_HISTORY = ["quantity", "price"]
FAMILIES: dict[str, dict] = {
    "contacts": {"associations": ["companies"]},
    "companies": {},
    "deals": {"associations": ["companies"], "history": DEAL_HISTORY},
    "tickets": {},
    "calls": {"associations": ["contacts", "companies", "deals"], "history": "all"},
    "emails": {"associations": ["contacts", "deals"]},
    "meetings": {"associations": ["contacts", "companies"]},
    "notes": {"associations": ["contacts", "tickets"]},
    "tasks": {"associations": ["contacts"]},
    "communications": {"associations": ["contacts"]},
    "products": {},
    "line_items": {"associations": ["deals"], "history": LINE_ITEM_HISTORY},
    "quotes": {"associations": ["deals"]},
    "invoices": {"associations": ["contacts"]},
    "leads": {"associations": ["contacts"]},
    "goals": {},
    # object-library objects: by objectTypeId (a bare name may also be a custom object's)
    "hubspot_services": {"object_type": "0-162", "associations": ["contacts"]},
    "appointments": {"object_type": "0-421", "associations": ["contacts"]},
    "courses": {"object_type": "0-410"},
    "listings": {"object_type": "0-420"},
}
SIZES = dict(
    contacts=30,
    companies=10,
    deals=20,
    tickets=6,
    custom=0,
    calls=12,
    emails=10,
    meetings=6,
    notes=8,
    tasks=6,
    communications=4,
    products=5,
    line_items=12,
    quotes=4,
    invoices=4,
    leads=4,
    goals=3,
    object_library={"services": 3, "appointments": 4, "courses": 3, "listings": 3},
)


def run_all(env, **params) -> dict[str, dict]:
    return {key: env.report(env.run(f"hubspot_{key}", **params)) for key in [*FAMILIES, "owners"]}


def live(env, object_type: str) -> list[dict]:
    return [r for r in env.snapshot(object_type)["records"] if not r.get("archived")]


def mutate(env) -> dict[str, int]:
    """One round of changes touching every family."""
    calls, notes, meetings = live(env, "calls"), live(env, "notes"), live(env, "meetings")
    contacts, deals, items = live(env, "contacts"), live(env, "deals"), live(env, "line_items")
    by_user = {"sourceType": "CRM_UI", "updatedByUserId": 7}
    env.admin(
        "PATCH",
        f"objects/calls/{calls[0]['id']}",
        {"properties": {"hs_call_title": "Renewal call"}, **by_user},
    )
    env.admin(
        "PATCH",
        f"objects/emails/{live(env, 'emails')[0]['id']}",
        {"properties": {"hs_email_subject": "Re: pricing"}},
    )
    env.admin("DELETE", f"objects/notes/{notes[0]['id']}")
    env.admin("DELETE", f"objects/meetings/{meetings[0]['id']}")
    env.admin("POST", f"objects/meetings/{meetings[0]['id']}/restore")
    task = env.admin(
        "POST",
        "objects/tasks",
        {"properties": {"hs_task_subject": "Send the contract", "hs_timestamp": "2026-11-30T10:00:00.000Z"}},
    )
    env.admin("PUT", f"associations/tasks/{task['id']}/contacts/{contacts[0]['id']}")
    env.admin(
        "PATCH",
        f"objects/communications/{live(env, 'communications')[0]['id']}",
        {"properties": {"hs_communication_body": "Thanks!"}},
    )
    env.admin("DELETE", f"objects/products/{live(env, 'products')[0]['id']}")
    env.admin("PATCH", f"objects/line_items/{items[0]['id']}", {"properties": {"quantity": "7"}})
    env.admin("PATCH", f"objects/line_items/{items[1]['id']}", {"properties": {"price": "19.99"}, **by_user})
    env.admin(
        "PATCH", f"objects/quotes/{live(env, 'quotes')[0]['id']}", {"properties": {"hs_title": "Quote v2"}}
    )
    env.admin("DELETE", f"objects/invoices/{live(env, 'invoices')[0]['id']}")
    env.admin(
        "PATCH", f"objects/leads/{live(env, 'leads')[0]['id']}", {"properties": {"hs_lead_name": "Warm lead"}}
    )
    env.admin("DELETE", f"objects/goals/{live(env, 'goals')[0]['id']}")
    env.admin(
        "PATCH",
        f"objects/appointments/{live(env, 'appointments')[0]['id']}",
        {"properties": {"hs_appointment_name": "Moved"}},
    )
    env.admin("DELETE", f"objects/listings/{live(env, 'listings')[0]['id']}")
    services = live(env, "0-162")  # HubSpot's Services (a bare "services" is the custom object)
    env.admin(
        "PATCH", f"objects/0-162/{services[0]['id']}", {"properties": {"hs_name": "Onboarding, extended"}}
    )
    # a stage reversal on a deal (A -> B -> A) and an amount change on another
    first = deals[0]
    stage_a = first["properties"]["dealstage"]
    stage_b = next(
        r["properties"]["dealstage"]
        for r in deals
        if r["properties"].get("pipeline") == first["properties"].get("pipeline")
        and r["properties"]["dealstage"] != stage_a
    )
    env.admin("PATCH", f"objects/deals/{first['id']}", {"properties": {"dealstage": stage_b}, **by_user})
    env.admin("PATCH", f"objects/deals/{first['id']}", {"properties": {"dealstage": stage_a}})
    env.admin("PATCH", f"objects/deals/{deals[1]['id']}", {"properties": {"amount": "4321"}})
    # a deleted deal and a merged-away one keep the history read before
    env.admin("DELETE", f"objects/deals/{deals[2]['id']}")
    env.admin(
        "POST", "objects/deals/merge", {"primaryObjectId": deals[3]["id"], "objectIdToMerge": deals[4]["id"]}
    )
    return {
        "task": int(task["id"]),
        "reversed_deal": int(first["id"]),
        "deleted_deal": int(deals[2]["id"]),
        "merged_deal": int(deals[4]["id"]),
    }


def property_names(env, object_type: str) -> set[str]:
    return {p["name"] for p in env.api(f"/crm/v3/properties/{object_type}")["results"]}


def history_problems(env) -> list[str]:
    """The three history configurations (a list, a list with a stage property, ``all``)
    against the sandbox's history of every record the API still returns."""
    problems = []
    for object_type, table, properties in (
        ("deals", "deal", set(DEAL_HISTORY)),
        ("line_items", "line_item", set(LINE_ITEM_HISTORY)),
        ("calls", "call", property_names(env, "calls")),
    ):
        ids = readable(env, object_type)  # a merged-away record is not: its rows are checked below
        expected = sandbox_history(env, object_type, properties, ids)
        actual = {k: v for k, v in warehouse_history(env, f"{table}_property_history").items() if k[0] in ids}
        if actual != expected:
            missing, extra = expected.keys() - actual.keys(), actual.keys() - expected.keys()
            changed = [k for k in expected.keys() & actual.keys() if expected[k] != actual[k]]
            problems.append(
                f"{table}_property_history: {len(missing)} missing {sorted(missing)[:3]}, "
                f"{len(extra)} extra {sorted(extra)[:3]}, {len(changed)} differ {sorted(changed)[:3]}"
            )
        stages = [r for r in warehouse_stages(env, "deal_stage_history") if r[0] in ids]
        if object_type == "deals" and stages != expected_stages(expected, "dealstage"):
            problems.append("deal_stage_history differs from the stages of the sandbox's dealstage history")
    return problems


def assert_equal_to_sandbox(env) -> None:
    problems = warehouse_problems(env) + history_problems(env)
    assert not problems, "warehouse differs from the sandbox:\n" + "\n".join(problems)


@pytest.mark.portal(**SIZES)
@pytest.mark.parametrize("warehouse_kind", ["postgres", "bigquery", "snowflake"])
def test_every_object_family_equals_sandbox(sync_env, warehouse_kind):
    env = sync_env
    env.write_config(objects=FAMILIES)
    full = run_all(env)
    for key in FAMILIES:
        assert full[key]["mode"] == "full", key
        assert full[key]["records_upserted"] > 0, f"{key}: nothing synced"
    assert_equal_to_sandbox(env)

    changes = mutate(env)
    incremental = run_all(env)
    assert incremental["calls"]["mode"] == "incremental"
    assert incremental["calls"]["records_fetched"] < full["calls"]["records_fetched"]
    assert incremental["notes"]["deletes"]["archived"] >= 1
    assert_equal_to_sandbox(env)

    # the created task and its association arrived; the reversed deal is in its first stage again
    assert changes["task"] in {r["id"] for r in env.view.rows("task")}
    assert any(r["from_id"] == changes["task"] for r in env.view.rows("task_contact")), (
        "the new task's association is missing"
    )
    kept = {rid for rid, *_ in warehouse_history(env, "deal_property_history")}
    assert {changes["deleted_deal"], changes["merged_deal"]} <= kept
    assert incremental["deals"]["deletes"]["merged"] == 1
    open_rows = [
        r for r in warehouse_stages(env, "deal_stage_history") if r[0] == changes["reversed_deal"] and r[4]
    ]
    assert len(open_rows) == 1
