"""A task killed with SIGKILL mid-extract and mid-load, through a real Airflow scheduler,
is retried and completes its run with the right result.

Real Airflow (api-server + scheduler with LocalExecutor + dag-processor, see
``hubspot_devtools.airflow_stack``); two manual runs of ``hubspot_contacts`` on one stack:

1. ``crash-extract`` (the first, full load): once the extract has closed a staged part, the
   LocalExecutor worker running the task is lost: SIGKILL to the task supervisor (the
   executor's worker process) and to the task process's own process group. Nobody reports
   the try, so the scheduler finds it without heartbeat after
   ``[scheduler] task_instance_heartbeat_timeout`` and puts it up for retry; try 2 extracts
   into ``attempt-2`` and the run goes on from there.
2. ``crash-load`` (``full_load``): the load commits two parts and blocks claiming the third
   (the test holds an uncommitted marker for that part id, so the kill lands inside the
   load, in the open transaction of a part, never racing it). SIGKILL to the task process
   group only: the supervisor survives, sees exit -9 and reports ``up_for_retry``; try 2
   skips the two committed parts and loads the rest.

After each: the run succeeds, the killed task ran exactly twice, every staged part was
loaded exactly once (``_hubspot_loaded_parts``), the table holds each live contact once and
equals the sandbox (oracle), and the watermark (``_hubspot_sync_state``) did not move
between the kill and the load's successful retry.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from hubspot_devtools.airflow_stack import AirflowStack
from hubspot_etl.sync.staging import safe_path_segment
from psycopg.rows import dict_row

from tests.support.oracle import check_object

DAG_ID = "hubspot_contacts"
RUN_TIMEOUT_S = 150
HEARTBEAT_TIMEOUT_S = 12


def warehouse_query(env, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with psycopg.connect(env.pg.uri, row_factory=dict_row) as conn:
        return conn.execute(sql.replace("{schema}", f'"{env.schema}"'), params).fetchall()


def sync_state(env) -> dict[str, Any] | None:
    """The contacts row of ``_hubspot_sync_state`` (None before the table or the row exists)."""
    try:
        rows = warehouse_query(
            env,
            "SELECT watermark, last_full_load_at, last_run_id FROM {schema}._hubspot_sync_state "
            "WHERE object_name = 'contacts'",
        )
    except psycopg.errors.UndefinedTable:
        return None
    return rows[0] if rows else None


def loaded_parts(env, run_id: str) -> list[dict[str, Any]]:
    """Loaded extract parts of one run (``<run>/attempt-N/part-NNNNN``), reconcile's excluded."""
    return warehouse_query(
        env,
        "SELECT part_id, rows FROM {schema}._hubspot_loaded_parts "
        "WHERE object_name = 'contacts' AND part_id LIKE %s ORDER BY part_id",
        [f"{run_id}/attempt-%/part-%"],
    )


def attempt_dir(env, run_id: str, attempt: int) -> Path:
    return env.staging / safe_path_segment(DAG_ID) / safe_path_segment(run_id) / f"attempt-{attempt}"


def part_files(env, run_id: str, attempt: int) -> list[Path]:
    return sorted(attempt_dir(env, run_id, attempt).glob("part-*.ndjson"))


