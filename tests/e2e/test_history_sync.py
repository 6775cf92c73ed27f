"""Property and stage history end to end: after a full run, a round of stage changes (a
reversal among them), a delete and a merge, and an incremental run, ``deal_property_history``
and ``ticket_property_history`` equal the sandbox's history exactly, and the stage-history
tables equal the stages computed here from the sandbox's history. Real Airflow runs, real
HTTP, PostgreSQL (the all-families oracle checks history on every warehouse).

(Named ``test_history_sync``: ``tests/contract/test_history.py`` has the basename
``test_history``, and pytest's import mode needs one module per basename.)
"""

from __future__ import annotations

import math

import pytest

from tests.support.history import (
    Key,
    expected_stages,
    iso,
    readable,
    sandbox_history,
    warehouse_history,
    warehouse_stages,
)

DEAL_HISTORY = ["dealstage", "amount"]
OBJECTS = {"deals": {"history": DEAL_HISTORY}, "tickets": {"history": "all"}}


def ticket_properties(env) -> set[str]:
    return {p["name"] for p in env.api("/crm/v3/properties/tickets")["results"]}


def check(env, deal_ids: set[int], ticket_ids: set[int], earlier: dict[Key, tuple] | None = None) -> dict:
    """The warehouse's history tables against the sandbox's; returns the deals' expected history."""
    deals = sandbox_history(env, "deals", set(DEAL_HISTORY), deal_ids) | (earlier or {})
    assert warehouse_history(env, "deal_property_history") == deals
    assert warehouse_stages(env, "deal_stage_history") == expected_stages(deals, "dealstage")
    tickets = sandbox_history(env, "tickets", ticket_properties(env), ticket_ids)
    assert warehouse_history(env, "ticket_property_history") == tickets
    assert warehouse_stages(env, "ticket_stage_history") == expected_stages(tickets, "hs_pipeline_stage")
    return deals


@pytest.mark.portal(contacts=20, companies=10, deals=60, tickets=15, custom=5)
def test_history_equals_the_sandboxs(sync_env):
    # PostgreSQL here; tests/e2e/test_oracle_families.py checks history on every warehouse
    env = sync_env
    env.write_config(objects=OBJECTS)
    full = {dag: env.report(env.run(dag)) for dag in ("hubspot_deals", "hubspot_tickets")}
    deal_ids, ticket_ids = readable(env, "deals"), readable(env, "tickets")
    before = check(env, deal_ids, ticket_ids)
    deal_report = full["hubspot_deals"]["history"]
    assert deal_report["records"] == len(deal_ids) and deal_report["properties"] == 2
    # one batch read per 50 extracted records, and one per 50 archived records never read
    extracted = full["hubspot_deals"]["records_fetched"]
    archived = deal_report["archived_records"]
    # the portal's archived deal was never extracted: its history is read with archived=true
    assert archived == sum(1 for r in env.snapshot("deals")["records"] if r.get("archived")) > 0
    assert len(before) > len(deal_ids)  # every deal has a stage and an amount written, some more
    assert deal_report["calls"] == math.ceil(extracted / 50) + math.ceil(archived / 50)
    assert full["hubspot_deals"]["api_calls"]["objects.batch_read_history"] == deal_report["calls"]
    assert deal_report["rows"] == len(before) and deal_report["changed"] == len(before)
    assert full["hubspot_tickets"]["history"]["stage_rows"] > 0

    # Changes: a stage reversal (A -> B -> A), an amount, a delete and a merge.
    live = [r for r in env.snapshot("deals")["records"] if not r.get("archived")]
    first = live[0]
    stage_a = first["properties"]["dealstage"]
    stage_b = next(
        r["properties"]["dealstage"]
        for r in live
        if r["properties"].get("pipeline") == first["properties"].get("pipeline")
        and r["properties"]["dealstage"] != stage_a
    )
    user = {"sourceType": "CRM_UI", "updatedByUserId": 4242}
    env.admin("PATCH", f"objects/deals/{first['id']}", {"properties": {"dealstage": stage_b}, **user})
    env.admin("PATCH", f"objects/deals/{first['id']}", {"properties": {"dealstage": stage_a}})
    env.admin("PATCH", f"objects/deals/{live[1]['id']}", {"properties": {"amount": "777.5"}})
    deleted, survivor, absorbed = (int(live[i]["id"]) for i in (2, 3, 4))
    env.admin("DELETE", f"objects/deals/{deleted}")
    env.admin(
        "POST", "objects/deals/merge", {"primaryObjectId": str(survivor), "objectIdToMerge": str(absorbed)}
    )

    incremental = env.report(env.run("hubspot_deals"))
    env.report(env.run("hubspot_tickets"))
    assert incremental["mode"] == "incremental"
    history = incremental["history"]
    # only the records changed in the window are read: the two edited deals and the survivor
    assert history["records"] == incremental["records_fetched"] < len(deal_ids)
    assert {int(first["id"]), int(live[1]["id"]), survivor} <= set(
        rid for rid, *_ in warehouse_history(env, "deal_property_history")
    )
    assert history["calls"] == math.ceil(history["records"] / 50)
    # the merged-away deal keeps what was read before the merge (the API no longer returns it)
    kept = {k: v for k, v in before.items() if k[0] == absorbed}
    after = check(env, readable(env, "deals"), readable(env, "tickets"), earlier=kept)
    assert any(k[0] == absorbed for k in after)
    # the deleted deal keeps its history and its stage rows
    assert any(k[0] == deleted for k in warehouse_history(env, "deal_property_history"))
    assert any(r[0] == deleted for r in warehouse_stages(env, "deal_stage_history"))
    # the reversal: A, then B (entered by user 4242), then A again, open
    mine = [r for r in warehouse_stages(env, "deal_stage_history") if r[0] == int(first["id"])]
    assert [r[1] for r in mine[-3:]] == [stage_a, stage_b, stage_a]
    assert [r[4] for r in mine] == [False] * (len(mine) - 1) + [True]
    entered_b = next(r for r in env.view.rows("deal_stage_history") if iso(r["entered_at"]) == mine[-2][2])
    assert entered_b["source_type"] == "CRM_UI" and int(entered_b["updated_by_user_id"]) == 4242
