"""Integration tests: HubSpotHook against the in-process HubSpot sandbox over real HTTP.

No request mocks. Oracles come from the sandbox portal itself (``portal.snapshot``).
Functional tests run on a server with generous limits (the hook's budgets raised to match);
pacing is tested on a dedicated server with a tight 20 requests / 2 s limit.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from hubspot_etl.hooks import errors as err
from hubspot_etl.hooks.hubspot import HubSpotHook

sandbox = pytest.importorskip("hubspot_sandbox")
if not hasattr(sandbox, "SandboxServer"):  # pragma: no cover - sandbox still under construction
    pytest.skip("hubspot_sandbox.SandboxServer not available yet", allow_module_level=True)

from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal  # noqa: E402

TOKEN = "sandbox-token"
LEAK_TOKEN = "pat-na1-leakcheck-7f3a9c0e-51b2-4d6e-9a11-2c3d4e5f6a7b"
FAST = {
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.2,
    "rate_limit_backoff_s": 0.02,
    "search_backoff_s": 0.02,
    "locked_backoff_s": 0.02,
    "max_retries": 12,
}
OPEN_LIMITS = {"rate_limit_max": 100_000, "rate_limit_interval_ms": 10_000, "search_per_second": 1000}


def make_hook(srv: Any, token: str = TOKEN, api_version: str = "v3", **kw: Any) -> HubSpotHook:
    params = {**FAST, **OPEN_LIMITS, **kw}
    return HubSpotHook.from_params(token, host=srv.url, api_version=api_version, **params)


@contextmanager
def live_config(srv: Any, **changes: Any) -> Iterator[None]:
    """Temporarily change the running sandbox's config."""
    old = {key: getattr(srv.config, key) for key in changes}
    for key, value in changes.items():
        setattr(srv.config, key, value)
    try:
        yield
    finally:
        for key, value in old.items():
            setattr(srv.config, key, value)


def open_config(**kw: Any) -> SandboxConfig:
    base: dict[str, Any] = {
        "tokens": {TOKEN: list(ALL_SCOPES), LEAK_TOKEN: list(ALL_SCOPES)},
        "rate_limit_max": 100_000,
        "rate_limit_interval_ms": 10_000,
        "search_per_second": 1000,
        "latency_ms": 0,
        "seed": 7,
        "association_page_size": 500,
    }
    base.update(kw)
    return SandboxConfig(**base)


@pytest.fixture(scope="module")
def srv() -> Iterator[Any]:
    portal = generate_portal(
        seed=1,
        contacts=1000,
        companies=200,
        deals=300,
        tickets=100,
        custom=50,
        extra_properties=20,
        owners=10,
    )
    with SandboxServer(portal, open_config(), host="127.0.0.1", port=0) as server:
        yield server


def active_ids(srv: Any, object_type: str, archived: bool = False) -> list[str]:
    records = srv.portal.snapshot(object_type)["records"]
    return sorted((r["id"] for r in records if bool(r.get("archived")) == archived), key=int)


def flatten(pages: Iterator[list[dict]]) -> tuple[list[dict], int]:
    rows: list[dict] = []
    count = 0
    for page in pages:
        rows.extend(page)
        count += 1
    return rows, count


def custom_type(hook: HubSpotHook) -> dict:
    schemas = hook.get_schemas()
    assert schemas, "generated portal has a custom object"
    return schemas[0]


# ------------------------------------------------------------------ paging
@pytest.mark.parametrize("object_type", ["contacts", "companies", "deals", "tickets", "custom"])
def test_list_paging_every_object(srv: Any, object_type: str) -> None:
    hook = make_hook(srv)
    if object_type == "custom":
        object_type = custom_type(hook)["objectTypeId"]
    rows, pages = flatten(hook.iter_objects(object_type, properties=["hs_object_id"], page_size=17))
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert sorted(ids, key=int) == active_ids(srv, object_type)
    assert pages >= 3
    assert hook.stats.as_dict()["calls"]["objects.list"] == pages


def test_archived_list_paging(srv: Any) -> None:
    hook = make_hook(srv)
    for rec_id in active_ids(srv, "companies")[:5]:
        srv.portal.archive("companies", rec_id)
    rows, pages = flatten(hook.iter_objects("companies", archived=True, page_size=2))
    expected = active_ids(srv, "companies", archived=True)
    assert len(expected) >= 5 and pages >= 3
    assert sorted((r["id"] for r in rows), key=int) == expected
    assert all(r["archived"] for r in rows)


