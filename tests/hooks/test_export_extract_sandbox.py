"""The export path of the extract operator against the sandbox over real HTTP, without a DAG run:
``execute`` starts the export and defers; the trigger (built again from its serialized kwargs,
as the triggerer does) polls it to its end; ``execute_complete`` stages the records. Neither the
trigger's kwargs nor its event hold the token or the signed URL; a retried task resumes the
recorded export; a canceled export fails naming its state and the next try starts a new one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspot_etl.config import parse_config
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_etl.operators.sync import HubSpotExtractOperator
from hubspot_etl.sync.bulk_export import HubSpotExportFailed
from hubspot_etl.sync.contracts import ObjectRef, Plan
from hubspot_etl.sync.plan import FULL, parse_datetime
from hubspot_etl.sync.staging import read_part
from hubspot_etl.triggers.export import HubSpotExportTrigger
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal

TOKEN = "pat-na1-export-trigger-0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e"


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    portal = generate_portal(
        seed=3, contacts=40, companies=8, deals=0, tickets=0, custom=0, extra_properties=2
    )
    config = SandboxConfig(
        tokens={TOKEN: list(ALL_SCOPES)},
        rate_limit_max=None,
        search_per_second=None,
        export_polls_to_complete=2,
        export_daily_limit=None,
    )
    with SandboxServer(portal, config) as server:
        yield server


@pytest.fixture
def connection(srv: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from hubspot_devtools import local

    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(local.hubspot_connection(srv.url, TOKEN)))


class FakeTI:
    """What the operator reads of its task instance: identity, try number, the plan's XCom."""

    def __init__(self, plan: dict[str, Any], try_number: int = 1) -> None:
        self.dag_id, self.run_id, self.task_id, self.try_number = (
            "hubspot_contacts",
            "manual_1",
            "extract",
            try_number,
        )
        self.plan = plan

    def xcom_pull(self, task_ids: str) -> dict[str, Any]:
        assert task_ids == "prepare"
        return self.plan


def operator(tmp_path: Path) -> HubSpotExtractOperator:
    document = {
        "objects": {
            "contacts": {
                "associations": ["companies"],
                "full_load_method": "export",
                "export_poll_seconds": 1,
                "staging_base": f"file://{tmp_path}",
            }
        }
    }
    return HubSpotExtractOperator(object_config=parse_config(document).objects[0])


def full_plan(srv: SandboxServer) -> dict[str, Any]:
    hook = HubSpotHook.from_params(TOKEN, host=srv.url)
    names = sorted(p["name"] for p in hook.get_properties("contacts"))
    return Plan(
        object_name="contacts",
        api_type="0-1",
        table="contact",
        properties=names,
        modified_property="lastmodifieddate",
        associations=[ObjectRef("companies", "0-2")],
        association_scope="all",
        associated_from=[],
        pipelines=None,
        mode=FULL,
        window_start=None,
        window_end="2026-12-01T00:00:00+00:00",
        window_reason="test",
        old_watermark=None,
        archived_before_uri=None,
        started_at="2026-12-01T00:00:00+00:00",
        dry_run=True,  # no warehouse here (the run lease is the e2e test's)
        limit=None,
        schema_changes={},
        api_calls={},
    ).as_dict()


def defer(op: HubSpotExtractOperator, context: dict[str, Any]) -> HubSpotExportTrigger:
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert deferred.value.method_name == "execute_complete"
    return deferred.value.trigger


def wait(trigger: HubSpotExportTrigger) -> dict[str, Any]:
    """Rebuild the trigger from what Airflow stores, as the triggerer does, and run it."""
    path, kwargs = trigger.serialize()
    assert TOKEN not in json.dumps(kwargs)
    rebuilt = HubSpotExportTrigger(**kwargs)

    async def first_event() -> Any:
        return await anext(rebuilt.run())

    return asyncio.run(first_event()).payload


def exports_started(srv: SandboxServer) -> int:
    return len(srv.exports.jobs)


