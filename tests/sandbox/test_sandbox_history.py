"""Property history over real HTTP: ``propertiesWithHistory`` on list, single GET and batch
read (HubSpot's shape, newest first, limits and 400 message), history written by creates,
updates, merges, restores and imports, and the oracle's full history over the admin API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hubspot_sandbox import FixtureError, Portal, SandboxServer, generate_portal
from sandbox_helpers import Api, open_config

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MESSAGE = "The maximum number of inputs supported in a batch request for property histories is 50"


def _ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _check_entries(entries: list[dict[str, Any]]) -> None:
    """HubSpot's ValueWithTimestamp shape, newest first, never two in one millisecond."""
    assert entries
    for entry in entries:
        assert set(entry) <= {
            "value",
            "timestamp",
            "sourceType",
            "sourceId",
            "sourceLabel",
            "updatedByUserId",
        }
        assert isinstance(entry["value"], str) and ISO_MS.match(entry["timestamp"]) and entry["sourceType"]
    stamps = [_ms(e["timestamp"]) for e in entries]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps)


@pytest.fixture(scope="module")
def gen_srv() -> Iterator[SandboxServer]:
    portal = generate_portal(
        seed=4, contacts=160, companies=15, deals=60, tickets=20, custom=5, extra_properties=3, calls=20
    )
    with SandboxServer(portal, open_config()) as srv:
        yield srv


@pytest.fixture
def gapi(gen_srv: SandboxServer) -> Api:
    return Api(gen_srv)


@pytest.fixture
def demo(demo_srv: SandboxServer) -> Api:
    return Api(demo_srv)


def test_history_after_create_and_updates(demo: Api) -> None:
    created = demo.admin(
        "POST",
        "objects/deals",
        {"properties": {"dealname": "Hist", "dealstage": "appointmentscheduled", "amount": "10"}},
        expect=201,
    ).json()
    rid = created["id"]
    demo.admin(
        "PATCH",
        f"objects/deals/{rid}",
        {"properties": {"dealstage": "contractsent"}, "sourceType": "CRM_UI", "updatedByUserId": 9001},
        expect=200,
    )
    demo.admin(
        "PATCH",
        f"objects/deals/{rid}",
        {
            "properties": {"dealstage": "closedwon", "amount": "10"},
            "sourceType": "INTEGRATION",
            "sourceId": "sf",
        },
        expect=200,
    )
    body = demo.get(
        f"/crm/v3/objects/deals/{rid}", propertiesWithHistory="dealstage,amount,hs_lastmodifieddate"
    ).json()
    history = body["propertiesWithHistory"]
    stages = history["dealstage"]
    _check_entries(stages)
    assert [e["value"] for e in stages] == ["closedwon", "contractsent", "appointmentscheduled"]
    assert stages[0] == {
        "value": "closedwon",
        "timestamp": body["updatedAt"],
        "sourceType": "INTEGRATION",
        "sourceId": "sf",
    }
    assert stages[1]["sourceType"] == "CRM_UI"
    assert stages[1]["updatedByUserId"] == 9001 and stages[1]["sourceId"] == "userId:9001"
    assert stages[2]["sourceType"] == "API" and stages[2]["timestamp"] == body["createdAt"]
    assert [e["value"] for e in history["amount"]] == ["10"]  # an unchanged value writes nothing
    modified = history["hs_lastmodifieddate"]
    _check_entries(modified)
    assert {e["sourceType"] for e in modified} == {"CALCULATED"} and len(modified) == 3
    assert modified[0]["value"] == body["updatedAt"] == body["properties"]["hs_lastmodifieddate"]
    assert "propertiesWithHistory" not in demo.get(f"/crm/v3/objects/deals/{rid}").json()


def test_history_on_list_caps_the_page_at_50(gapi: Api) -> None:
    plain = gapi.get("/crm/v3/objects/contacts", limit=100).json()
    assert len(plain["results"]) == 100 and "propertiesWithHistory" not in plain["results"][0]
    page = gapi.get(
        "/crm/v3/objects/contacts", limit=100, propertiesWithHistory="lifecyclestage,firstname"
    ).json()
    assert len(page["results"]) == 50 and page["paging"]["next"]["after"]
    assert [r["id"] for r in page["results"]] == [r["id"] for r in plain["results"][:50]]
    for rec in page["results"]:
        for name, entries in rec["propertiesWithHistory"].items():
            _check_entries(entries)
            assert (
                entries[0]["value"]
                == gapi.get(f"/crm/v3/objects/contacts/{rec['id']}", properties=name).json()["properties"][
                    name
                ]
            )
    nxt = gapi.get(page["paging"]["next"]["link"].replace(gapi.srv.url, "")).json()
    assert len(nxt["results"]) == 50 and nxt["results"][0]["id"] == plain["results"][50]["id"]