def test_owners_paging(srv: Any) -> None:
    hook = make_hook(srv)
    owners = srv.portal.owners_snapshot()["owners"]
    for archived in (False, True):
        rows, pages = flatten(hook.iter_owners(archived=archived, page_size=3))
        expected = sorted(str(o["id"]) for o in owners if bool(o.get("archived")) == archived)
        assert sorted(str(r["id"]) for r in rows) == expected
        if len(expected) > 3:
            assert pages >= 2


def test_search_paging(srv: Any) -> None:
    hook = make_hook(srv)
    groups = [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}]
    sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    rows, pages = flatten(hook.search("deals", groups, ["dealname"], sorts, page_size=50))
    assert pages >= 6
    assert [r["id"] for r in rows] == active_ids(srv, "deals")


def test_associations_paging_and_unknown_ids(srv: Any) -> None:
    hook = make_hook(srv)
    contact_ids = active_ids(srv, "contacts")
    visible = set(contact_ids) | set(active_ids(srv, "companies"))  # links to archived records are hidden
    expected = Counter()
    for assoc in srv.portal.snapshot("contacts")["associations"]:
        if assoc["toType"] == "companies" and {assoc["fromId"], assoc["toId"]} <= visible:
            for at in assoc["associationTypes"]:
                expected[(int(assoc["fromId"]), int(assoc["toId"]), int(at["typeId"]))] += 1
    assert expected, "generated portal has contact->company associations"
    with live_config(srv, association_page_size=1):
        rows = list(
            hook.iter_associations("contacts", "companies", contact_ids + ["987654321"], batch_size=300)
        )
    got = Counter((r["from_id"], r["to_id"], r["type_id"]) for r in rows)
    assert got == expected
    assert all(isinstance(r["category"], str) and "label" in r for r in rows)
    assert hook.stats.association_errors >= 1
    assert hook.stats.as_dict()["calls"]["associations.batch_read"] > 4  # followed per-input paging


# ------------------------------------------------------------------ metadata
def test_metadata_endpoints_and_object_types(srv: Any) -> None:
    hook = make_hook(srv)
    props = hook.get_properties("contacts")
    assert {"email", "lastmodifieddate"} <= {p["name"] for p in props}
    assert hook.get_pipelines("deals") and hook.get_pipelines("deals")[0]["stages"]
    labels = hook.get_association_labels("contacts", "companies")
    assert labels and {"category", "typeId"} <= set(labels[0])
    schema = custom_type(hook)
    for ref in (schema["fullyQualifiedName"], schema["objectTypeId"]):  # the bare name "services" is
        resolved = hook.resolve_object_type(ref)  # ambiguous (see the test below)
        assert resolved["object_type_id"] == schema["objectTypeId"] and resolved["custom"]
    assert hook.resolve_object_type("deals")["object_type_id"] == "0-3"
    with pytest.raises(err.HubSpotObjectTypeError):
        hook.resolve_object_type("no_such_thing")
    calls = hook.stats.as_dict()["calls"]
    assert calls["schemas"] == 2  # resolve_object_type fetched schemas once
    assert calls["properties"] == 1 and calls["associations.labels"] == 1


def test_batch_read_reports_missing_ids(srv: Any) -> None:
    hook = make_hook(srv)
    ids = active_ids(srv, "deals")[:250]
    result = hook.batch_read("deals", ids + ["999999999"], ["dealname", "amount"])
    assert sorted((r["id"] for r in result), key=int) == ids
    assert result.missing == ["999999999"]
    assert hook.stats.as_dict()["calls"]["objects.batch_read"] == 3
    assert hook.stats.batch_missing_ids == 1


# ------------------------------------------------------------------ 414 protection
@pytest.fixture(scope="module")
def wide_srv() -> Iterator[tuple[Any, list[str]]]:
    portal = generate_portal(seed=2, contacts=230, companies=5, deals=5, tickets=5, custom=0, owners=2)
    names = [f"wide_property_number_{i:04d}_" + "abcdefghij" * 4 for i in range(1500)]
    for name in names:
        portal.add_property("contacts", {"name": name, "type": "string"})
    ids = sorted((r["id"] for r in portal.snapshot("contacts")["records"] if not r["archived"]), key=int)
    for n, rec_id in enumerate(ids):
        portal.update("contacts", rec_id, {names[n % 1500]: f"v{rec_id}", names[-1]: "last"})
    with SandboxServer(portal, open_config(), host="127.0.0.1", port=0) as server:
        yield server, names


