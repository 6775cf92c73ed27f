"""A full load read through list chains and search id ranges at once stays exact.

The hook's budgets are small enough that search readers claim a real share of the id space
(its lower part) beside the list chains, and the sandbox's search index lags
writes by ``LAG_S``. Runs go through the real step functions, HTTP and PostgreSQL:

* records updated, created, archived and merged while the load runs (some of them read
  stale through search): after the full load and the next incremental run, the warehouse
  equals the sandbox;
* a record a search range does not return (not yet indexed) is never classified purged by
  its absence, while a record HubSpot no longer knows at all, inside a search range, still is.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hubspot_etl.hooks.full_listing import FullListing
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_etl.sync import steps
from hubspot_etl.warehouse.naming import association_table_name
from hubspot_sandbox import ALL_SCOPES, SandboxConfig

from tests.e2e.conftest import TOKEN
from tests.support.oracle import check_associations, check_object

LAG_S = 0.6
#: list 3 / s = 300 records / s, search 5 / s = 1,000 records / s: search reads most of the ids
BUDGETS = {
    "rate_limit_max": 3,
    "rate_limit_interval_ms": 1000,
    "search_per_second": 5,
    "list_concurrency": 2,
    "search_concurrency": 3,
}
pytestmark = pytest.mark.portal(
    contacts=1200, companies=10, deals=10, tickets=0, custom=0, extra_properties=4
)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        tokens={TOKEN: list(ALL_SCOPES)},
        rate_limit_max=None,
        search_per_second=None,
        search_index_lag_s=LAG_S,
    )


def _context(
    env: Any,
    run_id: str,
    listing: type[FullListing] = FullListing,
    params: dict | None = None,
    **config: Any,
) -> Any:
    class Hook(HubSpotHook):
        full_listing_class = listing

    def factory() -> HubSpotHook:
        hook = Hook(hubspot_conn_id="__params__")
        hook._settings = HubSpotHook.from_params(token=TOKEN, host=env.sandbox.url, **BUDGETS).settings
        return hook

    ctx = env.step_context(run_id, factory)
    ctx.cfg = ctx.cfg.model_copy(update=config)
    ctx.params.update(params or {})
    return ctx


def _sync(ctx: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    plan = steps.prepare(ctx)
    manifest = steps.extract(ctx, plan)
    loaded = steps.load(ctx, plan, manifest)
    linked = steps.associations(ctx, plan, manifest)
    reconciled = steps.reconcile(ctx, plan, manifest)
    steps.finalize(ctx, plan, manifest, loaded, linked, reconciled)
    return manifest, reconciled, linked


def _problems(env: Any) -> list[str]:
    return check_object(env.view, env.snapshot("contacts"), "contact", "contacts")


def _association_problems(env: Any) -> list[str]:
    snapshot = env.snapshot("contacts")
    live = {int(r["id"]) for r in snapshot["records"] if not r.get("archived")}
    companies = {int(r["id"]) for r in env.snapshot("companies")["records"] if not r.get("archived")}
    table = association_table_name("contacts", "companies")
    return check_associations(env.view, snapshot, table, "companies", live, companies)


def _searched(env: Any, manifest: dict[str, Any]) -> list[int]:
    """Live ids inside the manifest's search ranges."""
    ranges = manifest["search_ranges"]
    live = [int(r["id"]) for r in env.snapshot("contacts")["records"] if not r.get("archived")]
    return [i for i in live if any(lo <= i < hi for lo, hi in ranges)]


def test_writes_during_a_list_and_search_full_load_end_exact(sync_env):
    env = sync_env
    live = [int(r["id"]) for r in env.snapshot("contacts")["records"] if not r.get("archived")]
    low, high = live[150:160], live[-20:]  # inside the search ranges / the list chains' ids

    class WritingListing(FullListing):
        """Writes to HubSpot once the listing is under way, as users and workflows do."""

        def __iter__(self):
            for n, page in enumerate(super().__iter__()):
                if n == 3:
                    for record_id in (low[0], low[1], high[0]):
                        env.admin(
                            "PATCH", f"objects/contacts/{record_id}", {"properties": {"firstname": "Moved"}}
                        )
                    env.admin("POST", "objects/contacts", {"properties": {"email": "during@example.com"}})
                    env.admin("DELETE", f"objects/contacts/{low[2]}")
                    env.admin(
                        "POST",
                        "objects/contacts/merge",
                        {"primaryObjectId": str(low[3]), "objectIdToMerge": str(low[4])},
                    )
                yield page

    manifest, _, linked = _sync(
        _context(env, "full-with-search", WritingListing, associations=("companies",))
    )
    assert len(manifest["search_ranges"]) == 1  # one contiguous range, from the lowest ids
    # the associations were read and written beside the listing: the associations step made no call
    assert manifest["associations_done"]["counts"]["companies"] > 0
    assert linked["association_refresh"]["calls"] == 0
    assert manifest["api_calls"]["calls"]["associations.batch_read"] >= 2
    assert _association_problems(env) == []
    assert manifest["api_calls"]["calls"]["objects.search"] >= len(_searched(env, manifest)) // 200
    ranges = manifest["search_ranges"]
    assert all(any(lo <= i < hi for lo, hi in ranges) for i in low)
    assert not any(lo <= i < hi for lo, hi in ranges for i in high)
    time.sleep(LAG_S + 0.2)  # the index catches up before the next run's search
    _sync(_context(env, "incremental-after", associations=("companies",)))
    assert _problems(env) == []
    assert _association_problems(env) == []


def test_an_absence_from_search_is_confirmed_before_a_purge(sync_env):
    env = sync_env
    manifest, _, _ = _sync(_context(env, "first-full"))
    searched = _searched(env, manifest)
    unindexed, gone = searched[10], searched[40]
    # ``gone``: HubSpot no longer knows it at all (e.g. purged from the recycle bin)
    portal = env.sandbox.portal
    with portal.lock:
        contacts = portal.object_type("contacts")
        contacts.records.pop(gone)
        contacts.ids.remove(gone)

    class UnindexedListing(FullListing):
        """Search misses ``unindexed`` as a lagging index would; the list endpoint never reads it."""

        def __iter__(self):
            for page in super().__iter__():
                yield [r for r in page if int(r["id"]) != unindexed]

    second, reconciled, _ = _sync(_context(env, "second-full", UnindexedListing, {"full_load": True}))
    assert second["search_ranges"] and any(lo <= unindexed < hi for lo, hi in second["search_ranges"])
    assert reconciled["purge_check"] == "done"
    assert reconciled["deletes"]["purged"] == 1
    rows = {int(r["id"]): r for r in env.view.rows("contact")}
    assert rows[unindexed]["_is_deleted"] is False
    assert rows[gone]["_deletion_kind"] == "purged"
    assert _problems(env) == []
