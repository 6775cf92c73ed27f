"""Fault knobs and the /_sandbox admin API, over real HTTP."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from hubspot_sandbox import Portal, SandboxServer
from sandbox_helpers import Api, open_config

LIST = "/crm/v3/objects/contacts"


# -------------------------------------------------------------------- faults
def test_fault_5xx(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.fault_5xx_rate = 1.0
    codes = {api.get(LIST).status_code for _ in range(30)}
    assert codes <= {500, 502, 503} and len(codes) >= 2
    assert demo_srv.counters()["faults.5xx"] == 30
    # admin API is never faulted
    assert api.admin("GET", "health").status_code == 200


def test_fault_429_without_retry_after(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.fault_429_rate = 1.0
    resp = api.get(LIST)
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    assert resp.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert demo_srv.counters()["faults.429"] == 1 and demo_srv.counters()["responses.429"] == 1


def test_fault_drop_connection(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.drop_connection_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        api.get(LIST)
    demo_srv.config.drop_connection_rate = 0.0
    assert api.get(LIST).status_code == 200
    assert demo_srv.counters()["faults.drop"] == 1


def test_fault_truncated_body(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.truncate_body_rate = 1.0
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        api.get(LIST)
    # the raw bytes: full Content-Length announced, only part of the body sent
    host, port = demo_srv.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"GET {LIST} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sandbox-token\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
    )
    assert head.startswith(b"HTTP/1.1 200") and 0 < len(body) < length
    assert demo_srv.counters()["faults.truncate"] == 2


def test_fault_rates_are_seeded_and_reproducible() -> None:
    def run() -> list[int]:
        cfg = open_config(fault_5xx_rate=0.3, fault_429_rate=0.2, seed=42)
        with SandboxServer(Portal.demo(), cfg) as srv:
            api = Api(srv)
            return [api.get("/crm/v3/owners").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and 429 in first and any(code >= 500 for code in first)


def test_latency_knob(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.latency_ms = 150
    start = time.monotonic()
    assert api.get(LIST).status_code == 200
    assert time.monotonic() - start >= 0.15


# --------------------------------------------------------------------- admin
def test_admin_create_update_archive_restore(api: Api, demo_srv: SandboxServer) -> None:
    rec = api.admin("POST", "objects/contacts", {"properties": {"email": "new@x.example"}}, expect=201).json()
    assert rec["id"] == "7" and rec["properties"]["hs_object_id"] == "7"
    assert rec["properties"]["lastmodifieddate"] == rec["updatedAt"] == rec["createdAt"]
    time.sleep(0.005)
    upd = api.admin("PATCH", "objects/contacts/7", {"properties": {"firstname": "Neo"}}, expect=200).json()
    assert upd["updatedAt"] > rec["updatedAt"] and upd["properties"]["lastmodifieddate"] == upd["updatedAt"]
    assert upd["properties"]["firstname"] == "Neo"
    arch = api.admin("DELETE", "objects/contacts/7", expect=200).json()
    assert arch["archived"] is True and arch["archivedAt"] and arch["updatedAt"] == upd["updatedAt"]
    assert "7" not in [r["id"] for r in api.get(LIST, limit=100).json()["results"]]
    assert "7" in [r["id"] for r in api.get(LIST, limit=100, archived="true").json()["results"]]
    api.admin("PATCH", "objects/contacts/7", {"properties": {"firstname": "x"}}, expect=404)
    restored = api.admin("POST", "objects/contacts/7/restore", expect=200).json()
    assert restored["archived"] is False and restored["updatedAt"] > arch["updatedAt"]
    bad = api.admin("POST", "objects/contacts", {"properties": {"nope": "1"}}, expect=400).json()
    assert "nope" in bad["message"]
    api.admin("POST", "objects/contacts", {"properties": {"hs_email_optout": "maybe"}}, expect=400)
    api.admin("PATCH", "objects/contacts/7", {"properties": {"lastmodifieddate": "2024-01-01"}}, expect=400)
    explicit = api.admin(
        "PATCH", "objects/contacts/7", {"updatedAt": "2030-01-01T00:00:00Z"}, expect=200
    ).json()
    assert explicit["properties"]["lastmodifieddate"] == "2030-01-01T00:00:00.000Z"


def test_admin_merge(api: Api, demo_srv: SandboxServer) -> None:
    before = api.admin("GET", "objects/contacts/2").json()
    survivor = api.admin(
        "POST", "objects/contacts/merge", {"primaryObjectId": "2", "objectIdToMerge": "1"}, expect=200
    )
    merged = survivor.json()
    assert merged["properties"]["hs_merged_object_ids"].split(";") == ["1", "5"]
    assert merged["updatedAt"] > before["updatedAt"]
    ids = [r["id"] for r in api.get(LIST, limit=100).json()["results"]]
    assert "1" not in ids and "2" in ids
    archived = [r["id"] for r in api.get(LIST, limit=100, archived="true").json()["results"]]
    assert "1" not in archived
    state = api.admin("GET", "state/contacts").json()
    assert state["merged"] == {"1": "2", "5": "2"}
    # associations moved to the survivor (with their labels)
    body = api.post("/crm/v4/associations/contacts/companies/batch/read", {"inputs": [{"id": "2"}]}).json()
    to = {t["toObjectId"]: t["associationTypes"] for t in body["results"][0]["to"]}
    assert set(to) == {"101", "102"} and any(t["typeId"] == 501 for t in to["101"])
    deals = api.post("/crm/v4/associations/deals/contacts/batch/read", {"inputs": [{"id": "201"}]}).json()
    assert [t["toObjectId"] for t in deals["results"][0]["to"]] == ["2"]
    api.admin("POST", "objects/contacts/merge", {"primaryObjectId": "2", "objectIdToMerge": "1"}, expect=404)


def test_admin_associations(api: Api) -> None:
    before = api.admin("GET", "objects/contacts/6").json()
    entry = api.admin("PUT", "associations/contacts/6/companies/103", expect=200).json()
    assert entry["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}]
    back = api.post("/crm/v4/associations/companies/contacts/batch/read", {"inputs": [{"id": "103"}]}).json()
    assert "6" in [t["toObjectId"] for t in back["results"][0]["to"]]
    assert back["results"][0]["to"][-1]["associationTypes"][0]["typeId"] == 2
    labelled = api.admin("PUT", "associations/contacts/6/companies/102", {"typeId": 501}, expect=200).json()
    assert [t["typeId"] for t in labelled["associationTypes"]] == [1, 501]
    assert api.admin("GET", "objects/contacts/6").json()["updatedAt"] == before["updatedAt"]
    api.admin("DELETE", "associations/contacts/6/companies/103", expect=200)
    back = api.post("/crm/v4/associations/companies/contacts/batch/read", {"inputs": [{"id": "103"}]}).json()
    assert "6" not in [t["toObjectId"] for r in back["results"] for t in r["to"]]
    api.admin("DELETE", "associations/contacts/6/companies/103", expect=404)
    api.admin("PUT", "associations/contacts/6/companies/999", expect=404)
    api.admin("PUT", "associations/contacts/6/companies/101", {"typeId": 77}, expect=400)


def test_admin_add_property_and_owner(api: Api) -> None:
    prop = {"name": "shoe_size", "label": "Shoe size", "type": "number"}
    created = api.admin("POST", "properties/contacts", prop, expect=201).json()
    assert created["fieldType"] == "number" and created["hubspotDefined"] is False
    names = [p["name"] for p in api.get("/crm/v3/properties/contacts").json()["results"]]
    assert "shoe_size" in names
    row = api.get(LIST, limit=1, properties="shoe_size").json()["results"][0]
    assert row["properties"]["shoe_size"] is None
    api.admin("PATCH", f"objects/contacts/{row['id']}", {"properties": {"shoe_size": 44}}, expect=200)
    assert (
        api.get(LIST, limit=1, properties="shoe_size").json()["results"][0]["properties"]["shoe_size"] == "44"
    )
    api.admin("POST", "properties/contacts", prop, expect=409)
    api.admin("POST", "properties/contacts", {"name": "Bad Name", "type": "string"}, expect=400)
    api.admin("POST", "owners", {"id": "2000", "email": "z@x.example", "firstName": "Zed"}, expect=201)
    owners = [o["id"] for o in api.get("/crm/v3/owners").json()["results"]]
    assert "2000" in owners


def test_admin_counters_config_state(api: Api, demo_srv: SandboxServer) -> None:
    api.get(LIST)
    api.post("/crm/v3/objects/contacts/search", {})
    api.get("/crm/v3/owners", limit=9999)
    counters = api.admin("GET", "counters", expect=200).json()
    assert counters["objects.list"] == 1 and counters["objects.search"] == 1 and counters["owners"] == 1
    assert counters["responses.200"] == 2 and counters["responses.400"] == 1
    assert counters == demo_srv.counters()
    api.admin("POST", "counters/reset", expect=200)
    assert api.admin("GET", "counters").json() == {}
    cfg = api.admin("PATCH", "config", {"latency_ms": 5, "fault_5xx_rate": 0.0}, expect=200).json()
    assert cfg["latency_ms"] == 5 and demo_srv.config.latency_ms == 5
    api.admin("PATCH", "config", {"no_such_knob": 1}, expect=400)
    assert api.admin("GET", "config").json()["tokens"] == {
        "sandbox-token": demo_srv.config.tokens["sandbox-token"]
    }
    state = api.admin("GET", "state/contacts", expect=200).json()
    ids = [r["id"] for r in state["records"]]
    assert ids == ["1", "2", "3", "4", "6"]
    assert next(r for r in state["records"] if r["id"] == "4")["archived"] is True
    assert state["merged"] == {"5": "1"}
    assert {"fromId": "1", "toType": "companies", "toId": "101"}.items() <= state["associations"][0].items()
    alice = state["records"][0]["properties"]
    assert (
        alice["favorite_flavors"] == "chocolate;vanilla"
        and alice["last_seen_at"] == "2024-02-29T17:45:12.345Z"
    )
    owners = api.admin("GET", "state/owners").json()["owners"]
    assert any(o["archived"] for o in owners)
    assert api.admin("GET", "state/nope").status_code == 404
    assert api.admin("GET", "nothing-here").status_code == 404
    assert api.admin("POST", "ratelimit/reset").status_code == 200


def test_concurrent_reads_and_writes(demo_srv: SandboxServer) -> None:
    """Many keep-alive clients reading while others mutate: no errors, consistent final state."""
    from concurrent.futures import ThreadPoolExecutor

    def reader(_: int) -> set[int]:
        api = Api(demo_srv)
        codes = set()
        for _ in range(15):
            codes.add(api.get(LIST, limit=100).status_code)
            codes.add(api.post("/crm/v3/objects/contacts/search", {"limit": 50}).status_code)
        return codes

    def writer(n: int) -> set[int]:
        api = Api(demo_srv)
        return {
            api.admin("POST", "objects/companies", {"properties": {"name": f"Co {n}-{i}"}}).status_code
            for i in range(15)
        }

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(reader, range(4))) + list(pool.map(writer, range(4)))
    assert set().union(*results) == {200, 201}
    companies = demo_srv.portal.snapshot("companies")["records"]
    assert len(companies) == 3 + 60 and len({r["id"] for r in companies}) == 63