def test_1500_long_properties_without_414(wide_srv: tuple[Any, list[str]]) -> None:
    srv, names = wide_srv
    assert all(len(n) >= 60 for n in names) and len(",".join(names)) > 16_000
    hook = make_hook(srv)
    rows, pages = flatten(hook.iter_objects("contacts", properties=names, page_size=100))
    ids = active_ids(srv, "contacts")
    assert [r["id"] for r in rows] == ids
    for n, row in enumerate(rows):
        assert row["properties"][names[-1]] == "last"
        assert row["properties"][names[n % 1500]] == f"v{row['id']}"
    stats = hook.stats.as_dict()
    assert stats["hydrated_pages"] == pages  # k chunks > 2 -> ids + batch read
    batch = hook.batch_read("contacts", ids, names)
    assert sorted((r["id"] for r in batch), key=int) == ids and not batch.missing
    assert all(r["properties"][names[-1]] == "last" for r in batch)


def test_two_chunk_properties_merge_by_id(wide_srv: tuple[Any, list[str]]) -> None:
    srv, names = wide_srv
    subset = names[:250]  # ~16k characters joined: two URL chunks
    hook = make_hook(srv)
    rows, pages = flatten(hook.iter_objects("contacts", properties=subset, page_size=100))
    assert hook.stats.property_chunked_pages == pages
    assert hook.stats.as_dict()["calls"] == {"objects.list": 2 * pages}
    by_id = {r["id"]: r for r in rows}
    ids = active_ids(srv, "contacts")
    assert list(by_id) == ids
    for n, rec_id in enumerate(ids):
        if n % 1500 < 250:
            assert by_id[rec_id]["properties"][names[n % 1500]] == f"v{rec_id}"


# ------------------------------------------------------------------ search beyond 10k
def test_iter_modified_returns_more_than_10k_exactly_once() -> None:
    # ~2,500 spread timestamps + 10,050 records sharing one millisecond: the full window (>10k) is
    # bisected; the single-millisecond slice (>10k, unsplittable) falls back to keyset paging.
    portal = generate_portal(seed=3, contacts=2_500, companies=5, deals=5, tickets=5, custom=0, owners=2)
    same_ms = 1_700_000_000_000
    for _ in range(10_050):
        portal.create("contacts", {"firstname": "batch"}, updated_at=same_ms)
    with SandboxServer(portal, open_config(), host="127.0.0.1", port=0) as srv:
        hook = make_hook(srv)
        start = time.monotonic()
        rows, _ = flatten(hook.iter_modified("contacts", 0, 4_102_444_800_000, ["firstname"], page_size=200))
        elapsed = time.monotonic() - start
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids))
        assert sorted(ids, key=int) == active_ids(srv, "contacts")
        assert len(ids) > 12_000
        assert hook.stats.search_splits >= 1
        assert hook.stats.search_keyset_windows >= 1  # identical timestamps: could not split
        # a bounded window still honours [start, end)
        window, _ = flatten(hook.iter_modified("contacts", same_ms, same_ms + 1, ["firstname"]))
        assert len(window) >= 10_050
        assert all(r["properties"]["lastmodifieddate"] for r in window)
    assert elapsed < 30


# ------------------------------------------------------------------ faults
def _workload(hook: HubSpotHook, srv: Any) -> dict[str, Any]:
    contacts, _ = flatten(hook.iter_objects("contacts", properties=["email", "firstname"], page_size=100))
    modified, _ = flatten(hook.iter_modified("deals", 0, 4_102_444_800_000, ["dealname"], page_size=100))
    assoc = list(hook.iter_associations("contacts", "companies", [r["id"] for r in contacts]))
    owners, _ = flatten(hook.iter_owners(page_size=3))
    batch = hook.batch_read("tickets", active_ids(srv, "tickets"), ["subject"])
    return {
        "contacts": sorted(json.dumps(r, sort_keys=True) for r in contacts),
        "modified": sorted(json.dumps(r, sort_keys=True) for r in modified),
        "assoc": sorted(json.dumps(r, sort_keys=True) for r in assoc),
        "owners": sorted(json.dumps(r, sort_keys=True) for r in owners),
        "batch": sorted(json.dumps(r, sort_keys=True) for r in batch),
    }