def test_batch_read_history_limit_and_message(gapi: Api) -> None:
    ids = [r["id"] for r in gapi.get("/crm/v3/objects/contacts", limit=100).json()["results"]]
    body = {
        "inputs": [{"id": i} for i in ids[:51]],
        "properties": ["email"],
        "propertiesWithHistory": ["email"],
    }
    resp = gapi.post("/crm/v3/objects/contacts/batch/read", body)
    assert resp.status_code == 400
    assert resp.json()["message"] == MESSAGE and resp.json()["category"] == "VALIDATION_ERROR"
    assert (
        gapi.post("/crm/v3/objects/contacts/batch/read", {**body, "propertiesWithHistory": []}).status_code
        == 200
    )
    ok = gapi.post("/crm/v3/objects/contacts/batch/read", {**body, "inputs": body["inputs"][:50]})
    assert ok.status_code == 200
    results = ok.json()["results"]
    assert len(results) == 50
    with_email = [r for r in results if r["properties"]["email"]]
    assert with_email and all(
        r["propertiesWithHistory"]["email"][0]["value"] == r["properties"]["email"] for r in with_email
    )


def test_search_never_returns_history(gapi: Api) -> None:
    body = {"limit": 5, "properties": ["dealstage"], "propertiesWithHistory": ["dealstage"]}
    results = gapi.post("/crm/v3/objects/deals/search", body).json()["results"]
    assert results and all("propertiesWithHistory" not in r for r in results)


def test_generated_history_is_consistent(gapi: Api) -> None:
    page = gapi.get(
        "/crm/v3/objects/deals",
        limit=50,
        properties="dealstage,amount",
        propertiesWithHistory="dealstage,amount,hs_lastmodifieddate,createdate",
    ).json()["results"]
    stages_seen = 0
    for deal in page:
        history = deal["propertiesWithHistory"]
        created, updated = _ms(deal["createdAt"]), _ms(deal["updatedAt"])
        for entries in history.values():
            _check_entries(entries)
            assert created <= _ms(entries[-1]["timestamp"]) and _ms(entries[0]["timestamp"]) <= updated
        assert history["dealstage"][0]["value"] == deal["properties"]["dealstage"]
        assert history["hs_lastmodifieddate"][0]["value"] == deal["updatedAt"]
        assert history["createdate"] == [{**history["createdate"][0], "value": deal["createdAt"]}]
        stages_seen = max(stages_seen, len(history["dealstage"]))
        writes = {e["timestamp"] for n in ("dealstage", "amount") for e in history.get(n, [])}
        assert writes <= {e["timestamp"] for e in history["hs_lastmodifieddate"]}
    assert stages_seen >= 3  # deals moved through stages
    sources = {e["sourceType"] for d in page for e in d["propertiesWithHistory"]["dealstage"]}
    assert {"CRM_UI", "API"} <= sources


def test_merge_and_restore_write_history(demo: Api) -> None:
    survivor = demo.admin(
        "POST", "objects/companies/merge", {"primaryObjectId": "101", "objectIdToMerge": "103"}
    )
    assert survivor.status_code == 200, survivor.text
    merged = demo.get(
        "/crm/v3/objects/companies/101", propertiesWithHistory="hs_merged_object_ids,hs_lastmodifieddate"
    ).json()
    entries = merged["propertiesWithHistory"]["hs_merged_object_ids"]
    assert entries[0]["value"] == "103" and entries[0]["sourceType"] == "MERGE_OBJECTS"
    assert merged["propertiesWithHistory"]["hs_lastmodifieddate"][0]["timestamp"] == merged["updatedAt"]
    demo.admin("DELETE", "objects/contacts/2", expect=200)
    demo.admin("POST", "objects/contacts/2/restore", expect=200)
    restored = demo.get("/crm/v3/objects/contacts/2", propertiesWithHistory="lastmodifieddate").json()
    modified = restored["propertiesWithHistory"]["lastmodifieddate"]
    _check_entries(modified)
    assert modified[0] == {
        "value": restored["updatedAt"],
        "timestamp": restored["updatedAt"],
        "sourceType": "CALCULATED",
    }
    full = demo.admin("GET", "history/companies", expect=200).json()
    assert "103" in full and full["103"]["name"]  # the merged-away record keeps its history
    demo.admin("DELETE", "objects/contacts/3", expect=200)
    assert demo.admin("GET", "history/contacts", expect=200).json()["3"]["email"]  # archived too


