"""The Fivetran-mode contract, per warehouse: after a full sync, mutations (updates, stage
changes, deletes, merges, a restore) and incremental syncs, the views' schema holds exactly the
Fivetran tables of the facts file with their columns and types, the keys the dbt package tests
are never NULL, the ids join without casts, history rows are unique, deleted and merged records
are flagged, and sampled values equal the sandbox's.

The sync runs in-process through ``hubspot_etl.sync.steps``, as the DAG's tasks do; the
sandbox serves HubSpot over real HTTP; the warehouses are real PostgreSQL and the emulators.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from tests.fivetran.conftest import KINDS, FivetranEnv, engagements_modelled, history_supported
from tests.fivetran.expected import FAMILIES, NOT_NULL, TABLES

ENGAGEMENT_TYPE_VALUES = {
    "NOTE",
    "TASK",
    "CALL",
    "MEETING",
    "EMAIL",
    "INCOMING_EMAIL",
    "FORWARDED_EMAIL",
    "COMMUNICATION",
}


def live(env: FivetranEnv, object_type: str) -> list[dict[str, Any]]:
    return [r for r in env.snapshot(object_type)["records"] if not r.get("archived")]


# ---------------------------------------------------------------------- checks
def schema_problems(env: FivetranEnv) -> list[str]:
    problems = []
    relations = env.views()
    extra = sorted(set(relations) - set(TABLES))
    missing = sorted(set(TABLES) - set(relations))
    if extra or missing:
        problems.append(f"views' schema: missing {missing}, not Fivetran's {extra}")
    for table, columns in TABLES.items():
        if table not in relations:
            continue
        if relations[table] != "view":
            problems.append(f"{table}: a {relations[table]}, not a view")
        found = env.families(table)
        for column, family in columns.items():
            if column not in found:
                problems.append(f"{table}.{column}: missing")
            elif found[column] not in FAMILIES[family]:
                problems.append(f"{table}.{column}: {found[column]}, wanted {family}")
        odd = [c for c in found if c not in columns and not c.startswith("property_")]
        if odd:
            problems.append(f"{table}: columns Fivetran does not have: {odd}")
    return problems


def null_key_problems(env: FivetranEnv) -> list[str]:
    problems = []
    for table, keys in NOT_NULL.items():
        cond = " OR ".join(f"{k} IS NULL" for k in keys)
        n = env.query(f"SELECT COUNT(*) AS n FROM {{{table}}} WHERE {cond}")[0]["n"]
        if n:
            problems.append(f"{table}: {n} rows with a NULL in {keys}")
    return problems


def count(env: FivetranEnv, statement: str) -> int:
    return int(env.query(statement)[0]["n"])


def assert_joins_without_casts(env: FivetranEnv) -> None:
    pairs = count(env, "SELECT COUNT(*) AS n FROM {deal_contact}")
    assert pairs > 0
    joined = count(
        env, "SELECT COUNT(*) AS n FROM {deal_contact} dc JOIN {contact} c ON c.id = dc.contact_id"
    )
    assert joined == pairs, "every deal_contact row joins its contact"
    joined = count(
        env,
        "SELECT COUNT(*) AS n FROM {deal_company} dc JOIN {company} c ON c.id = dc.company_id "
        "JOIN {deal} d ON d.deal_id = dc.deal_id",
    )
    assert joined == count(env, "SELECT COUNT(*) AS n FROM {deal_company}") > 0
    owned = count(env, "SELECT COUNT(*) AS n FROM {deal} WHERE owner_id IS NOT NULL")
    assert owned > 0
    assert count(env, "SELECT COUNT(*) AS n FROM {deal} d JOIN {owner} o ON o.owner_id = d.owner_id") == owned
    staged = count(env, "SELECT COUNT(*) AS n FROM {deal} WHERE deal_pipeline_stage_id IS NOT NULL")
    assert staged > 0
    assert (
        count(
            env,
            "SELECT COUNT(*) AS n FROM {deal} d JOIN {deal_pipeline_stage} s ON s.stage_id = d.deal_pipeline_stage_id "
            "AND s.pipeline_id = d.deal_pipeline_id JOIN {deal_pipeline} p ON p.pipeline_id = s.pipeline_id",
        )
        == staged
    )
    users = count(env, "SELECT COUNT(*) AS n FROM {owner_team} ot JOIN {team} t ON t.id = ot.team_id")
    assert users == count(env, "SELECT COUNT(*) AS n FROM {owner_team}") > 0
    assert (
        count(
            env,
            "SELECT COUNT(*) AS n FROM {property_option} po JOIN {property} p ON p._fivetran_id = po.property_id",
        )
        == count(env, "SELECT COUNT(*) AS n FROM {property_option}")
        > 0
    )
    if engagements_modelled():
        linked = count(env, "SELECT COUNT(*) AS n FROM {engagement_contact}")
        assert linked > 0
        assert (
            count(
                env,
                "SELECT COUNT(*) AS n FROM {engagement_contact} ec JOIN {engagement} e ON e.id = ec.engagement_id "
                "JOIN {contact} c ON c.id = ec.contact_id",
            )
            == linked
        )
        assert (
            count(
                env, "SELECT COUNT(*) AS n FROM {engagement_deal} ed JOIN {deal} d ON d.deal_id = ed.deal_id"
            )
            > 0
        )


def assert_history(env: FivetranEnv) -> None:
    for obj in ("deal", "company", "contact"):
        rows = env.rows(f"{obj}_property_history")
        assert rows, f"{obj}_property_history is empty"
        keys = Counter((r[f"{obj}_id"], r["name"], r["timestamp"]) for r in rows)
        assert not [k for k, n in keys.items() if n > 1], (
            f"{obj}_property_history: duplicate (id, name, timestamp)"
        )
    stages = env.rows("deal_stage")
    assert stages
    by_deal: dict[int, list[dict[str, Any]]] = {}
    for r in stages:
        by_deal.setdefault(r["deal_id"], []).append(r)
    for deal, rows in by_deal.items():
        rows.sort(key=lambda r: r["_fivetran_start"])
        assert [r["_fivetran_active"] for r in rows] == [False] * (len(rows) - 1) + [True], deal
        for before, after in zip(rows, rows[1:], strict=False):
            assert before["_fivetran_end"] == after["_fivetran_start"], deal
        assert rows[-1]["_fivetran_end"].year == 9999
        assert all(r["date_entered"] == r["_fivetran_start"] for r in rows)
    current = {r["deal_id"]: r["deal_pipeline_stage_id"] for r in env.rows("deal") if not r["is_deleted"]}
    active = {d: rows[-1]["value"] for d, rows in by_deal.items() if d in current}
    assert active == {d: current[d] for d in active}, "the active deal_stage row is the deal's stage"


def assert_values_match_sandbox(env: FivetranEnv) -> None:
    deals = {int(r["id"]): r for r in env.snapshot("deals")["records"]}
    rows = {r["deal_id"]: r for r in env.rows("deal")}
    assert set(deals) <= set(rows)
    for deal_id in sorted(deals)[:15]:
        props, row = deals[deal_id]["properties"], rows[deal_id]
        assert row["property_dealname"] == props.get("dealname")
        assert row["deal_pipeline_stage_id"] == props.get("dealstage")
        assert row["deal_pipeline_id"] == props.get("pipeline")
        owner = props.get("hubspot_owner_id")
        assert row["owner_id"] == (int(owner) if owner else None)
        amount = props.get("amount")
        assert (row["property_amount"] is None) == (amount in (None, ""))
        if amount not in (None, ""):
            assert Decimal(str(row["property_amount"])) == Decimal(amount)
        assert row["portal_id"] == 12345678
        assert row["is_deleted"] is bool(deals[deal_id].get("archived")) is row["_fivetran_deleted"]
    contacts = {int(r["id"]): r for r in live(env, "contacts")}
    rows = {r["id"]: r for r in env.rows("contact")}
    for contact_id in sorted(contacts)[:15]:
        props = contacts[contact_id]["properties"]
        assert rows[contact_id]["property_email"] == props.get("email")
        assert rows[contact_id]["property_firstname"] == props.get("firstname")
        assert rows[contact_id]["_fivetran_deleted"] is False
    owners = {int(o["id"]): o for o in env.admin("GET", "state/owners")["owners"]}
    rows = {r["owner_id"]: r for r in env.rows("owner")}
    assert set(rows) == set(owners)
    for owner_id, owner in owners.items():
        assert rows[owner_id]["email"] == owner.get("email")
        assert rows[owner_id]["active_user_id"] == owner.get("userId")
        assert rows[owner_id]["_fivetran_deleted"] is bool(owner.get("archived"))
    teams = {
        (int(o["id"]), int(t["id"]), bool(t.get("primary")))
        for o in owners.values()
        for t in o.get("teams") or []
    }
    assert {(r["owner_id"], r["team_id"], r["is_team_primary"]) for r in env.rows("owner_team")} == teams
    if engagements_modelled():
        assert_engagements_match_sandbox(env)


def assert_engagements_match_sandbox(env: FivetranEnv) -> None:
    expected: dict[int, str] = {}
    for family, type_ in (
        ("calls", "CALL"),
        ("emails", None),
        ("meetings", "MEETING"),
        ("notes", "NOTE"),
        ("tasks", "TASK"),
        ("communications", "COMMUNICATION"),
    ):
        for record in env.snapshot(family)["records"]:
            props = record["properties"]
            expected[int(record["id"])] = type_ or (props.get("hs_email_direction") or "EMAIL").upper()
    assert {r["id"]: r["type"] for r in env.rows("engagement")} == expected
    calls = {int(r["id"]): r["properties"] for r in env.snapshot("calls")["records"]}
    for row in env.rows("engagement_call"):
        props = calls[row["engagement_id"]]
        owner = props.get("hubspot_owner_id")
        assert row["property_hubspot_owner_id"] == (int(owner) if owner else None)
        assert row["property_hs_timestamp"] is not None
        assert row["_fivetran_deleted"] is False
    notes = {int(r["id"]): r["properties"] for r in env.snapshot("notes")["records"]}
    for row in env.rows("engagement_note"):
        assert row["body"] == notes[row["engagement_id"]].get("hs_note_body")


def assert_contract(env: FivetranEnv) -> None:
    problems = schema_problems(env) + null_key_problems(env)
    assert not problems, "\n".join(problems)
    assert_joins_without_casts(env)
    assert_values_match_sandbox(env)
    if history_supported():
        assert_history(env)
    types = {r["type"] for r in env.rows("engagement")}
    assert types <= ENGAGEMENT_TYPE_VALUES
    if engagements_modelled():
        assert {"CALL", "MEETING", "NOTE", "TASK"} <= types
        assert count(env, "SELECT COUNT(*) AS n FROM {engagement_note} WHERE body IS NOT NULL") > 0


# ---------------------------------------------------------------------- the test
def mutate(env: FivetranEnv) -> dict[str, Any]:
    contacts = [int(r["id"]) for r in live(env, "contacts")]
    companies = [int(r["id"]) for r in live(env, "companies")]
    deals = live(env, "deals")
    d = [int(r["id"]) for r in deals]
    pipelines = env.snapshot("deals").get("pipelines")  # not needed: stages come from the deals
    del pipelines
    stages = sorted(
        {
            r["properties"]["dealstage"]
            for r in deals
            if r["properties"].get("pipeline") == deals[0]["properties"].get("pipeline")
        }
        - {deals[0]["properties"]["dealstage"]}
    )
    env.admin(
        "PATCH", f"objects/deals/{d[0]}", {"properties": {"amount": "777.25", "dealname": "Renamed deal"}}
    )
    if stages:
        env.admin("PATCH", f"objects/deals/{d[0]}", {"properties": {"dealstage": stages[0]}})
    env.admin("PATCH", f"objects/contacts/{contacts[0]}", {"properties": {"firstname": "Renamed"}})
    env.admin("DELETE", f"objects/contacts/{contacts[1]}")
    env.admin("DELETE", f"objects/companies/{companies[0]}")
    env.admin(
        "POST",
        "objects/contacts/merge",
        {"primaryObjectId": str(contacts[2]), "objectIdToMerge": str(contacts[3])},
    )
    env.admin("POST", "objects/deals/merge", {"primaryObjectId": str(d[1]), "objectIdToMerge": str(d[2])})
    return {
        "deleted_contact": contacts[1],
        "deleted_company": companies[0],
        "merged_contact": (contacts[2], contacts[3]),
        "merged_deal": (d[1], d[2]),
        "changed_deal": d[0],
    }


@pytest.mark.parametrize("warehouse_kind", KINDS, indirect=True)
def test_fivetran_schema_contract(ft: FivetranEnv, warehouse_kind: str) -> None:
    full = ft.sync_all()
    assert {r["mode"] for k, r in full.items() if k != "owners"} == {"full"}
    assert_contract(ft)

    changes = mutate(ft)
    incremental = ft.sync_all()
    assert incremental["contacts"]["mode"] == "incremental"
    assert_contract(ft)

    contacts = {r["id"]: r for r in ft.rows("contact")}
    assert contacts[changes["deleted_contact"]]["_fivetran_deleted"] is True
    survivor, merged = changes["merged_contact"]
    assert contacts[merged]["_fivetran_deleted"] is True
    assert str(merged) in (contacts[survivor]["property_hs_merged_object_ids"] or "").split(";")
    companies = {r["id"]: r for r in ft.rows("company")}
    assert companies[changes["deleted_company"]]["is_deleted"] is True
    assert companies[changes["deleted_company"]]["_fivetran_deleted"] is True
    deals = {r["deal_id"]: r for r in ft.rows("deal")}
    survivor, merged = changes["merged_deal"]
    assert deals[merged]["is_deleted"] is True and deals[merged]["_fivetran_deleted"] is True
    merged_pairs = {(r["deal_id"], r["merged_deal_id"]) for r in ft.rows("merged_deal")}
    assert (survivor, merged) in merged_pairs
    flagged = {
        (r["merged_into_id"], r["id"])
        for r in ft.query("SELECT id, merged_into_id FROM {native.deal} WHERE merged_into_id IS NOT NULL")
    }
    assert merged_pairs == flagged
    assert deals[changes["changed_deal"]]["property_dealname"] == "Renamed deal"
    if history_supported():
        names = [
            r["value"]
            for r in ft.rows("deal_property_history")
            if r["deal_id"] == changes["changed_deal"] and r["name"] == "dealname"
        ]
        assert "Renamed deal" in names and len(names) >= 2

    # a restore: the company is live again in the views, with no other change
    ft.admin("POST", f"objects/companies/{changes['deleted_company']}/restore")
    ft.sync("companies")
    companies = {r["id"]: r for r in ft.rows("company")}
    assert companies[changes["deleted_company"]]["is_deleted"] is False
    assert companies[changes["deleted_company"]]["_fivetran_deleted"] is False
    assert not schema_problems(ft)


@pytest.mark.parametrize("warehouse_kind", ["postgres"], indirect=True)
def test_views_refresh_only_when_their_definition_changes(ft: FivetranEnv, warehouse_kind: str) -> None:
    ft.objects = {"contacts": {"associations": ["companies"]}, "companies": {}}
    ft.sync_all()
    hashes = {r["view_name"]: r for r in ft.query("SELECT * FROM {native._hubspot_views}")}
    assert set(hashes) == set(TABLES)
    ft.sync("contacts")  # nothing changed: no view is replaced
    again = {r["view_name"]: r for r in ft.query("SELECT * FROM {native._hubspot_views}")}
    assert again == hashes
    ft.admin(
        "POST",
        "properties/contacts",
        {"name": "favourite_colour", "label": "Colour", "type": "string", "fieldType": "text"},
    )
    contact = live(ft, "contacts")[0]["id"]
    ft.admin("PATCH", f"objects/contacts/{contact}", {"properties": {"favourite_colour": "teal"}})
    ft.sync("contacts")
    after = {r["view_name"]: r for r in ft.query("SELECT * FROM {native._hubspot_views}")}
    assert {n for n in after if after[n]["definition_hash"] != hashes[n]["definition_hash"]} == {"contact"}
    rows = {r["id"]: r for r in ft.rows("contact")}
    assert rows[int(contact)]["property_favourite_colour"] == "teal"
