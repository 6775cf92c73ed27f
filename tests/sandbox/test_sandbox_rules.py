"""HubSpot rules enforced by the sandbox: auth, scopes, limits, rate limiting, 414, search semantics."""

from __future__ import annotations

import time
from typing import Any

from hubspot_sandbox import ALL_SCOPES, SandboxServer
from sandbox_helpers import TOKEN, Api

SEARCH = "/crm/v3/objects/contacts/search"


def _flt(prop: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    flt = {"propertyName": prop, "operator": op, **extra}
    if value is not None:
        flt["value"] = value
    return {"filterGroups": [{"filters": [flt]}], "limit": 100}


def _ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["results"]]


# ----------------------------------------------------------------------- auth
def test_401_missing_or_unknown_token(demo_srv: SandboxServer) -> None:
    for token in (None, "nope"):
        resp = Api(demo_srv, token).get("/crm/v3/objects/contacts")
        assert resp.status_code == 401
        body = resp.json()
        assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found. This API supports OAuth 2.0")
        assert len(body["correlationId"]) == 36


def test_403_missing_scope_names_it(demo_srv: SandboxServer) -> None:
    demo_srv.config.tokens = {
        TOKEN: ALL_SCOPES,
        "limited": [s for s in ALL_SCOPES if s != "crm.objects.deals.read"],
    }
    api = Api(demo_srv, "limited")
    assert api.get("/crm/v3/objects/contacts").status_code == 200
    for resp in (
        api.get("/crm/v3/objects/deals"),
        api.get("/crm/v3/properties/deals"),
        api.get("/crm/v3/pipelines/deals"),
        api.post("/crm/v4/associations/contacts/deals/batch/read", {"inputs": [{"id": "1"}]}),
    ):
        assert resp.status_code == 403
        body = resp.json()
        assert body["category"] == "MISSING_SCOPES"
        assert "crm.objects.deals.read" in body["message"]
        assert body["context"] == {"requiredScopes": ["crm.objects.deals.read"]}
        assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.deals.read"]
    demo_srv.config.tokens = {"owners-less": [s for s in ALL_SCOPES if "owners" not in s], "all": None}
    assert Api(demo_srv, "owners-less").get("/crm/v3/owners").status_code == 403
    assert Api(demo_srv, "all").get("/crm/v3/owners").status_code == 200  # None = every scope


# --------------------------------------------------------------- page limits
def test_page_size_limits_give_400(api: Api) -> None:
    assert api.get("/crm/v3/objects/contacts", limit=100).status_code == 200
    resp = api.get("/crm/v3/objects/contacts", limit=101)
    assert resp.status_code == 400
    body = resp.json()
    assert body["category"] == "VALIDATION_ERROR" and "100" in body["message"] and body["correlationId"]
    assert api.post(SEARCH, {"limit": 200}).status_code == 200
    assert api.post(SEARCH, {"limit": 201}).status_code == 400
    too_many = {"inputs": [{"id": str(i)} for i in range(101)]}
    resp = api.post("/crm/v3/objects/contacts/batch/read", too_many)
    assert resp.status_code == 400 and "100" in resp.json()["message"]
    resp = api.post(
        "/crm/v4/associations/contacts/companies/batch/read",
        {"inputs": [{"id": str(i)} for i in range(1001)]},
    )
    assert resp.status_code == 400 and "1000" in resp.json()["message"]