def test_recovers_from_faults_with_identical_results(srv: Any, caplog: pytest.LogCaptureFixture) -> None:
    baseline = _workload(make_hook(srv), srv)
    assert len(baseline["contacts"]) == len(set(baseline["contacts"])) > 0
    storm = make_hook(srv)
    with live_config(srv, fault_429_rate=0.3), caplog.at_level(logging.WARNING):
        assert _workload(storm, srv) == baseline
    assert storm.stats.http_429 > 5
    flaky = make_hook(srv)
    with live_config(srv, fault_5xx_rate=0.2, drop_connection_rate=0.05, truncate_body_rate=0.05):
        assert _workload(flaky, srv) == baseline
    reasons = flaky.stats.as_dict()["retries_by_reason"]
    assert reasons.get("http_5xx", 0) > 0
    assert reasons.get("connection", 0) + reasons.get("invalid_body", 0) > 0
    assert "retry" in caplog.text and TOKEN not in caplog.text


# ------------------------------------------------------------------ auth errors
def test_401_fails_fast_without_retries(srv: Any) -> None:
    hook = make_hook(srv, token="pat-na1-not-a-valid-token")
    start = time.monotonic()
    with pytest.raises(err.HubSpotAuthError, match="invalid or expired token") as info:
        next(hook.iter_objects("contacts"))
    assert time.monotonic() - start < 2
    assert hook.stats.total_calls == 1 and hook.stats.retries == 0
    assert "pat-na1-not-a-valid-token" not in str(info.value)
    ok, message = hook.test_connection()
    assert not ok and "HubSpot rejected the token (401" in message and "Password field" in message


def test_403_names_the_missing_scope(srv: Any) -> None:
    limited = [s for s in ALL_SCOPES if "owner" not in s]
    missing = [s for s in ALL_SCOPES if "owner" in s]
    with live_config(srv, tokens={**srv.config.tokens, "limited-token": limited}):
        hook = make_hook(srv, token="limited-token")
        with pytest.raises(err.HubSpotScopeError) as info:
            next(hook.iter_owners())
        assert info.value.status == 403 and hook.stats.retries == 0
        for scope in missing:
            assert scope in str(info.value)
        ok, message = hook.test_connection()
        assert not ok and missing[0] in message


# ------------------------------------------------------------------ API versions
def test_v3_and_2026_09_paths_return_identical_results(srv: Any) -> None:
    def collect(hook: HubSpotHook) -> dict[str, Any]:
        ids = active_ids(srv, "contacts")[:120]
        groups = [{"filters": [{"propertyName": "hs_object_id", "operator": "LTE", "value": ids[-1]}]}]
        sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        return {
            "list": flatten(hook.iter_objects("contacts", ["email"], page_size=50))[0],
            "archived": flatten(hook.iter_objects("companies", archived=True))[0],
            "search": flatten(hook.search("contacts", groups, ["email"], sorts, page_size=40))[0],
            "modified": flatten(hook.iter_modified("tickets", 0, 4_102_444_800_000, ["subject"]))[0],
            "batch": list(hook.batch_read("contacts", ids, ["email"])),
            "owners": flatten(hook.iter_owners())[0],
            "assoc": list(hook.iter_associations("contacts", "companies", ids)),
            "labels": hook.get_association_labels("contacts", "companies"),
            "properties": hook.get_properties("deals"),
            "pipelines": hook.get_pipelines("tickets"),
            "schemas": hook.get_schemas(),
        }

    legacy, dated = make_hook(srv, api_version="v3"), make_hook(srv, api_version="2026-09")
    assert collect(legacy) == collect(dated)
    assert legacy.stats.as_dict()["calls"] == dated.stats.as_dict()["calls"]


# ------------------------------------------------------------------ pacing
def test_pacing_keeps_four_threads_under_the_limit() -> None:
    portal = generate_portal(seed=4, contacts=50, companies=5, deals=5, tickets=5, custom=0, owners=2)
    config = open_config(rate_limit_max=20, rate_limit_interval_ms=2000, search_per_second=None)
    with SandboxServer(portal, config, host="127.0.0.1", port=0) as srv:
        hook = make_hook(srv, rate_limit_max=20, rate_limit_interval_ms=2000, max_retries=0)
        second = make_hook(srv, rate_limit_max=20, rate_limit_interval_ms=2000, max_retries=0)

        def work(worker: int) -> int:
            target = hook if worker % 2 else second  # two hook instances share one budget
            for _ in range(15):
                target.get_properties("deals")
            return 15

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert sum(pool.map(work, range(4))) == 60
        elapsed = time.monotonic() - start
        total = hook.stats.total_calls + second.stats.total_calls
        assert total == 60
        assert hook.stats.http_429 == second.stats.http_429 == 0
        assert _server_429s(srv) == 0
        assert elapsed >= 4.0  # 60 calls at 20 per 2 s need at least two full windows of waiting


