"""HubSpot-compatible read endpoints of the sandbox over real HTTP: shapes, paging, paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hubspot_sandbox import SandboxServer, generate_portal
from sandbox_helpers import Api, open_config

V3 = {
    "list": "/crm/v3/objects/{t}",
    "search": "/crm/v3/objects/{t}/search",
    "batch": "/crm/v3/objects/{t}/batch/read",
    "props": "/crm/v3/properties/{t}",
    "schemas": "/crm-object-schemas/v3/schemas",
    "pipes": "/crm/v3/pipelines/{t}",
    "owners": "/crm/v3/owners",
    "assoc": "/crm/v4/associations/{f}/{t}/batch/read",
    "labels": "/crm/associations/v4/{f}/{t}/labels",
}
V2026 = {
    "list": "/crm/objects/2026-09/{t}",
    "search": "/crm/objects/2026-09/{t}/search",
    "batch": "/crm/objects/2026-09/{t}/batch/read",
    "props": "/crm/properties/2026-09/{t}",
    "schemas": "/crm-object-schemas/2026-09/schemas",
    "pipes": "/crm/pipelines/2026-09/{t}",
    "owners": "/crm/owners/2026-09",
    "assoc": "/crm/associations/2026-09/{f}/{t}/batch/read",
    "labels": "/crm/associations/2026-09/{f}/{t}/labels",
}


@pytest.fixture(scope="module")
def gen_srv() -> Iterator[SandboxServer]:
    portal = generate_portal(
        seed=5, contacts=260, companies=12, deals=40, tickets=20, custom=15, extra_properties=10
    )
    with SandboxServer(portal, open_config(association_page_size=7)) as srv:
        yield srv


@pytest.fixture
def gapi(gen_srv: SandboxServer) -> Api:
    return Api(gen_srv)


def _walk_list(api: Api, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    rows, pages, after = [], 0, None
    while True:
        query = dict(params, **({"after": after} if after else {}))
        resp = api.get(path, **query)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows += body["results"]
        pages += 1
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return rows, pages


def test_list_paging_covers_all_visible_records_in_id_order(gapi: Api, gen_srv: SandboxServer) -> None:
    rows, pages = _walk_list(gapi, "/crm/v3/objects/contacts", limit=100)
    snap = gen_srv.portal.snapshot("contacts")
    expected = [r["id"] for r in snap["records"] if not r["archived"]]
    assert [r["id"] for r in rows] == expected
    assert pages == -(-len(expected) // 100)
    assert all(set(r) == {"id", "properties", "createdAt", "updatedAt", "archived"} for r in rows)
    first = rows[0]["properties"]
    assert set(first) == {"firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"}
    assert first["hs_object_id"] == rows[0]["id"]
    assert first["lastmodifieddate"] == rows[0]["updatedAt"]


def test_list_cursor_is_opaque_and_link_absolute(gapi: Api) -> None:
    body = gapi.get("/crm/v3/objects/contacts", limit=3, properties="email,firstname").json()
    after = body["paging"]["next"]["after"]
    assert not after.isdigit()
    link = body["paging"]["next"]["link"]  # absolute, keeping the request's parameters (as HubSpot's)
    assert link == f"{gapi.srv.url}/crm/v3/objects/contacts?limit=3&properties=email,firstname&after={after}"
    followed = gapi.session.get(link, headers=gapi._headers(), timeout=10).json()
    assert len(followed["results"]) == 3 and set(followed["results"][0]["properties"]) >= {
        "email",
        "firstname",
    }
    assert gapi.get("/crm/v3/objects/contacts", after="not-a-cursor!").status_code == 400


def test_list_properties_param_and_unknown_ignored(gapi: Api) -> None:
    body = gapi.get("/crm/v3/objects/deals", limit=2, properties="dealname,amount,nope_missing").json()
    props = body["results"][0]["properties"]
    assert set(props) == {"dealname", "amount", "createdate", "hs_lastmodifieddate", "hs_object_id"}
    body = gapi.get("/crm/v3/objects/deals", limit=1).json()
    assert {"dealname", "amount", "closedate", "pipeline", "dealstage"} <= set(
        body["results"][0]["properties"]
    )


def test_all_values_are_strings_or_null(gapi: Api, gen_srv: SandboxServer) -> None:
    names = ",".join(gen_srv.portal.object_type("contacts").properties)
    body = gapi.post(
        V3["batch"].format(t="contacts"), {"inputs": [{"id": "101"}], "properties": names.split(",")}
    )
    for value in body.json()["results"][0]["properties"].values():
        assert value is None or isinstance(value, str)
    assert len(names) < 16_000  # fits in a URL too
    row = gapi.get("/crm/v3/objects/contacts", limit=1, properties=names).json()["results"][0]["properties"]
    assert row["hs_email_optout"] in ("true", "false")
    assert row["createdate"].endswith("Z") and len(row["createdate"]) == 24


def _without_links(body: Any) -> Any:
    """A body with ``paging.next.link`` removed (links name the path they were asked on)."""
    if isinstance(body, dict):
        return {k: _without_links(v) for k, v in body.items() if k != "link"}
    if isinstance(body, list):
        return [_without_links(v) for v in body]
    return body


def test_object_type_aliases(gapi: Api) -> None:
    by_name = gapi.get("/crm/v3/objects/services", limit=5).json()
    by_id = gapi.get("/crm/v3/objects/2-1001", limit=5).json()
    by_fqn = gapi.get("/crm/v3/objects/p12345678_services", limit=5).json()
    assert _without_links(by_name) == _without_links(by_id) == _without_links(by_fqn)
    contacts = _without_links(gapi.get("/crm/v3/objects/contacts", limit=5).json())
    assert _without_links(gapi.get("/crm/v3/objects/0-1", limit=5).json()) == contacts
    assert _without_links(gapi.get("/crm/v3/objects/contact", limit=5).json()) == contacts  # singular
    resp = gapi.get("/crm/v3/objects/xyz")
    assert resp.status_code == 404
    assert resp.json()["message"] == "Unable to infer object type from: xyz"
    assert resp.json()["category"] == "OBJECT_NOT_FOUND"


def test_archived_listing_returns_only_archived(gapi: Api, gen_srv: SandboxServer) -> None:
    rows, _ = _walk_list(gapi, "/crm/v3/objects/contacts", limit=100, archived="true")
    snap = gen_srv.portal.snapshot("contacts")
    assert [r["id"] for r in rows] == [r["id"] for r in snap["records"] if r["archived"]]
    assert rows and all(r["archived"] is True and r["archivedAt"] for r in rows)


def test_merged_records_hidden_everywhere(gapi: Api, gen_srv: SandboxServer) -> None:
    snap = gen_srv.portal.snapshot("contacts")
    merged = snap["merged"]
    assert merged
    live, _ = _walk_list(gapi, "/crm/v3/objects/contacts", limit=100)
    archived, _ = _walk_list(gapi, "/crm/v3/objects/contacts", limit=100, archived="true")
    seen = {r["id"] for r in live + archived}
    assert not seen & set(merged)
    for merged_id, survivor in merged.items():
        body = gapi.post(
            V3["batch"].format(t="contacts"),
            {"inputs": [{"id": survivor}], "properties": ["hs_merged_object_ids"]},
        ).json()
        assert merged_id in body["results"][0]["properties"]["hs_merged_object_ids"].split(";")
    search = gapi.post(V3["search"].format(t="contacts"), {"limit": 200}).json()
    assert search["total"] == len(live)


def test_v3_and_2026_09_paths_give_identical_bodies(gapi: Api) -> None:
    def calls(paths: dict[str, str]) -> list[Any]:
        out = [
            gapi.get(paths["list"].format(t="contacts"), limit=5, properties="email").json(),
            gapi.post(
                paths["search"].format(t="deals"), {"limit": 5, "sorts": [{"propertyName": "amount"}]}
            ).json(),
            gapi.get(paths["props"].format(t="companies")).json(),
            gapi.get(paths["schemas"]).json(),
            gapi.get(paths["pipes"].format(t="deals")).json(),
            gapi.get(paths["owners"], limit=3).json(),
            gapi.get(paths["labels"].format(f="contacts", t="companies")).json(),
        ]
        batch = gapi.post(
            paths["batch"].format(t="contacts"), {"inputs": [{"id": "101"}, {"id": "102"}]}
        ).json()
        assoc = gapi.post(
            paths["assoc"].format(f="companies", t="contacts"), {"inputs": [{"id": "3000000001"}]}
        ).json()
        for body in (batch, assoc):
            body.pop("startedAt"), body.pop("completedAt")
        return out + [batch, assoc]

    assert _without_links(calls(V3)) == _without_links(calls(V2026))
    assert gapi.get("/crm/v4/associations/contacts/companies/labels").json() == calls(V3)[6]


def test_properties_endpoint(gapi: Api) -> None:
    body = gapi.get("/crm/v3/properties/contacts").json()
    assert set(body) == {"results"}
    props = {p["name"]: p for p in body["results"]}
    for name in (
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
    ):
        assert name in props
    assert (
        props["hs_buying_role"]["type"] == "enumeration"
        and props["hs_buying_role"]["fieldType"] == "checkbox"
    )
    assert props["lifecyclestage"]["options"][0]["value"] == "subscriber"
    types = {p["type"] for p in props.values()}
    assert types == {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
    for p in props.values():
        assert {"name", "label", "type", "fieldType", "groupName", "description", "options"} <= set(p)
    assert any(len(n) > 63 for n in props)


def test_schemas_only_custom(gapi: Api) -> None:
    body = gapi.get("/crm-object-schemas/v3/schemas").json()
    assert [s["objectTypeId"] for s in body["results"]] == ["2-1001"]
    schema = body["results"][0]
    assert schema["name"] == "services" and schema["fullyQualifiedName"] == "p12345678_services"
    assert schema["labels"] == {"singular": "Service", "plural": "Services"}
    assert schema["primaryDisplayProperty"] == "service_name"
    assert any(a["toObjectTypeId"] == "0-1" for a in schema["associations"])
    assert gapi.get("/crm/v3/schemas").json() == body
    assert gapi.get("/crm-object-schemas/v3/schemas/p12345678_services").json() == schema
    assert gapi.get("/crm-object-schemas/v3/schemas/contacts").status_code == 404


def test_pipelines(api: Api) -> None:
    active = api.get("/crm/v3/pipelines/deals").json()["results"]
    assert [p["id"] for p in active] == ["default"]
    stages = {s["id"]: s for s in active[0]["stages"]}
    assert "oldstage" not in stages
    assert stages["closedwon"]["metadata"] == {"probability": "1.0", "isClosed": "true"}
    assert stages["appointmentscheduled"]["metadata"]["probability"] == "0.2"
    everything = api.get("/crm/v3/pipelines/deals", archived="true").json()["results"]
    assert {p["id"]: p["archived"] for p in everything} == {"default": False, "1234567": True}
    old = next(s for s in everything[0]["stages"] if s["id"] == "oldstage")
    assert old["archived"] is True and old["archivedAt"]
    tickets = api.get("/crm/pipelines/2026-09/tickets").json()["results"][0]
    assert {s["metadata"]["ticketState"] for s in tickets["stages"]} == {"OPEN", "CLOSED"}


def test_owners_paging_and_archived(gapi: Api, gen_srv: SandboxServer) -> None:
    rows, pages = _walk_list(gapi, "/crm/v3/owners", limit=3)
    all_owners = gen_srv.portal.owners_snapshot()["owners"]
    assert [o["id"] for o in rows] == [o["id"] for o in all_owners if not o["archived"]]
    assert pages > 1
    archived, _ = _walk_list(gapi, "/crm/v3/owners", archived="true")
    assert archived and all(o["archived"] for o in archived)
    assert {o["type"] for o in rows} == {"PERSON", "QUEUE"}
    assert gapi.get("/crm/v3/owners", limit=500).status_code == 200
    resp = gapi.get("/crm/v3/owners", limit=501)
    assert resp.status_code == 400 and "500" in resp.json()["message"]


def test_batch_read_partial_207(api: Api) -> None:
    resp = api.post(
        "/crm/v3/objects/contacts/batch/read",
        {"inputs": [{"id": "1"}, {"id": "999"}, {"id": "5"}, {"id": "4"}], "properties": ["email"]},
    )
    assert resp.status_code == 207
    body = resp.json()
    assert [r["id"] for r in body["results"]] == ["1"]
    assert body["numErrors"] == 1
    err = body["errors"][0]
    assert err["category"] == "OBJECT_NOT_FOUND" and err["context"]["ids"] == ["999", "5", "4"]
    ok = api.post("/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": "1"}]})
    assert ok.status_code == 200 and ok.json()["status"] == "COMPLETE"
    archived = api.post("/crm/v3/objects/contacts/batch/read?archived=true", {"inputs": [{"id": "4"}]})
    assert archived.status_code == 200 and archived.json()["results"][0]["archived"] is True


def test_association_batch_read_paging(gapi: Api, gen_srv: SandboxServer) -> None:
    path = "/crm/v4/associations/companies/contacts/batch/read"
    company_ids = [r["id"] for r in gen_srv.portal.snapshot("companies")["records"] if not r["archived"]]
    expected: dict[str, set[int]] = {}
    for assoc in gen_srv.portal.snapshot("companies")["associations"]:
        if assoc["toType"] == "contacts" and assoc["fromId"] in company_ids:
            expected.setdefault(assoc["fromId"], set()).add(int(assoc["toId"]))
    live_contacts = {
        int(r["id"]) for r in gen_srv.portal.snapshot("contacts")["records"] if not r["archived"]
    }
    expected = {k: v & live_contacts for k, v in expected.items() if v & live_contacts}
    got: dict[str, set[int]] = {}
    pending = [{"id": cid} for cid in company_ids]
    rounds = 0
    while pending:
        rounds += 1
        body = gapi.post(path, {"inputs": pending}).json()
        pending = []
        for result in body["results"]:
            assert len(result["to"]) <= 7
            for to in result["to"]:
                assert isinstance(to["toObjectId"], str)  # a string in the v4 and 2026-09 specs
                assert to["associationTypes"][0]["category"] in ("HUBSPOT_DEFINED", "USER_DEFINED")
                got.setdefault(result["from"]["id"], set()).add(int(to["toObjectId"]))
            after = result.get("paging", {}).get("next", {}).get("after")
            if after:
                pending.append({"id": result["from"]["id"], "after": after})
    assert got == expected
    assert rounds > 2
    resp = gapi.post(path, {"inputs": [{"id": "1"}, {"id": company_ids[0]}]})
    assert resp.status_code == 207 and resp.json()["errors"][0]["context"]["ids"] == ["1"]


def test_association_types_and_labels(api: Api) -> None:
    body = api.post("/crm/v4/associations/contacts/companies/batch/read", {"inputs": [{"id": "1"}]}).json()
    types = body["results"][0]["to"][0]["associationTypes"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None} in types
    assert {"category": "USER_DEFINED", "typeId": 501, "label": "Billing contact"} in types
    back = api.post("/crm/v4/associations/companies/contacts/batch/read", {"inputs": [{"id": "101"}]}).json()
    to_ids = [t["toObjectId"] for t in back["results"][0]["to"]]
    assert to_ids == ["1"]  # contact 5 was merged into 1: its association moved to the survivor
    labels = api.get("/crm/associations/v4/deals/companies/labels").json()["results"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": None} in labels
    no_assoc = api.post("/crm/v4/associations/contacts/deals/batch/read", {"inputs": [{"id": "6"}]})
    assert no_assoc.status_code == 200 and no_assoc.json()["results"] == []


def test_single_object_get(api: Api) -> None:
    body = api.get("/crm/v3/objects/contacts/1", properties="email").json()
    assert body["id"] == "1" and body["properties"]["email"] == "alice@acme.example"
    assert api.get("/crm/v3/objects/contacts/5").json()["id"] == "1"  # merged id resolves to survivor
    assert api.get("/crm/v3/objects/contacts/4").status_code == 404
    assert api.get("/crm/v3/objects/contacts/4", archived="true").json()["archived"] is True
