"""Parts loaded while extract goes on (``load_during_extract``), against the sandbox and PostgreSQL.

Extract hands every finished part to a background loader; the load step then only accounts for
them. If extract fails half-way, only whole parts it finished are in the warehouse, and the
retried run ends with the table equal to HubSpot's records.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hubspot_etl.hooks.errors import HubSpotServerError
from hubspot_etl.hooks.full_listing import FullListing
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_etl.sync import steps

from tests.e2e.conftest import TOKEN
from tests.support.oracle import check_object


def _context(sync_env: Any, hook_factory: Any = None, try_number: int = 1) -> steps.StepContext:
    return sync_env.step_context("preload-run", hook_factory, try_number, part_size=100)


def _ledger(sync_env: Any) -> dict[str, int]:
    with psycopg.connect(sync_env.pg.uri) as conn:
        rows = conn.execute(
            f'SELECT part_id, rows FROM "{sync_env.schema}"._hubspot_loaded_parts WHERE part_id LIKE %s',
            ["preload-run/attempt-%/part-%"],
        ).fetchall()
    return dict(rows)


def _live_snapshot(sync_env: Any) -> dict[str, Any]:
    snapshot = sync_env.snapshot("contacts")
    snapshot["records"] = [r for r in snapshot["records"] if not r.get("archived")]
    snapshot["merged"] = {}
    return snapshot


@pytest.mark.portal(contacts=900, companies=20, deals=20, tickets=10, custom=10, extra_properties=4)
def test_extract_loads_its_parts_and_the_load_step_accounts_for_them(sync_env):
    ctx = _context(sync_env)
    plan = steps.prepare(ctx)
    manifest = steps.extract(ctx, plan)
    part_ids = [p["part_id"] for p in manifest["parts"]]
    assert len(part_ids) >= 8
    # Before the load step runs, every part is committed, whole, and in the ledger.
    assert _ledger(sync_env) == {p["part_id"]: p["rows"] for p in manifest["parts"]}
    assert sorted(manifest["preloaded"]) == sorted(part_ids)
    assert len(sync_env.view.rows("contact")) == manifest["records"]

    loaded = steps.load(ctx, plan, manifest)
    assert loaded["parts_preloaded"] == loaded["parts_loaded"] == len(part_ids)
    assert loaded["records_upserted"] == manifest["records"] and loaded["parts_skipped"] == 0
    assert check_object(sync_env.view, _live_snapshot(sync_env), "contact", "contacts") == []


class _FailingListing(FullListing):
    """A full listing that breaks after ``pages`` pages, as a HubSpot outage would."""

    pages = 4

    def __iter__(self):
        for n, page in enumerate(super().__iter__()):
            if n == self.pages:
                raise HubSpotServerError("server returned 503", endpoint="objects.list", status=503)
            yield page


class _FailingHook(HubSpotHook):
    full_listing_class = _FailingListing


@pytest.mark.portal(contacts=900, companies=20, deals=20, tickets=10, custom=10, extra_properties=4)
def test_an_extract_that_fails_leaves_only_whole_parts_and_a_clean_retry(sync_env):
    def failing() -> HubSpotHook:
        hook = _FailingHook(hubspot_conn_id="__params__")
        base = HubSpotHook.from_params(token=TOKEN, host=sync_env.sandbox.url, list_concurrency=1)
        hook._settings = base.settings
        return hook

    ctx = _context(sync_env, failing)
    plan = steps.prepare(ctx)
    with pytest.raises(HubSpotServerError, match="503"):
        steps.extract(ctx, plan)
    # 4 pages of 100 were written: parts 1-4 are whole and loaded, nothing else is.
    ledger = _ledger(sync_env)
    assert ledger == {f"preload-run/attempt-1/part-{n:05d}": 100 for n in range(1, 5)}
    assert len(sync_env.view.rows("contact")) == 400

    retry = _context(sync_env, try_number=2)
    manifest = steps.extract(retry, plan)
    steps.load(retry, plan, manifest)
    assert check_object(sync_env.view, _live_snapshot(sync_env), "contact", "contacts") == []
