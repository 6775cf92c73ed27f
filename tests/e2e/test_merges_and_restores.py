"""Merges, archives and restores in orders the basic oracle does not try, on both warehouses.

Real ``dag.test()`` runs against the sandbox over HTTP; after every step the oracle compares
the whole warehouse with the sandbox (records, values, deletes, merges, associations).

* a merge chain across runs: A into B (synced), later B into C: A and B point at C, after the
  incremental run and after a full load;
* a merge into a survivor archived in the same window: the merged id is ``merged`` into the
  archived survivor, never ``purged``, also after a full load;
* archive, then restore, of a company: its rows in other objects' association tables come
  back in the run that sees the restore, with no run of the other objects.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.oracle import warehouse_problems

OBJECTS = {
    "contacts": {"associations": ["companies"]},
    "companies": {"associations": ["contacts", "deals"]},
    "deals": {"associations": ["companies"]},
}
BOTH = pytest.mark.parametrize("warehouse_kind", ["postgres", "bigquery"], indirect=True)
pytestmark = pytest.mark.portal(contacts=60, companies=15, deals=25, tickets=0, custom=0, owners=3)


def assert_exact(env: Any, when: str) -> None:
    problems = warehouse_problems(env, owners=False)
    assert not problems, f"after {when}, the warehouse differs from the sandbox:\n" + "\n".join(problems)


def live_ids(env: Any, object_type: str) -> list[str]:
    return [r["id"] for r in env.snapshot(object_type)["records"] if not r.get("archived")]


def rows_by_id(env: Any, table: str) -> dict[int, dict[str, Any]]:
    return {int(r["id"]): r for r in env.view.rows(table)}


def merge(env: Any, object_type: str, survivor: str, merged: str) -> None:
    env.admin(
        "POST", f"objects/{object_type}/merge", {"primaryObjectId": survivor, "objectIdToMerge": merged}
    )


def sync(env: Any, *dag_ids: str, **params: Any) -> None:
    for dag_id in dag_ids:
        env.run(dag_id, **params)


@BOTH
def test_merge_chains_resolve_to_the_final_survivor(sync_env):
    env = sync_env
    env.write_config({"contacts": OBJECTS["contacts"], "companies": {"associations": ["contacts"]}})
    sync(env, "hubspot_contacts", "hubspot_companies")
    a, b, c = live_ids(env, "contacts")[:3]
    merge(env, "contacts", b, a)
    sync(env, "hubspot_contacts")
    assert rows_by_id(env, "contact")[int(a)]["merged_into_id"] == int(b)

    merge(env, "contacts", c, b)
    sync(env, "hubspot_contacts")
    rows = rows_by_id(env, "contact")
    assert (rows[int(a)]["merged_into_id"], rows[int(b)]["merged_into_id"]) == (int(c), int(c))
    assert_exact(env, "the second merge (incremental)")

    sync(env, "hubspot_contacts", full_load=True)
    assert rows_by_id(env, "contact")[int(a)]["merged_into_id"] == int(c)
    assert_exact(env, "a full load")


@BOTH
def test_a_merge_into_a_survivor_archived_later_stays_a_merge(sync_env):
    env = sync_env
    env.write_config({"contacts": OBJECTS["contacts"], "companies": {"associations": ["contacts"]}})
    sync(env, "hubspot_contacts", "hubspot_companies")
    x, y = live_ids(env, "contacts")[3:5]
    merge(env, "contacts", y, x)
    env.admin("DELETE", f"objects/contacts/{y}")
    sync(env, "hubspot_contacts")
    rows = rows_by_id(env, "contact")
    assert (rows[int(x)]["_deletion_kind"], rows[int(x)]["merged_into_id"]) == ("merged", int(y))
    assert rows[int(y)]["_deletion_kind"] == "archived"
    assert_exact(env, "the merge and the archive (incremental)")

    report = env.report(env.run("hubspot_contacts", full_load=True))
    assert report["deletes"]["purged"] == 0
    assert rows_by_id(env, "contact")[int(x)]["_deletion_kind"] == "merged"
    assert_exact(env, "a full load")


@BOTH
def test_archived_pipelines_and_stages_land_true_to_hubspot(sync_env):
    env = sync_env
    env.write_config({"deals": {}})
    pipelines = env.api("/crm/v3/pipelines/deals")["results"]
    first, second = pipelines[0], pipelines[1]
    # archived before the first sync: must land anyway, flagged, with archived_at
    env.admin("PATCH", f"pipelines/deals/{second['id']}", {"archived": True})
    env.admin(
        "PATCH", f"pipelines/deals/{first['id']}/stages/{first['stages'][-1]['id']}", {"archived": True}
    )
    env.admin(
        "POST",
        "pipelines/deals",
        {
            "id": "partners",
            "label": "Partners",
            "stages": [{"id": "p1", "label": "Intro", "metadata": {"probability": "0.1"}}],
        },
    )
    env.run("hubspot_deals")
    assert_exact(env, "the first sync")
    heads = {r["id"]: r for r in env.view.rows("deal_pipeline")}
    assert heads[second["id"]]["archived"] and heads[second["id"]]["archived_at"] is not None
    assert not heads["partners"]["archived"]

    # archived, relabelled and added later: the next incremental run has it all
    env.admin("PATCH", "pipelines/deals/partners", {"archived": True})
    env.admin(
        "PATCH",
        f"pipelines/deals/{first['id']}/stages/{first['stages'][0]['id']}",
        {"label": "Renamed stage"},
    )
    env.admin(
        "POST",
        f"pipelines/deals/{first['id']}/stages",
        {"id": "late", "label": "Late", "metadata": {"probability": "0.5"}},
    )
    env.run("hubspot_deals")
    assert_exact(env, "archiving, relabelling and adding (incremental)")
    assert {r["id"]: r for r in env.view.rows("deal_pipeline")}["partners"]["archived"]


def links(env: Any, table: str, column: str, record_id: str) -> set[tuple[int, int, int]]:
    return {
        (r["from_id"], r["to_id"], r["type_id"]) for r in env.view.rows(table) if r[column] == int(record_id)
    }


@BOTH
def test_a_restore_brings_back_associations_in_both_directions(sync_env):
    env = sync_env
    env.write_config(OBJECTS)
    sync(env, "hubspot_contacts", "hubspot_companies", "hubspot_deals")
    snapshot = env.snapshot("companies")
    company = next(
        r["id"]
        for r in snapshot["records"]
        if not r.get("archived")
        and {a["toType"] for a in snapshot["associations"] if a["fromId"] == r["id"]} >= {"contacts", "deals"}
    )
    before = {t: links(env, t, "to_id", company) for t in ("contact_company", "deal_company")}
    before_own = {t: links(env, t, "from_id", company) for t in ("company_contact", "company_deal")}
    assert all(before.values()) and all(before_own.values())

    env.admin("DELETE", f"objects/companies/{company}")
    sync(env, "hubspot_companies")
    assert not any(links(env, t, "to_id", company) for t in before), (
        "HubSpot hides an archived record's links"
    )

    env.admin("POST", f"objects/companies/{company}/restore")
    report = env.report(env.run("hubspot_companies"))  # only the companies DAG runs
    assert report["deletes"]["restored"] == 1
    assert {t: links(env, t, "to_id", company) for t in before} == before
    assert {t: links(env, t, "from_id", company) for t in before_own} == before_own
    assert_exact(env, "the restore, with no run of contacts or deals")


@BOTH
def test_association_only_changes_reach_the_next_incremental_run(sync_env):
    env = sync_env
    env.write_config(
        {"contacts": {"associations": ["companies"]}, "companies": {"associations": ["contacts"]}}
    )
    sync(env, "hubspot_contacts", "hubspot_companies")
    contacts = live_ids(env, "contacts")
    companies = live_ids(env, "companies")
    snapshot = env.snapshot("contacts")
    linked = [a for a in snapshot["associations"] if a["toType"] == "companies"]
    removed, relabelled = linked[0], linked[1]
    unlinked_pair = next(
        (c, k)
        for c in contacts
        for k in companies
        if not any(a["fromId"] == c and a["toId"] == k for a in linked)
    )
    label = env.admin(
        "POST", "association-labels/contacts/companies", {"label": "Decision maker", "inverseLabel": "Buyer"}
    )
    env.admin("DELETE", f"associations/contacts/{removed['fromId']}/companies/{removed['toId']}")
    env.admin("PUT", f"associations/contacts/{unlinked_pair[0]}/companies/{unlinked_pair[1]}")
    env.admin(
        "PUT",
        f"associations/contacts/{relabelled['fromId']}/companies/{relabelled['toId']}",
        {"typeId": label["typeId"]},
    )
    report = env.report(env.run("hubspot_contacts"))
    assert report["mode"] == "incremental" and report["records_changed"] == 0
    assert report["association_refresh"]["scope"] == "all"
    assert report["associations_changed"] >= 3 and report["changed"]
    env.run("hubspot_companies")
    assert_exact(env, "an added, a removed and a labelled association (incremental)")

    env.admin("PATCH", f"association-labels/contacts/companies/{label['typeId']}", {"label": "Champion"})
    report = env.report(env.run("hubspot_contacts"))
    assert report["associations_changed"] == 1
    rows = [r for r in env.view.rows("contact_company") if r["type_id"] == label["typeId"]]
    assert [r["label"] for r in rows] == ["Champion"]
    env.run("hubspot_companies")
    assert_exact(env, "a renamed label (incremental)")