def test_search_10k_cap(api: Api) -> None:
    assert api.post(SEARCH, {"limit": 200, "after": "9800"}).status_code == 200
    resp = api.post(SEARCH, {"limit": 200, "after": "9801"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR" and "10000" in body["message"]


# --------------------------------------------------------------- rate limits
def test_search_secondly_limit_and_no_rate_headers(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.search_per_second = 5
    demo_srv.config.rate_limit_max = 190
    statuses = []
    for _ in range(7):
        resp = api.post(SEARCH, {})
        statuses.append(resp.status_code)
        assert not [h for h in resp.headers if h.lower().startswith("x-hubspot-ratelimit")]
        if resp.status_code == 429:
            body = resp.json()
            assert body["message"] == "You have reached your secondly limit."
            assert body["policyName"] == "SECONDLY" and body["errorType"] == "RATE_LIMIT"
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    time.sleep(1.05)
    assert api.post(SEARCH, {}).status_code == 200
    assert demo_srv.counters()["rate_limited.secondly"] >= 1


def test_rolling_window_429_with_retry_after(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.rate_limit_max = 5
    demo_srv.config.rate_limit_interval_ms = 2000
    demo_srv.config.daily_limit = 1000
    remaining = []
    for _ in range(5):
        resp = api.get("/crm/v3/owners")
        assert resp.status_code == 200
        assert resp.headers["X-HubSpot-RateLimit-Max"] == "5"
        assert resp.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "2000"
        assert int(resp.headers["X-HubSpot-RateLimit-Daily"]) == 1000
        remaining.append(int(resp.headers["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    resp = api.get("/crm/v3/objects/contacts")
    assert resp.status_code == 429
    body = resp.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert 1 <= int(resp.headers["Retry-After"]) <= 2
    assert demo_srv.counters()["responses.429"] == 1
    # other tokens have their own window
    demo_srv.config.tokens = {TOKEN: ALL_SCOPES, "other": ALL_SCOPES}
    assert Api(demo_srv, "other").get("/crm/v3/owners").status_code == 200
    # search is exempt from the ten-secondly window
    assert api.post(SEARCH, {}).status_code == 200
    time.sleep(float(resp.headers["Retry-After"]) + 0.05)
    assert api.get("/crm/v3/owners").status_code == 200


def test_search_and_association_batch_reads_are_exempt_from_the_ten_secondly_window(
    demo_srv: SandboxServer, api: Api
) -> None:
    """As HubSpot's specs declare (``x-hubspot-rate-limit-exemptions: ["ten-secondly"]``): with
    the window used up, list calls get 429 while search and association batch reads still
    answer, without rate-limit headers; all three count toward the daily limit."""
    demo_srv.config.rate_limit_max = 2
    demo_srv.config.rate_limit_interval_ms = 10_000
    demo_srv.config.search_per_second = 50
    demo_srv.config.daily_limit = 7
    assocs = "/crm/v4/associations/contacts/companies/batch/read"
    contact = _ids(api.post(SEARCH, {"limit": 1}))[0]  # daily: 1
    for _ in range(2):  # daily: 3
        assert api.get("/crm/v3/owners").status_code == 200
    listed = api.get("/crm/v3/objects/contacts")
    assert listed.status_code == 429 and listed.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    for _ in range(2):  # daily: 7
        read = api.post(assocs, {"inputs": [{"id": contact}]})
        assert read.status_code == 200, read.text
        assert not [h for h in read.headers if h.lower().startswith("x-hubspot-ratelimit")]
        assert api.post(SEARCH, {"limit": 1}).status_code == 200
    for response in (api.post(assocs, {"inputs": [{"id": contact}]}), api.post(SEARCH, {"limit": 1})):
        assert response.status_code == 429 and response.json()["policyName"] == "DAILY"
    assert demo_srv.counters()["rate_limited.ten_secondly"] == 1


def test_414_for_long_urls(api: Api, demo_srv: SandboxServer) -> None:
    long_props = ",".join(f"property_number_{i}" for i in range(1000))
    resp = api.get("/crm/v3/objects/contacts", properties=long_props)
    assert resp.status_code == 414
    assert "<title>414 Request-URI Too Large</title>" in resp.text
    demo_srv.config.max_url_length = None
    assert api.get("/crm/v3/objects/contacts", properties=long_props).status_code == 200


# -------------------------------------------------------------------- search
def test_contacts_lastmodifieddate_vs_hs_lastmodifieddate(api: Api) -> None:
    since = "2024-02-01T00:00:00Z"
    assert _ids(api.post(SEARCH, _flt("lastmodifieddate", "GTE", since))) == ["1", "2"]
    assert _ids(api.post(SEARCH, _flt("hs_lastmodifieddate", "GTE", since))) == []
    assert _ids(api.post(SEARCH, _flt("hs_lastmodifieddate", "LT", since))) == []
    deals = api.post("/crm/v3/objects/deals/search", _flt("hs_lastmodifieddate", "GTE", "1706745600000"))
    assert _ids(deals) == ["201", "202"]


def test_search_operators(api: Api) -> None:
    assert _ids(api.post(SEARCH, _flt("firstname", "EQ", "alice"))) == ["1"]
    assert _ids(api.post(SEARCH, _flt("firstname", "NEQ", "Alice"))) == ["2", "3", "6"]
    assert _ids(api.post(SEARCH, _flt("loyalty_points", "GT", "50"))) == ["1"]
    assert _ids(api.post(SEARCH, _flt("loyalty_points", "LTE", "120"))) == ["1", "3"]
    assert _ids(api.post(SEARCH, _flt("loyalty_points", "BETWEEN", "0", highValue="10"))) == ["3"]
    assert _ids(api.post(SEARCH, _flt("lifecyclestage", "IN", values=["lead", "customer"]))) == ["1", "2"]
    assert _ids(api.post(SEARCH, _flt("lifecyclestage", "NOT_IN", values=["lead"]))) == ["1", "3", "6"]
    assert _ids(api.post(SEARCH, _flt("phone", "HAS_PROPERTY"))) == ["2"]
    assert _ids(api.post(SEARCH, _flt("lastname", "NOT_HAS_PROPERTY"))) == ["6"]
    assert _ids(api.post(SEARCH, _flt("favorite_flavors", "EQ", "vanilla"))) == ["1"]
    assert _ids(api.post(SEARCH, _flt("hs_object_id", "GTE", "3"))) == ["3", "6"]
    assert _ids(api.post(SEARCH, _flt("createdate", "LT", "2024-01-06T11:00:00.000Z"))) == ["1", "6"]
    assert _ids(api.post(SEARCH, _flt("date_of_birth", "EQ", "1990-04-12"))) == ["1"]
    assert _ids(api.post(SEARCH, _flt("email", "CONTAINS_TOKEN", "*initech*"))) == ["3"]
    two_groups = {
        "filterGroups": [
            {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Bob"}]},
            {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "Carla"}]},
        ]
    }
    assert _ids(api.post(SEARCH, two_groups)) == ["2", "3"]
    assert _ids(api.post(SEARCH, {"query": "acme"})) == ["1"]
    assert api.post(SEARCH, _flt("no_such_prop", "EQ", "x")).status_code == 400
    assert api.post(SEARCH, _flt("firstname", "LIKE", "x")).status_code == 400


def test_search_sort_paging_and_shape(api: Api) -> None:
    body = {
        "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
        "limit": 2,
        "properties": ["email"],
    }
    first = api.post(SEARCH, body)
    assert first.status_code == 200 and "X-HubSpot-RateLimit-Max" not in first.headers
    page = first.json()
    assert page["total"] == 4 and [r["id"] for r in page["results"]] == ["3", "2"]
    assert set(page["results"][0]["properties"]) == {
        "email",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    }
    assert page["paging"]["next"]["after"] == "2"
    second = api.post(SEARCH, {**body, "after": page["paging"]["next"]["after"]}).json()
    assert [r["id"] for r in second["results"]] == ["1", "6"] and "paging" not in second
    two_sorts = {"sorts": [{"propertyName": "email"}, {"propertyName": "firstname"}]}
    assert api.post(SEARCH, two_sorts).status_code == 400


def test_search_index_lag(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.search_index_lag_s = 0.6
    created = api.admin(
        "POST", "objects/contacts", {"properties": {"firstname": "Lagged"}}, expect=201
    ).json()
    api.admin("PATCH", "objects/contacts/2", {"properties": {"firstname": "Robert"}}, expect=200)
    by_name = _flt("firstname", "EQ", "Lagged")
    assert _ids(api.post(SEARCH, by_name)) == []
    old = api.post(SEARCH, {**_flt("hs_object_id", "EQ", "2"), "properties": ["firstname"]}).json()[
        "results"
    ][0]
    assert old["properties"]["firstname"] == "Bob" and old["updatedAt"] == "2024-02-10T09:00:00.000Z"
    # list and batch read are consistent immediately
    listed = api.get("/crm/v3/objects/contacts", limit=100).json()["results"]
    assert created["id"] in [r["id"] for r in listed]
    time.sleep(0.7)
    assert _ids(api.post(SEARCH, by_name)) == [created["id"]]
    new = api.post(SEARCH, {**_flt("hs_object_id", "EQ", "2"), "properties": ["firstname"]}).json()[
        "results"
    ][0]
    assert new["properties"]["firstname"] == "Robert" and new["updatedAt"] > "2025"