def test_defer_poll_and_stage_the_export(srv, connection, tmp_path):
    op, plan = operator(tmp_path), full_plan(srv)
    context = {"ti": FakeTI(plan), "params": {}}
    trigger = defer(op, context)
    changed = srv.portal.snapshot("contacts")["records"][0]["id"]
    srv.portal.update("contacts", changed, {"firstname": "Changed during the export"})
    event = wait(trigger)
    assert event["state"] == "COMPLETE" and event["polls"] >= 2
    assert TOKEN not in json.dumps(event) and "http" not in json.dumps(event)  # no signed URL
    manifest = op.execute_complete(context, event)

    # the export is the portal as of its start, which is the watermark handed on: the change
    # made while it was built is newer than the watermark, so the next incremental reads it
    exported = next(r for p in manifest["parts"] for r in read_part(p["uri"]) if r["id"] == str(changed))
    assert exported["properties"]["firstname"] != "Changed during the export"
    now = HubSpotHook.from_params(TOKEN, host=srv.url).batch_read(
        "0-1", [str(changed)], properties=["firstname"]
    )
    assert parse_datetime(now[0]["updatedAt"]) > parse_datetime(manifest["extract_started_at"])

    assert manifest["method"] == "export" and manifest["complete"]
    live = [r for r in srv.portal.snapshot("contacts")["records"] if not r.get("archived")]
    staged = [r for part in manifest["parts"] for r in read_part(part["uri"])]
    assert sorted(int(r["id"]) for r in staged) == sorted(int(r["id"]) for r in live)
    assert all("associations" not in r for r in staged)  # those went to the association parts
    links = [r for part in manifest["association_parts"] for r in read_part(part["uri"])]
    assert len(links) == len(staged) and all("0-2" in r["associations"] for r in links)
    assert manifest["api_calls"]["calls"]["exports.start"] == 1


def test_a_retried_task_resumes_the_recorded_export(srv, connection, tmp_path):
    op, plan = operator(tmp_path), full_plan(srv)
    before = exports_started(srv)
    first = defer(op, {"ti": FakeTI(plan), "params": {}})
    again = defer(op, {"ti": FakeTI(plan, try_number=2), "params": {}})  # the worker died meanwhile
    assert again.export_id == first.export_id
    assert exports_started(srv) == before + 1
    retry_context = {"ti": FakeTI(plan, try_number=2), "params": {}}
    manifest = op.execute_complete(retry_context, wait(again))
    assert manifest["records"] > 0
    assert manifest["api_calls"]["calls"]["exports.start"] == 1


def test_a_canceled_export_fails_naming_it_and_the_next_try_starts_anew(srv, connection, tmp_path):
    op, plan = operator(tmp_path), full_plan(srv)
    srv.exports.next_outcome = "CANCELED"
    context = {"ti": FakeTI(plan), "params": {}}
    canceled = defer(op, context)
    event = wait(canceled)
    assert event["state"] == "CANCELED"
    with pytest.raises(HubSpotExportFailed, match=rf"export {canceled.export_id} of contacts ended CANCELED"):
        op.execute_complete(context, event)
    fresh = defer(op, {"ti": FakeTI(plan, try_number=2), "params": {}})
    assert fresh.export_id != canceled.export_id


def test_an_export_past_its_deadline_times_out(srv, connection, tmp_path):
    trigger = HubSpotExportTrigger("hubspot_default", "99999999", poll_interval_s=1, deadline=0)
    event = wait(trigger)
    assert event["state"] in ("TIMEOUT", "ERROR")  # unknown id: the status read fails first
    op, plan = operator(tmp_path), full_plan(srv)
    context = {"ti": FakeTI(plan), "params": {}}
    started = defer(op, context)
    timed_out = wait(
        HubSpotExportTrigger("hubspot_default", started.export_id, poll_interval_s=1, deadline=0)
    )
    assert timed_out["state"] == "TIMEOUT"
    with pytest.raises(HubSpotExportFailed, match="did not finish within export_timeout_minutes"):
        op.execute_complete(context, timed_out)


@pytest.mark.parametrize(("threshold", "exports"), [(1, True), (10_000, False)])
def test_auto_exports_from_the_threshold_on(srv, connection, tmp_path, threshold, exports):
    from airflow.sdk.exceptions import TaskDeferred

    op = operator(tmp_path)
    op.object_config = op.object_config.model_copy(
        update={"full_load_method": "auto", "export_threshold": threshold}
    )
    plan = full_plan(srv)
    before = exports_started(srv)
    try:
        manifest = op.execute({"ti": FakeTI(plan), "params": {}})
    except TaskDeferred:
        manifest = None
    assert exports_started(srv) == before + (1 if exports else 0)
    if not exports:  # listed: the same records, through the list API
        assert manifest is not None and manifest["method"] == "list" and manifest["records"] > 0
