"""Full listings through list chains and search id ranges at once, and the pacer's budget table.

Unit tests of which budget each kind of call takes and of the id-space split; a fake CRM for
the search readers' key paging; and the hook against the sandbox over HTTP: the same records
as a list-only listing, each exactly once, with part of them read through search.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from hubspot_etl.hooks.crm import SEARCH_PAGE_MAX
from hubspot_etl.hooks.full_listing import IdFrontier, search_range_reader, search_worth_it
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_etl.hooks.settings import HubSpotSettings
from hubspot_etl.hooks.stats import HubSpotStats
from hubspot_etl.hooks.transport import (
    ASSOCIATIONS,
    GENERAL,
    SEARCH,
    HubSpotTransport,
    budget_limits,
    budget_names,
    call_kind,
)
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal

TOKEN = "full-listing-token"
SETTINGS = HubSpotSettings(token=TOKEN, base_url="http://127.0.0.1:9")


# ------------------------------------------------------------------ the budget table
def test_each_kind_of_call_takes_its_own_budget_and_general_only_when_it_counts() -> None:
    assert call_kind("objects.search") == SEARCH
    assert call_kind("associations.batch_read") == ASSOCIATIONS
    assert call_kind("objects.list") == call_kind("objects.batch_read") == call_kind("owners") == GENERAL
    # the spec's defaults: search and association batch reads are exempt from the ten-secondly window
    assert budget_names(GENERAL, SETTINGS) == (GENERAL,)
    assert budget_names(SEARCH, SETTINGS) == (SEARCH,)
    assert budget_names(ASSOCIATIONS, SETTINGS) == (ASSOCIATIONS,)
    counting = replace(
        SETTINGS, search_counts_toward_rate_limit=True, associations_count_toward_rate_limit=True
    )
    assert budget_names(SEARCH, counting) == (SEARCH, GENERAL)
    assert budget_names(ASSOCIATIONS, counting) == (ASSOCIATIONS, GENERAL)
    tuned = replace(SETTINGS, rate_limit_max=150, rate_limit_interval_ms=5_000, search_per_second=3)
    assert budget_limits(GENERAL, tuned) == (150, 5.0)
    assert budget_limits(SEARCH, tuned) == (3, 1.0)
    assert budget_limits(ASSOCIATIONS, replace(tuned, association_rate_limit_max=40)) == (40, 5.0)


def test_the_transport_shares_one_budget_per_name_and_token() -> None:
    transport = HubSpotTransport(lambda: SETTINGS, HubSpotStats())
    search, listing, assocs = (
        transport.budgets(e) for e in ("objects.search", "objects.list", "associations.batch_read")
    )
    assert list(search) == [SEARCH] and list(listing) == [GENERAL] and list(assocs) == [ASSOCIATIONS]
    counting = HubSpotTransport(
        lambda: replace(SETTINGS, search_counts_toward_rate_limit=True), HubSpotStats()
    )
    both = counting.budgets("objects.search")
    assert list(both) == [SEARCH, GENERAL]
    assert both[GENERAL] is listing[GENERAL] and both[SEARCH] is search[SEARCH]  # process-wide
    assert search[SEARCH].max_calls == SETTINGS.search_per_second


# ------------------------------------------------------------------ when search pays, and the frontier
def test_search_is_used_only_with_both_budgets_paced_and_few_enough_properties() -> None:
    at_limits = replace(SETTINGS, rate_limit_max=190, search_per_second=5)
    assert search_worth_it(at_limits, 50)
    assert search_worth_it(replace(at_limits, search_counts_toward_rate_limit=True), 50)
    assert not search_worth_it(at_limits, at_limits.full_load_search_max_properties + 1)
    for off in (
        replace(at_limits, full_load_search=False),
        replace(at_limits, search_per_second=0),
        replace(at_limits, rate_limit_max=0),
    ):
        assert not search_worth_it(off, 50)


def test_the_frontier_hands_out_every_id_once_from_both_ends() -> None:
    frontier = IdFrontier(100, 1_000)
    assert frontier.searched() is None
    assert frontier.low(200) == (100, 300) and frontier.high(300) == (700, 1_000)
    assert frontier.low(200) == (300, 500) and frontier.high(300) == (500, 700)
    assert frontier.low(200) is None and frontier.high(1) is None
    assert frontier.searched() == (100, 500)


def test_the_frontier_shares_out_by_the_claimers_real_pace() -> None:
    """Claims from many threads cover the span exactly, and search's share is one range."""
    frontier = IdFrontier(1, 100_001)
    claims: list[tuple[int, int]] = []
    lock = threading.Lock()

    def claim(side, size: int) -> None:
        while (got := side(size)) is not None:
            with lock:
                claims.append(got)

    threads = [threading.Thread(target=claim, args=(frontier.low, 200)) for _ in range(3)]
    threads += [threading.Thread(target=claim, args=(frontier.high, 400)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = sorted(i for lo, hi in claims for i in range(lo, hi))
    assert ids == list(range(1, 100_001))
    lo, hi = frontier.searched()
    assert lo == 1 and all(end <= hi or begin >= hi for begin, end in claims)


# ------------------------------------------------------------------ search readers
class _FakeSearch:
    """Search over ids 1..n (every third id missing), recording each request."""

    def __init__(self, n: int) -> None:
        self.ids = [i for i in range(1, n + 1) if i % 3]
        self.requests: list[dict[str, Any]] = []

    def search_page(self, object_type, filter_groups, properties, sorts, limit, after=None, query=None):
        self.requests.append({"filters": filter_groups[0]["filters"], "sorts": sorts, "after": after})
        bounds = {f["operator"]: int(f["value"]) for f in filter_groups[0]["filters"]}
        hits = [i for i in self.ids if bounds["GTE"] <= i < bounds["LT"]]
        page = [{"id": str(i), "properties": {p: f"{p}-{i}" for p in properties}} for i in hits[:limit]]
        more = len(hits) > limit
        return {
            "total": len(hits),
            "results": page,
            **({"paging": {"next": {"after": "200"}}} if more else {}),
        }


def test_a_search_range_pages_by_key_past_ten_thousand_hits() -> None:
    crm = _FakeSearch(40_000)
    pages: list[list[dict]] = []
    search_range_reader(crm, "contacts", ["email"], 5, 33_005)(pages.append)
    ids = [int(r["id"]) for page in pages for r in page]
    assert ids == [i for i in crm.ids if 5 <= i < 33_005]  # > 10,000 hits, each once, in order
    assert len(ids) > 10_000
    assert all(r["after"] is None for r in crm.requests)  # never an offset: no 10,000 cap
    assert all(len(page) <= SEARCH_PAGE_MAX for page in pages)
    assert crm.requests[0]["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    starts = [int(r["filters"][0]["value"]) for r in crm.requests]
    assert starts[0] == 5 and starts == sorted(set(starts))
    assert pages[0][0]["properties"] == {"email": "email-5"}


# ------------------------------------------------------------------ against the sandbox
@pytest.fixture(scope="module")
def srv():
    portal = generate_portal(
        seed=5, contacts=2500, companies=10, deals=10, tickets=5, custom=5, extra_properties=3, owners=3
    )
    config = SandboxConfig(tokens={TOKEN: list(ALL_SCOPES)}, rate_limit_max=None, search_per_second=None)
    with SandboxServer(portal, config) as server:
        yield server


def _hook(srv: SandboxServer, **settings: Any) -> HubSpotHook:
    return HubSpotHook.from_params(token=TOKEN, host=srv.url, **settings)


def _live(srv: SandboxServer) -> list[int]:
    ot = srv.portal.object_type("contacts")
    return [i for i in ot.ids if not ot.records[i].archived and ot.records[i].merged_into is None]


def test_full_listing_reads_through_list_and_search_every_record_once(srv: SandboxServer) -> None:
    props = ["email", "firstname", "lastname", "hs_object_id", "lastmodifieddate"]
    reference = _hook(srv, list_concurrency=1)
    expected = {r["id"]: r for page in reference.iter_objects("contacts", props) for r in page}
    hook = _hook(
        srv, rate_limit_max=5, rate_limit_interval_ms=1000, search_per_second=10_000, list_concurrency=3
    )
    live, max_id = hook.id_span("contacts")
    listing = hook.full_listing("contacts", props, max_id=max_id)
    records = [r for page in listing for r in page]
    ids = [int(r["id"]) for r in records]
    assert len(ids) == len(set(ids)) == live == len(_live(srv))
    assert {r["id"]: r["properties"] for r in records} == {k: v["properties"] for k, v in expected.items()}
    assert len(listing.search_ranges) == 1  # one contiguous range, from the lowest ids
    searched = [i for i in ids if any(lo <= i < hi for lo, hi in listing.search_ranges)]
    calls = hook.stats.as_dict()["calls"]
    assert calls["objects.search"] >= len(searched) / SEARCH_PAGE_MAX + 1  # + the id span
    assert 0 < len(searched) < len(ids)
    assert calls["objects.list"] < reference.stats.as_dict()["calls"]["objects.list"]


def test_full_listing_is_list_only_when_search_is_off_or_too_wide(srv: SandboxServer) -> None:
    for settings in ({"full_load_search": False}, {"full_load_search_max_properties": 1}):
        hook = _hook(srv, list_concurrency=3, **settings)
        _, max_id = hook.id_span("contacts")
        listing = hook.full_listing("contacts", ["email", "firstname"], max_id=max_id)
        assert len({r["id"] for page in listing for r in page}) == len(_live(srv))
        assert listing.search_ranges == []
        assert hook.stats.as_dict()["calls"]["objects.search"] == 1  # the id span only