def staged_rows(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def task_processes(stack: AirflowStack, ti: dict[str, Any]) -> tuple[psutil.Process, psutil.Process]:
    """(task process, its supervisor) of a running try; the supervisor is a LocalExecutor worker."""
    task = psutil.Process(ti["pid"])
    supervisor = task.parent()
    assert supervisor is not None, f"task process {ti['pid']} has no parent"
    title = " ".join(supervisor.cmdline())
    assert "LocalExecutor" in title, f"the parent of task pid {task.pid} is not an executor worker: {title}"
    assert os.getpgid(task.pid) == task.pid, "the task process should lead its own process group"
    scheduler = psutil.Process(stack.processes["scheduler"].pid)
    assert supervisor.pid in {p.pid for p in scheduler.children(recursive=True)}, "not this stack's worker"
    return task, supervisor


def wait_until(what: str, predicate, timeout: float, stack: AirflowStack, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        stack.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{stack.diagnostics(DAG_ID)}")
        time.sleep(interval)


def trigger(stack: AirflowStack, run_id: str, conf: dict[str, Any] | None = None) -> None:
    args = ["dags", "trigger", DAG_ID, "--run-id", run_id]
    if conf:
        args += ["--conf", json.dumps(conf)]
    stack.cli(*args)


def watch_run(stack: AirflowStack, env, run_id: str, state_at_kill: dict[str, Any] | None) -> dict[str, Any]:
    """Wait for the run to end; every poll, the watermark may only differ from the one at
    the kill once the load has succeeded. Returns the ``dag_run`` row."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        stack.check_alive()
        state = sync_state(env)
        if state != state_at_kill:
            load = stack.task_instance(DAG_ID, run_id, "load")
            assert load and load["state"] == "success", (
                f"the watermark moved ({state_at_kill} -> {state}) before the load succeeded: {load}"
            )
        run = next(r for r in stack.dag_runs(DAG_ID) if r["run_id"] == run_id)
        if run["state"] in ("success", "failed"):
            assert run["state"] == "success", (
                f"{run_id} ended {run['state']}: {stack.task_states(DAG_ID, run_id)}\n"
                f"{stack.diagnostics(DAG_ID)}"
            )
            return run
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{run_id} not finished after {RUN_TIMEOUT_S}s: {stack.task_states(DAG_ID, run_id)}\n"
                f"{stack.diagnostics(DAG_ID)}"
            )
        time.sleep(0.5)


def heartbeat_timeouts(stack: AirflowStack, run_id: str) -> int:
    """How many tries of the run the scheduler failed for a missing heartbeat (its audit log)."""
    rows = stack.query(
        "SELECT count(*) AS n FROM log WHERE event = 'heartbeat timeout' AND dag_id = %s AND run_id = %s",
        [DAG_ID, run_id],
    )
    return int(rows[0]["n"])


def run_report(env, run_id: str) -> dict[str, Any]:
    rows = warehouse_query(
        env,
        "SELECT mode, records_fetched, details FROM {schema}._hubspot_run_report "
        "WHERE object_name = 'contacts' AND run_id = %s",
        [run_id],
    )
    assert rows, f"no run report for {run_id}"
    return rows[0]


def check_result(env, stack: AirflowStack, run_id: str, attempt: int) -> list[dict[str, Any]]:
    """The run's loaded parts are exactly the files extract try ``attempt`` staged, each
    once; the table holds each live contact once and equals the sandbox."""
    files = part_files(env, run_id, attempt)
    assert files, f"no staged parts under {attempt_dir(env, run_id, attempt)}"
    parts = loaded_parts(env, run_id)
    ids = [p["part_id"] for p in parts]
    assert len(ids) == len(set(ids)), f"a part was loaded twice: {ids}"
    assert ids == [f"{run_id}/attempt-{attempt}/{f.stem}" for f in files], ids
    assert [p["rows"] for p in parts] == [staged_rows(f) for f in files]

    snapshot = env.snapshot("contacts")
    live = {int(r["id"]) for r in snapshot["records"] if not r.get("archived")}
    assert sum(p["rows"] for p in parts) == len(live)
    counts = warehouse_query(
        env, "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM {schema}.contact WHERE NOT _is_deleted"
    )[0]
    assert counts["n"] == counts["ids"] == len(live), counts
    problems = check_object(env.view, snapshot, "contact", "contacts")
    assert problems == [], problems[:20]
    return parts


@pytest.mark.slow
@pytest.mark.portal(contacts=1500, companies=10, deals=10, tickets=5, custom=5, extra_properties=2, owners=2)
def test_task_killed_mid_extract_and_mid_load_is_retried(sync_env, airflow_metadata, tmp_path):
    started = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - started, 1)

    sync_env.write_config(
        # parts load only in the load step here, so a kill can land in either step
        {"contacts": {"associations": [], "part_size": 100, "load_during_extract": False}},
        retries=2,
        retry_delay_seconds=1,
        max_retry_delay_seconds=5,
        keep_staged_files=True,  # the test compares loaded parts with the staged files
    )
    config = {
        "scheduler": {
            "use_job_schedule": False,  # the manual runs only
            "task_instance_heartbeat_timeout": HEARTBEAT_TIMEOUT_S,
            "task_instance_heartbeat_timeout_detection_interval": 2,
        },
        "workers": {"min_heartbeat_interval": 2},
    }
    with AirflowStack(
        tmp_path / "airflow",
        airflow_metadata.sqlalchemy_url,
        metadata_uri=airflow_metadata.libpq_uri,
        config=config,
    ) as stack:
        phase("stack up")
        stack.cli("pools", "set", "hubspot_api", "4", "HubSpot API budget")
        stack.wait_for_dag(DAG_ID)
        stack.cli("dags", "unpause", DAG_ID)
        phase("dag parsed")

        # ------------------------------------------------ 1. worker lost mid-extract
        run1 = "crash-extract"
        sync_env.admin("PATCH", "config", {"latency_ms": 150})  # extract: ~15 pages, seconds
        trigger(stack, run1)
        ti = stack.wait_for_running_task(DAG_ID, run1, "extract", timeout=90)
        task, supervisor = task_processes(stack, ti)
        # part-00002 open means part-00001 is closed: at least one part is complete
        wait_until("a closed extract part", lambda: len(part_files(sync_env, run1, 1)) >= 2, 60, stack)
        assert stack.task_instance(DAG_ID, run1, "extract")["state"] == "running"
        supervisor.kill()  # the executor's worker (the supervisor) first: nobody reports the try
        os.killpg(task.pid, signal.SIGKILL)
        psutil.wait_procs([task, supervisor], timeout=10)
        assert not task.is_running() and not supervisor.is_running()
        phase("extract killed")
        sync_env.admin("PATCH", "config", {"latency_ms": 0})
        staged_at_kill = len(part_files(sync_env, run1, 1))
        state_at_kill = sync_state(sync_env)
        assert state_at_kill is None, f"a watermark before the first run finished: {state_at_kill}"
        assert loaded_parts(sync_env, run1) == []
        assert stack.task_instance(DAG_ID, run1, "load")["state"] is None

        watch_run(stack, sync_env, run1, state_at_kill)
        phase("run 1 done")
        extract = stack.task_instance(DAG_ID, run1, "extract")
        assert extract["state"] == "success" and extract["try_number"] == 2, extract
        assert stack.task_instance(DAG_ID, run1, "load")["try_number"] == 1
        assert heartbeat_timeouts(stack, run1) >= 1, "the lost try was not failed by the heartbeat timeout"
        parts1 = check_result(sync_env, stack, run1, attempt=2)
        assert 2 <= staged_at_kill <= len(parts1), (staged_at_kill, len(parts1))
        report1 = run_report(sync_env, run1)
        assert report1["mode"] == "full", report1
        state1 = sync_state(sync_env)
        assert state1 is not None and state1["last_run_id"] == run1, state1

        # ------------------------------------------------ 2. task process killed mid-load
        run2 = "crash-load"
        blocked_part = f"{run2}/attempt-1/part-00003"
        with psycopg.connect(sync_env.pg.uri) as blocker:
            # An uncommitted marker for part 3: the load commits parts 1 and 2, then waits
            # on this row lock while claiming part 3, inside that part's transaction.
            blocker.execute(
                f'INSERT INTO "{sync_env.schema}"._hubspot_loaded_parts (object_name, part_id, rows) '
                "VALUES ('contacts', %s, 0)",
                [blocked_part],
            )
            trigger(stack, run2, {"full_load": True})
            ti = stack.wait_for_running_task(DAG_ID, run2, "load", timeout=90)
            task, supervisor = task_processes(stack, ti)
            wait_until("two committed parts", lambda: len(loaded_parts(sync_env, run2)) == 2, 60, stack)
            wait_until(
                "the load waiting on part 3",
                lambda: warehouse_query(
                    sync_env,
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE %s AND pid <> pg_backend_pid()",
                    ["%_hubspot_loaded_parts%"],
                )[0]["n"]
                == 1,
                30,
                stack,
            )
            os.killpg(task.pid, signal.SIGKILL)  # the task process (group); its supervisor lives on
            psutil.wait_procs([task], timeout=10)
            assert not task.is_running()
            phase("load killed")
            staged2 = part_files(sync_env, run2, 1)
            assert len(staged2) > 3, f"too few parts for a mid-load kill: {staged2}"
            assert [p["part_id"] for p in loaded_parts(sync_env, run2)] == [
                f"{run2}/attempt-1/part-00001",
                f"{run2}/attempt-1/part-00002",
            ]
            assert sync_state(sync_env) == state1, "the watermark moved after a killed load"
            # the supervisor reports the kill: the try is up for retry, not failed
            wait_until(
                "the killed load up for retry",
                lambda: (stack.task_instance(DAG_ID, run2, "load") or {}).get("state")
                in ("up_for_retry", "queued", "scheduled", "running"),
                30,
                stack,
            )
            assert supervisor.is_running(), "the supervisor should survive its task's kill"
            blocker.rollback()  # the marker was never committed: no trace in the warehouse

        watch_run(stack, sync_env, run2, state1)
        phase("run 2 done")
        load = stack.task_instance(DAG_ID, run2, "load")
        assert load["state"] == "success" and load["try_number"] == 2, load
        extract = stack.task_instance(DAG_ID, run2, "extract")
        assert extract["try_number"] == 1, extract
        assert heartbeat_timeouts(stack, run2) == 0, "the supervisor should have reported the killed load"
        parts2 = check_result(sync_env, stack, run2, attempt=1)
        assert len(parts2) == len(staged2)
        report2 = run_report(sync_env, run2)
        assert report2["mode"] == "full", report2
        assert report2["details"]["parts"] == {"loaded": len(parts2) - 2, "skipped": 2}, report2["details"]
        state2 = sync_state(sync_env)
        assert state2["last_run_id"] == run2 and state2["watermark"] >= state1["watermark"], (state1, state2)
        leases = warehouse_query(sync_env, "SELECT * FROM {schema}._hubspot_run_leases")
        assert leases == [], f"a run lease was left behind: {leases}"
    phase("stack stopped")
    print(f"worker-loss e2e phases (s since start): {phases}")
