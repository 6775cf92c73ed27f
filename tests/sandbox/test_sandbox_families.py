"""The object families over real HTTP: engagements, commerce, leads, goals, object library,
their default properties, scopes and HubSpot-defined association types; account details and
owners' teams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot_sandbox import SandboxServer, generate_portal
from hubspot_sandbox.generator import DEMO_SIZES
from sandbox_helpers import Api, open_config

ALWAYS = {"hs_object_id", "hs_lastmodifieddate"}
FAMILIES = {
    # name: (objectTypeId, created property, default properties besides the always-returned)
    "calls": ("0-48", "hs_createdate", set()),
    "emails": ("0-49", "hs_createdate", set()),
    "meetings": ("0-47", "hs_createdate", set()),
    "notes": ("0-46", "hs_createdate", set()),
    "tasks": ("0-27", "hs_createdate", set()),
    "communications": ("0-18", "hs_createdate", set()),
    "products": ("0-7", "createdate", {"name", "description", "price"}),
    "line_items": ("0-8", "createdate", {"name", "quantity", "price", "amount", "hs_product_id"}),
    "quotes": ("0-14", "hs_createdate", {"hs_title", "hs_expiration_date", "hs_status", "hs_public_url_key"}),
    "invoices": ("0-53", "hs_createdate", set()),
    "leads": ("0-136", "hs_createdate", set()),
    "goal_targets": ("0-74", "hs_createdate", set()),
}
ENGAGEMENT_PROPS = {
    "calls": {"hs_call_title", "hs_call_duration", "hs_call_direction", "hs_call_disposition"},
    "emails": {"hs_email_direction", "hs_email_subject"},
    "meetings": {"hs_meeting_title", "hs_meeting_start_time", "hs_meeting_end_time", "hs_meeting_outcome"},
    "notes": {"hs_note_body"},
    "tasks": {"hs_task_subject", "hs_task_status", "hs_task_priority", "hs_task_type"},
    "communications": {"hs_communication_channel_type", "hs_communication_body"},
}
# (from, to, typeId from->to, typeId to->from): HubSpot's published HUBSPOT_DEFINED ids
ASSOCIATION_TYPES = [
    ("calls", "contacts", 194, 193),
    ("emails", "deals", 210, 209),
    ("meetings", "companies", 188, 187),
    ("notes", "contacts", 202, 201),
    ("tasks", "deals", 216, 215),
    ("communications", "contacts", 81, 82),
    ("line_items", "deals", 20, 19),
    ("quotes", "deals", 64, 63),
    ("invoices", "contacts", 177, 178),
    ("leads", "contacts", 608, 607),
]


@pytest.fixture(scope="module")
def fam_srv() -> Iterator[SandboxServer]:
    portal = generate_portal(
        seed=7, contacts=60, companies=12, deals=30, tickets=10, custom=5, extra_properties=2, **DEMO_SIZES
    )
    with SandboxServer(portal, open_config()) as srv:
        yield srv


@pytest.fixture
def fapi(fam_srv: SandboxServer) -> Api:
    return Api(fam_srv)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_lists_its_default_properties(fapi: Api, name: str) -> None:
    type_id, created, defaults = FAMILIES[name]
    by_name = fapi.get(f"/crm/v3/objects/{name}", limit=5).json()
    by_id = fapi.get(f"/crm/objects/2026-09/{type_id}", limit=5).json()
    assert by_name["results"] == by_id["results"] and len(by_name["results"]) == 5
    for rec in by_name["results"]:
        assert set(rec["properties"]) == defaults | ALWAYS | {created}
        assert rec["properties"][created] == rec["createdAt"]
        assert rec["properties"]["hs_lastmodifieddate"] == rec["updatedAt"]
    props = {p["name"]: p for p in fapi.get(f"/crm/v3/properties/{name}").json()["results"]}
    assert defaults <= set(props) and {created, "hubspot_owner_id"} <= set(props)


@pytest.mark.parametrize("name", sorted(ENGAGEMENT_PROPS))
def test_engagements_carry_their_type_properties(fapi: Api, name: str) -> None:
    props = {p["name"]: p for p in fapi.get(f"/crm/v3/properties/{name}").json()["results"]}
    common = {"hs_timestamp", "hs_createdate", "hs_lastmodifieddate", "hubspot_owner_id", "hubspot_team_id"}
    assert common | ENGAGEMENT_PROPS[name] <= set(props)
    assert props["hs_timestamp"]["type"] == "datetime"
    wanted = ",".join(sorted(common | ENGAGEMENT_PROPS[name]))
    rows = fapi.get(f"/crm/v3/objects/{name}", limit=20, properties=wanted).json()["results"]
    assert all(r["properties"]["hs_timestamp"] for r in rows)
    owned = [r for r in rows if r["properties"]["hubspot_owner_id"]]
    assert owned and all(r["properties"]["hubspot_team_id"] for r in owned)  # the owner's team


def test_email_direction_values_and_options(fapi: Api) -> None:
    prop = next(
        p
        for p in fapi.get("/crm/v3/properties/emails").json()["results"]
        if p["name"] == "hs_email_direction"
    )
    assert [o["value"] for o in prop["options"]] == ["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"]
    rows = fapi.get("/crm/v3/objects/emails", limit=80, properties="hs_email_direction").json()["results"]
    assert {r["properties"]["hs_email_direction"] for r in rows} == {
        "EMAIL",
        "INCOMING_EMAIL",
        "FORWARDED_EMAIL",
    }


def test_goals_answer_to_every_name(fapi: Api) -> None:
    first = fapi.get("/crm/v3/objects/goal_targets", limit=3).json()["results"]
    assert len(first) == 3
    assert first == fapi.get("/crm/v3/objects/goals", limit=3).json()["results"]
    assert first == fapi.get("/crm/v3/objects/0-74", limit=3).json()["results"]
    assert fapi.get("/crm/v3/objects/call", limit=1).status_code == 200  # singular name


def test_line_items_point_at_products(fapi: Api) -> None:
    products = {r["id"]: r for r in fapi.get("/crm/v3/objects/products", limit=100).json()["results"]}
    items = fapi.get("/crm/v3/objects/line_items", limit=100).json()["results"]
    linked = [i for i in items if i["properties"]["hs_product_id"]]
    assert linked
    for item in linked:
        product = products[item["properties"]["hs_product_id"]]
        assert item["properties"]["name"] == product["properties"]["name"]
        assert item["properties"]["price"] == product["properties"]["price"]


@pytest.mark.parametrize(("src", "dst", "forward", "inverse"), ASSOCIATION_TYPES)
def test_association_types_both_ways(fapi: Api, src: str, dst: str, forward: int, inverse: int) -> None:
    labels = fapi.get(f"/crm/associations/v4/{src}/{dst}/labels").json()["results"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": forward, "label": None} in labels
    back = fapi.get(f"/crm/associations/v4/{dst}/{src}/labels").json()["results"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": inverse, "label": None} in back
    ids = [r["id"] for r in fapi.get(f"/crm/v3/objects/{src}", limit=30).json()["results"]]
    body = fapi.post(
        f"/crm/v4/associations/{src}/{dst}/batch/read", {"inputs": [{"id": i} for i in ids]}
    ).json()
    assert body["results"], f"no generated {src} -> {dst} links"
    first = body["results"][0]
    target = first["to"][0]
    assert {"category": "HUBSPOT_DEFINED", "typeId": forward, "label": None} in target["associationTypes"]
    reverse = fapi.post(
        f"/crm/v4/associations/{dst}/{src}/batch/read", {"inputs": [{"id": target["toObjectId"]}]}
    ).json()["results"][0]
    hit = next(t for t in reverse["to"] if t["toObjectId"] == first["from"]["id"])
    assert {"category": "HUBSPOT_DEFINED", "typeId": inverse, "label": None} in hit["associationTypes"]


def test_leads_have_a_primary_contact(fapi: Api) -> None:
    ids = [r["id"] for r in fapi.get("/crm/v3/objects/leads", limit=10).json()["results"]]
    body = fapi.post(
        "/crm/v4/associations/leads/contacts/batch/read", {"inputs": [{"id": i} for i in ids]}
    ).json()
    assert len(body["results"]) == len(ids)
    for result in body["results"]:
        types = result["to"][0]["associationTypes"]
        assert {"category": "HUBSPOT_DEFINED", "typeId": 578, "label": "Primary"} in types


def test_family_scopes_are_enforced(fam_srv: SandboxServer) -> None:
    fam_srv.config.tokens.update(
        {
            "contacts-only": ["crm.objects.contacts.read"],
            "ecommerce": ["e-commerce"],
            "no-line-items": ["crm.objects.deals.read", "crm.objects.products.read"],
        }
    )
    try:
        contacts_only = Api(fam_srv, "contacts-only")
        for name in ENGAGEMENT_PROPS:  # HubSpot reads engagements with the contacts scope
            assert contacts_only.get(f"/crm/v3/objects/{name}", limit=1).status_code == 200
        denied = contacts_only.get("/crm/v3/objects/quotes", limit=1)
        assert denied.status_code == 403 and denied.json()["context"]["requiredScopes"] == [
            "crm.objects.quotes.read"
        ]
        ecommerce = Api(fam_srv, "ecommerce")
        for name in ("products", "line_items"):
            assert ecommerce.get(f"/crm/v3/objects/{name}", limit=1).status_code == 200
        no_items = Api(fam_srv, "no-line-items")
        resp = no_items.post("/crm/v4/associations/deals/line_items/batch/read", {"inputs": [{"id": "1"}]})
        assert resp.status_code == 403 and "crm.objects.line_items.read" in resp.json()["message"]
        for path, scope in [
            ("/crm/v3/objects/invoices", "crm.objects.invoices.read"),
            ("/crm/v3/objects/leads", "crm.objects.leads.read"),
            ("/crm/v3/objects/goals", "crm.objects.goals.read"),
        ]:
            resp = contacts_only.get(path)
            assert resp.status_code == 403 and resp.json()["context"]["requiredScopes"] == [scope]
    finally:
        for token in ("contacts-only", "ecommerce", "no-line-items"):
            fam_srv.config.tokens.pop(token)


def test_object_library_objects_exist_once_activated(fam_srv: SandboxServer) -> None:
    api = Api(fam_srv)
    assert api.get("/crm/object-library/2026-03/enablement").json() == {
        "enablementByObjectTypeId": {"0-162": True, "0-421": True, "0-410": True, "0-420": True}
    }
    portal = generate_portal(
        seed=3, contacts=5, companies=2, deals=2, tickets=1, custom=3, object_library={"listings": 4}
    )
    with SandboxServer(portal, open_config()) as srv:
        lib = Api(srv)
        enablement = lib.get("/crm/v3/object-library/enablement").json()["enablementByObjectTypeId"]
        assert enablement == {"0-162": False, "0-421": False, "0-410": False, "0-420": True}
        assert lib.get("/crm/object-library/2026-03/enablement/0-420").json() == {"enablement": True}
        assert len(lib.get("/crm/v3/objects/listings").json()["results"]) == 4
        missing = lib.get("/crm/v3/objects/courses")
        assert missing.status_code == 404
        assert missing.json()["message"] == "Unable to infer object type from: courses"
        assert lib.get("/crm/v3/properties/0-410").status_code == 404
        assert lib.get("/crm/associations/v4/courses/contacts/labels").status_code == 404
        activated = lib.admin("PUT", "object-library/courses", {"enabled": True}, expect=200).json()
        assert activated == {"objectTypeId": "0-410", "name": "courses", "enablement": True}
        assert lib.get("/crm/v3/objects/courses").json() == {"results": []}
        labels = lib.get("/crm/associations/v4/courses/contacts/labels").json()["results"]
        assert {"category": "HUBSPOT_DEFINED", "typeId": 860, "label": None} in labels
        # HubSpot's Services and the portal's custom "services" object: the bare name keeps
        # meaning the custom object, the objectTypeId reaches HubSpot's
        lib.admin("PUT", "object-library/0-162", {"enabled": True}, expect=200)
        custom = lib.get("/crm/v3/objects/services", limit=1).json()["results"][0]
        assert (
            "service_name"
            in lib.get(f"/crm/v3/objects/services/{custom['id']}", properties="service_name").json()[
                "properties"
            ]
        )
        assert lib.get("/crm/v3/objects/0-162").json() == {"results": []}
        assert (
            lib.get("/crm/v3/objects/p12345678_services", limit=1).json()["results"][0]["id"] == custom["id"]
        )


def test_account_details(fapi: Api) -> None:
    resp = fapi.get("/account-info/v3/details")
    assert resp.status_code == 200
    assert resp.json() == {
        "portalId": 12345678,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18000000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }
    assert fapi.get("/account-info/2026-03/details").json() == resp.json()
    assert Api(fapi.srv, token="wrong").get("/account-info/v3/details").status_code == 401


def test_owners_have_teams_and_user_ids(fapi: Api) -> None:
    owners = fapi.get("/crm/v3/owners", limit=100).json()["results"]
    people = [o for o in owners if o["type"] == "PERSON"]
    assert people and all(isinstance(o["userId"], int) for o in people)
    for owner in owners:
        assert owner["teams"] and set(owner["teams"][0]) == {"id", "name", "primary"}
        assert [t for t in owner["teams"] if t["primary"]]


def test_families_and_library_objects_round_trip_through_fixtures() -> None:
    import copy

    from hubspot_sandbox import Portal

    portal = generate_portal(
        seed=2,
        contacts=20,
        companies=4,
        deals=4,
        tickets=2,
        custom=3,
        extra_properties=1,
        calls=5,
        line_items=4,
        object_library={"services": 3, "listings": 2},
    )
    data = portal.to_dict()
    assert {"2-1001", "0-162", "calls", "line_items", "listings"} <= set(data["records"])  # names clash: ids
    again = Portal.from_dict(copy.deepcopy(data))
    assert again.to_dict() == data
    assert len(again.object_type("0-162").ids) == 3 and len(again.object_type("services").ids) == 3
    assert again.history_snapshot("calls") == portal.history_snapshot("calls")
    assert again.library_enablement() == {"0-162": True, "0-421": False, "0-410": False, "0-420": True}
