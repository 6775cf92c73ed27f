"""The history step (``sync/history.py``) in-process, on a real PostgreSQL warehouse, and its
place in the DAG.

HubSpot is a stand-in here (:class:`HistoryStub`: the hook's ``batch_read_history`` over a
dict of writes, already in the hook's row shape); the hook's own reading and chunking are
tested in tests/hooks/test_history_hook.py, the sandbox end to end in tests/e2e. What is
tested here is the step's: which records it reads, what it writes under which lease, what it
reports, and that a dry run writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from hubspot_etl.config import parse_config
from hubspot_etl.hooks.crm import PropertyHistory
from hubspot_etl.hooks.stats import HubSpotStats
from hubspot_etl.sync import steps
from hubspot_etl.sync.context import lease_ttl
from hubspot_etl.sync.contracts import Manifest, Plan
from hubspot_etl.sync.history import history
from hubspot_etl.sync.staging import PartWriter, staging_dir
from hubspot_etl.warehouse import WarehouseLockError
from hubspot_etl.warehouse.postgres import PostgresWarehouse
from psycopg import sql
from psycopg.rows import dict_row


def stamp(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000Z"


def w(object_id: int, prop: str, value: str, second: int) -> dict[str, Any]:
    return {
        "object_id": object_id,
        "property": prop,
        "value": value,
        "timestamp": stamp(second),
        "source_type": "CRM_UI",
        "source_id": "userId:1",
        "source_label": None,
        "updated_by_user_id": 1,
    }


class HistoryStub:
    """What the step uses of a hook: ``batch_read_history``, ``stats`` and ``settings``."""

    def __init__(self, writes: list[dict[str, Any]]) -> None:
        self.writes = writes
        self.stats = HubSpotStats()
        self.settings = SimpleNamespace(list_concurrency=2)
        self.requests: list[tuple[str, list[str], list[str]]] = []
        self.archived_requests: list[bool] = []

    def batch_read_history(
        self, object_type: str, ids: list[str], properties: list[str], archived: bool = False
    ) -> PropertyHistory:
        self.requests.append((object_type, list(ids), list(properties)))
        self.archived_requests += [archived]
        for _ in range(0, len(ids), 50):
            self.stats.call("objects.batch_read_history")
        result = PropertyHistory()
        for rid in ids:
            rows = [r for r in self.writes if str(r["object_id"]) == rid and r["property"] in properties]
            if any(str(r["object_id"]) == rid for r in self.writes):
                result.records += 1
                result.extend(rows)
            else:
                result.missing.append(rid)
        return result


class Env:
    def __init__(self, pg_uri: str, tmp_path: Path) -> None:
        self.pg_uri, self.tmp_path = pg_uri, tmp_path
        self.schema = f"h_{uuid.uuid4().hex[:10]}"
        self.staging = f"file://{tmp_path / 'staging'}"

    def warehouse(self) -> PostgresWarehouse:
        return PostgresWarehouse(self.schema, conninfo=self.pg_uri)

    def context(
        self, hook: HistoryStub, run_id: str = "run-1", history_setting: Any = ("dealstage",), **params
    ):
        document = {
            "objects": {"deals": {"history": history_setting}},
            "defaults": {
                "destination": {"schema": self.schema},
                "staging_base": self.staging,
                "lease_wait_seconds": 0,
            },
        }
        return steps.StepContext(
            cfg=parse_config(document).objects[0],
            dag_id="hubspot_deals",
            run_id=run_id,
            params=params,
            hook_factory=lambda: hook,
            warehouse_factory=self.warehouse,
        )

    def manifest(self, run_id: str, ids: list[int]) -> Manifest:
        directory = staging_dir(self.staging, "hubspot_deals", run_id, 1)
        with PartWriter(directory, f"{run_id}/attempt-1", 2) as writer:
            writer.write_many({"id": str(i), "properties": {}, "archived": False} for i in ids)
        return Manifest(
            parts=writer.parts,
            records=len(ids),
            records_changed=len(ids),
            complete=True,
            extract_started_at="2026-01-01T00:00:00+00:00",
            api_calls={},
        )

    def rows(self, table: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.pg_uri, row_factory=dict_row) as conn:
            query = sql.SQL("SELECT * FROM {} ORDER BY 1, 3").format(sql.Identifier(self.schema, table))
            return conn.execute(query).fetchall()

    def tables(self) -> set[str]:
        with psycopg.connect(self.pg_uri) as conn:
            found = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [self.schema]
            ).fetchall()
        return {name for (name,) in found}

    def drop(self) -> None:
        with psycopg.connect(self.pg_uri, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))


@pytest.fixture
def env(pg_uri: str, tmp_path: Path) -> Iterator[Env]:
    env = Env(pg_uri, tmp_path)
    env.warehouse().ensure_schema()
    yield env
    env.drop()


def plan(mode: str = "full", dry_run: bool = False, properties: list[str] | None = None) -> Plan:
    return Plan(
        object_name="deals",
        api_type="0-3",
        table="deal",
        properties=properties or ["hs_object_id", "dealstage", "amount"],
        modified_property="hs_lastmodifieddate",
        associations=[],
        association_scope="extracted",
        associated_from=[],
        pipelines=1,
        mode=mode,
        window_start=None,
        window_end="2026-01-01T01:00:00+00:00",
        window_reason="test",
        old_watermark=None,
        archived_before_uri=None,
        started_at="2026-01-01T00:00:00+00:00",
        dry_run=dry_run,
        limit=None,
        schema_changes={},
        api_calls={},
    )


WRITES = [
    w(1, "dealstage", "A", 0),
    w(1, "dealstage", "B", 10),
    w(1, "amount", "5", 1),
    w(2, "dealstage", "A", 2),
    w(3, "dealstage", "C", 3),
]


def lease(env: Env, ctx: Any) -> None:
    env.warehouse().acquire_run_lease("deals", ctx.run_id, lease_ttl(ctx.cfg))


def test_a_full_run_reads_every_extracted_record(env: Env) -> None:
    hook = HistoryStub(WRITES)
    ctx = env.context(hook)
    lease(env, ctx)
    report = history(ctx, plan(), env.manifest("run-1", [1, 2, 3, 4]))  # 4: deleted meanwhile
    assert hook.requests == [("0-3", ["1", "2", "3", "4"], ["dealstage"])]
    assert report.summary() == {
        "properties": 1,
        "records": 4,
        "rows": 4,
        "calls": 1,
        "changed": 4,
        "missing": 1,
        "stage_rows": 4,
        "archived_records": 0,
    }
    assert report.api_calls["calls"] == {"objects.batch_read_history": 1}
    history_rows = env.rows("deal_property_history")
    assert [(r["object_id"], r["property"], r["value"]) for r in history_rows] == [
        (1, "dealstage", "A"),
        (1, "dealstage", "B"),
        (2, "dealstage", "A"),
        (3, "dealstage", "C"),
    ]  # amount is not configured
    stage = [(r["object_id"], r["stage_id"], r["is_active"]) for r in env.rows("deal_stage_history")]
    assert stage == [(1, "A", False), (1, "B", True), (2, "A", True), (3, "C", True)]


def test_an_incremental_run_reads_and_rebuilds_only_the_extracted_records(env: Env) -> None:
    hook = HistoryStub(WRITES)
    first = env.context(hook)
    lease(env, first)
    history(first, plan(), env.manifest("run-1", [1, 2, 3]))
    env.warehouse().release_run_lease("deals", "run-1")
    untouched = {
        r["object_id"]: r["_synced_at"] for r in env.rows("deal_stage_history") if r["object_id"] != 2
    }

    hook.writes = [*WRITES, w(2, "dealstage", "D", 30), w(1, "dealstage", "Z", 40)]  # 1 not extracted
    second = env.context(hook, run_id="run-2")
    lease(env, second)
    report = history(second, plan("incremental"), env.manifest("run-2", [2]))
    assert hook.requests[-1] == ("0-3", ["2"], ["dealstage"])
    assert (report.records, report.rows, report.changed, report.stage_rows) == (1, 2, 1, 2)
    stage = [(r["object_id"], r["stage_id"], r["is_active"]) for r in env.rows("deal_stage_history")]
    assert stage == [(1, "A", False), (1, "B", True), (2, "A", False), (2, "D", True), (3, "C", True)]
    assert {
        r["object_id"]: r["_synced_at"] for r in env.rows("deal_stage_history") if r["object_id"] != 2
    } == (untouched)


def test_history_all_reads_the_plans_properties_and_no_stage_without_dealstage(env: Env) -> None:
    hook = HistoryStub(WRITES)
    ctx = env.context(hook, history_setting="all")
    lease(env, ctx)
    report = history(ctx, plan(properties=["hs_object_id", "amount"]), env.manifest("run-1", [1]))
    assert hook.requests == [("0-3", ["1"], ["hs_object_id", "amount"])]
    assert (report.rows, report.stage_rows) == (1, None)
    assert "deal_stage_history" not in env.tables()
    assert [r["property"] for r in env.rows("deal_property_history")] == ["amount"]


def test_a_dry_run_reads_and_counts_only(env: Env) -> None:
    hook = HistoryStub(WRITES)
    ctx = env.context(hook, dry_run=True)
    report = history(ctx, plan(dry_run=True), env.manifest("run-1", [1, 2]))
    assert (report.records, report.rows, report.calls, report.changed) == (2, 3, 1, 0)
    assert not {"deal_property_history", "deal_stage_history"} & env.tables()


def test_another_runs_lease_stops_the_write(env: Env) -> None:
    hook = HistoryStub(WRITES)
    ctx = env.context(hook)
    env.warehouse().acquire_run_lease("deals", "someone-else", lease_ttl(ctx.cfg))
    with pytest.raises(WarehouseLockError):
        history(ctx, plan(), env.manifest("run-1", [1]))
    assert "deal_property_history" not in env.tables()


def test_the_run_report_carries_the_history_entry(env: Env) -> None:
    hook = HistoryStub(WRITES)
    ctx = env.context(hook)
    lease(env, ctx)
    manifest = env.manifest("run-1", [1, 2])
    history_xcom = steps.history(ctx, plan().as_dict(), manifest.as_dict())
    no_calls = {"api_calls": {}}
    report = steps.finalize(
        ctx,
        plan().as_dict(),
        manifest.as_dict(),
        {"records_upserted": 0, "rejects": 0, "parts_loaded": 1, "parts_skipped": 0},
        {"associations": {}, **no_calls},
        {"deletes": {}, **no_calls},
        history_xcom,
    )
    assert report["history"] == {
        "properties": 1,
        "records": 2,
        "rows": 3,
        "calls": 1,
        "changed": 3,
        "missing": 0,
        "stage_rows": 3,
        "archived_records": 0,
    }
    assert report["api_calls"]["objects.batch_read_history"] == 1
    assert report["changed"] is True
    stored = env.warehouse().get_run_report("deals", "run-1")
    assert stored["details"]["history"] == report["history"]


# ---------------------------------------------------------------------- the DAG
def _dag(history_setting: Any):
    from hubspot_dags import build_object_dag  # type: ignore[import-not-found]

    document = {"objects": {"deals": {"history": history_setting, "associations": ["companies"]}}}
    return build_object_dag(parse_config(document).objects[0], "test")


@pytest.fixture
def dags_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "dags"))


def test_the_dag_has_a_history_task_only_when_configured(dags_on_path: None) -> None:
    with_history = _dag(["dealstage"])
    assert [t.task_id for t in with_history.topological_sort()] == [
        "prepare",
        "extract",
        "load",
        "associations",
        "reconcile",
        "history",
        "finalize",
        "publish",
    ]
    task = with_history.get_task("history")
    assert task.upstream_task_ids == {"reconcile"} and task.downstream_task_ids == {"finalize"}
    assert task.pool == "hubspot_api" and task.retries >= 1
    assert with_history.get_task("finalize").inputs[-1] == "history"

    without = _dag([])
    assert "history" not in without.task_ids
    assert without.get_task("finalize").upstream_task_ids == {"reconcile"}
    assert "history" not in without.get_task("finalize").inputs


def test_fetched_records_are_written_in_batches(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from hubspot_etl.sync import history as history_module

    monkeypatch.setattr(history_module, "HISTORY_CHUNK", 2)
    monkeypatch.setattr(history_module, "WRITE_RECORDS", 3)
    written: list[list[int]] = []

    class Spy(PostgresWarehouse):
        def rebuild_stage_history(self, object_name, ids, stage_property):
            written.append(sorted(ids))
            return super().rebuild_stage_history(object_name, ids, stage_property)

    hook = HistoryStub(WRITES)
    ctx = env.context(hook)
    ctx.warehouse_factory = lambda: Spy(env.schema, conninfo=env.pg_uri)
    lease(env, ctx)
    report = history(ctx, plan(), env.manifest("run-1", [1, 2, 3, 4, 5]))
    assert [ids for _, ids, _ in hook.requests] == [["1", "2"], ["3", "4"], ["5"]]
    assert written == [[1, 2, 3, 4], [5]]
    assert (report.records, report.stage_rows, report.missing) == (5, 4, 2)


def test_a_full_run_reads_archived_records_without_history_once(env: Env, write_part) -> None:
    wh = env.warehouse()
    wh.ensure_object_table("deals", [])
    wh.load_part(
        "deals", "p", write_part([{"id": str(i), "properties": {}, "archived": False} for i in (2, 3, 6)])
    )
    # 2 and 3: archived before any run read their history; 6 archived and already read
    wh.mark_deleted(
        "deals", [(2, "archived", None, None), (3, "archived", None, None), (6, "archived", None, None)]
    )
    wh.upsert_property_history("deals", [w(6, "dealstage", "E", 6)])
    hook = HistoryStub([*WRITES, w(6, "dealstage", "F", 7)])
    ctx = env.context(hook)
    lease(env, ctx)
    report = history(ctx, plan(), env.manifest("run-1", [1]))
    assert [ids for _, ids, _ in hook.requests] == [["1"], ["2", "3"]]
    assert hook.archived_requests == [False, True]
    assert (report.records, report.archived_records) == (3, 2)
    assert {r["object_id"] for r in env.rows("deal_property_history")} == {1, 2, 3, 6}
    assert {r["object_id"] for r in env.rows("deal_stage_history")} == {1, 2, 3}
    # read once: the next full run asks for none of them again; an incremental run never does
    history(env.context(hook), plan(), env.manifest("run-1b", [1]))
    history(env.context(hook), plan("incremental"), env.manifest("run-1c", [1]))
    assert [ids for _, ids, _ in hook.requests][2:] == [["1"], ["1"]]