def test_admin_history_matches_the_api(gapi: Api) -> None:
    full = gapi.admin("GET", "history/calls", expect=200).json()
    assert len(full) == 20
    rid, record = next(iter(full.items()))
    assert gapi.admin("GET", f"history/calls/{rid}", expect=200).json() == record
    names = ",".join(record)
    api = gapi.get(f"/crm/v3/objects/calls/{rid}", propertiesWithHistory=names).json()[
        "propertiesWithHistory"
    ]
    assert api == record
    assert {"hs_object_id", "hs_createdate", "hs_lastmodifieddate", "hs_timestamp"} <= set(record)


def test_import_source_and_fixture_history() -> None:
    portal = Portal.from_dict(
        {
            "records": {
                "contacts": [
                    {
                        "id": 1,
                        "createdAt": "2024-01-01T00:00:00Z",
                        "updatedAt": "2024-02-01T00:00:00Z",
                        "properties": {"lifecyclestage": "customer"},
                        "history": {
                            "lifecyclestage": [
                                {
                                    "value": "customer",
                                    "timestamp": "2024-02-01T00:00:00Z",
                                    "sourceType": "CRM_UI",
                                    "updatedByUserId": 5,
                                },
                                {
                                    "value": "lead",
                                    "timestamp": "2024-01-01T00:00:00Z",
                                    "sourceType": "IMPORT",
                                },
                            ]
                        },
                    },
                    {"id": 2, "properties": {"email": "b@example.com"}},
                ]
            }
        }
    )
    snap = portal.history_snapshot("contacts")
    assert [e["value"] for e in snap["1"]["lifecyclestage"]] == ["customer", "lead"]
    assert snap["1"]["lifecyclestage"][0]["updatedByUserId"] == 5
    assert snap["2"]["email"][0]["sourceType"] == "IMPORT"  # fixture records were imported
    assert Portal.from_dict(portal.to_dict()).history_snapshot("contacts") == snap
    portal.create("contacts", {"email": "c@example.com"}, source=portal_source("IMPORT"))
    assert portal.history_snapshot("contacts")["3"]["email"][0]["sourceType"] == "IMPORT"


def portal_source(kind: str) -> Any:
    from hubspot_sandbox.history import Source

    return Source(kind, "import:77", "CSV import")


def test_writes_in_one_millisecond_get_their_own(demo_srv: SandboxServer) -> None:
    frozen = Portal.demo()
    frozen.clock = lambda: 1_767_225_600.0  # every write asks for the same millisecond
    with SandboxServer(frozen, open_config()) as srv:
        api = Api(srv)
        for value in ("a", "b", "c", "d"):
            api.admin("PATCH", "objects/contacts/1", {"properties": {"firstname": value}}, expect=200)
        entries = api.get(
            "/crm/v3/objects/contacts/1", propertiesWithHistory="firstname,lastmodifieddate"
        ).json()["propertiesWithHistory"]
        _check_entries(entries["firstname"])
        _check_entries(entries["lastmodifieddate"])
        assert [e["value"] for e in entries["firstname"]][:4] == ["d", "c", "b", "a"]


def test_bad_source_type_is_a_400(demo: Api) -> None:
    resp = demo.admin("PATCH", "objects/contacts/1", {"properties": {"firstname": "x"}, "sourceType": 5})
    assert resp.status_code == 400 and "sourceType" in resp.text


def test_demo_fixture_has_a_deal_stage_history(demo: Api) -> None:
    history = demo.get("/crm/v3/objects/deals/201", propertiesWithHistory="dealstage,dealname").json()[
        "propertiesWithHistory"
    ]
    assert [e["value"] for e in history["dealstage"]] == ["closedwon", "contractsent", "appointmentscheduled"]
    assert history["dealstage"][0]["updatedByUserId"] == 501
    assert history["dealname"][0]["sourceType"] == "IMPORT"  # properties without a given history


def test_fixture_history_must_end_with_the_current_value() -> None:
    record = {
        "id": 1,
        "properties": {"lifecyclestage": "customer"},
        "history": {"lifecyclestage": [{"value": "lead", "timestamp": 1, "sourceType": "API"}]},
    }
    with pytest.raises(FixtureError, match=r"records.contacts\[0\].history.lifecyclestage"):
        Portal.from_dict({"records": {"contacts": [record]}})