def _server_429s(srv: Any) -> int:
    """429 responses the sandbox sent (counter ``responses.429``)."""
    return int(srv.counters().get("responses.429", 0))


# ------------------------------------------------------------------ Airflow connection + token safety
def test_airflow_env_connection_path(srv: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "hubspot",
        "host": srv.url,
        "password": TOKEN,
        "extra": {"api_version": "2026-09", **OPEN_LIMITS},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_TEST", json.dumps(conn))
    hook = HubSpotHook("hubspot_test", max_retries=2)
    assert hook.test_connection() == (True, f"Connected to {srv.url} (API 2026-09): the token is valid.")
    rows, _ = flatten(hook.iter_owners())
    assert rows
    assert hook.stats.as_dict()["calls"]["owners"] >= 2


def test_token_never_leaks(srv: Any, caplog: pytest.LogCaptureFixture) -> None:
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        hook = make_hook(srv, token=LEAK_TOKEN)
        with live_config(srv, fault_429_rate=0.3, fault_5xx_rate=0.2):
            flatten(hook.iter_objects("deals", properties=["dealname"], page_size=50))
        texts.append(repr(hook))
        texts.append(json.dumps(hook.stats.as_dict()))
        with live_config(srv, tokens={TOKEN: list(ALL_SCOPES)}):  # LEAK_TOKEN now invalid
            with pytest.raises(err.HubSpotAuthError) as info:
                next(hook.iter_owners())
            texts += [str(info.value), repr(info.value), hook.test_connection()[1]]
        with live_config(srv, tokens={LEAK_TOKEN: []}):
            with pytest.raises(err.HubSpotScopeError) as scope_info:
                hook.get_properties("contacts")
            texts += [str(scope_info.value), repr(scope_info.value)]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("hubspot_sandbox")]
    assert any("retry" in t for t in ours)
    for text in texts + ours:
        assert LEAK_TOKEN not in text
        assert "leakcheck" not in text


def test_iter_modified_splits_spread_window_over_10k() -> None:
    portal = generate_portal(seed=5, contacts=10_600, companies=5, deals=5, tickets=5, custom=0, owners=2)
    with SandboxServer(portal, open_config(), host="127.0.0.1", port=0) as srv:
        expected = active_ids(srv, "contacts")
        assert len(expected) > 10_000
        hook = make_hook(srv)
        rows, _ = flatten(hook.iter_modified("contacts", 0, 4_102_444_800_000, ["email"]))
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) and sorted(ids, key=int) == expected
        assert hook.stats.search_splits >= 1 and hook.stats.search_keyset_windows == 0


def test_count_matches_live_records_with_one_search_call(srv):
    hook = make_hook(srv)
    assert hook.count("contacts") == len(active_ids(srv, "contacts"))
    assert hook.count("deals") == len(active_ids(srv, "deals"))
    assert hook.stats.as_dict()["calls"]["objects.search"] == 2


def test_a_custom_object_named_like_a_standard_one_never_resolves_silently(srv: Any) -> None:
    """The sandbox's custom ``services`` (2-1001) shares its name with HubSpot's Services (0-162)."""
    hook = make_hook(srv)
    with pytest.raises(err.HubSpotObjectTypeError) as info:
        hook.resolve_object_type("services")
    for named in ("2-1001", "p12345678_services", "0-162"):
        assert named in str(info.value)
    by_fqn = hook.resolve_object_type("p12345678_services")
    assert by_fqn == hook.resolve_object_type("2-1001")
    assert by_fqn["custom"] and by_fqn["object_type_id"] == "2-1001"
    assert by_fqn["name"] == "p12345678_services"  # its tables are "services", not the standard "service"
    assert hook.resolve_object_type("0-162") == {
        "name": "services",
        "object_type_id": "0-162",
        "fully_qualified_name": "services",
        "custom": False,
    }
