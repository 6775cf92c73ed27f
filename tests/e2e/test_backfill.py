"""A backfill over two hourly intervals loads exactly the records modified in them.

Real Airflow, not ``dag.test()``: ``airflow backfill create`` makes the runs and a real
scheduler (LocalExecutor) runs them, with the api-server (execution API) and the
dag-processor in subprocesses on a PostgreSQL metadata DB (see
``hubspot_devtools.airflow_stack``).

A full load runs first (through ``dag.test()``), so the backfill meets what production
has: an existing table and a watermark at "now", far after the backfilled hours. That is
the case where a backfill could do harm (move the watermark back, re-window from it), and
the one where "exactly its interval, no lookback" can be told apart from an incremental
run: an incremental window would start at the watermark, not in yesterday's hours.

``--from-date``/``--to-date`` select *logical dates*, both inclusive; with
``CronDataIntervalTimetable`` the logical date is the interval start. So hours 10:00-11:00
and 11:00-12:00 are ``--from-date 10:00 --to-date 11:00`` (``--to-date 12:00`` would add
a third run for 12:00-13:00).

The DAG must be unpaused (the scheduler ignores runs of paused DAGs, backfill runs
included). Unpausing would also make the scheduler create an ordinary ``scheduled`` run for
the latest hour; ``[scheduler] use_job_schedule = False`` keeps it out, so the backfill runs
are the only runs. They go one at a time (``--max-active-runs 1``): runs of one object
serialize on the warehouse run lease anyway, and a run that waits longer than
``lease_wait_seconds`` for it fails its prepare task.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hubspot_devtools.airflow_stack import AirflowStack
from hubspot_etl.sync.plan import parse_datetime
from hubspot_etl.sync.staging import safe_path_segment
from psycopg.rows import dict_row

DAG_ID = "hubspot_deals"
BACKFILL_TIMEOUT_S = 240


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def fetched_ids(staging: Path, run_id: str) -> set[int]:
    """Ids the run's extract staged (every attempt; this config has no retries)."""
    run_dir = staging / safe_path_segment(DAG_ID) / safe_path_segment(run_id)
    ids: set[int] = set()
    for part in sorted(run_dir.glob("attempt-*/part-*.ndjson")):
        for line in part.read_text().splitlines():
            if line.strip():
                ids.add(int(json.loads(line)["id"]))
    return ids


def modified_between(snapshot: dict[str, Any], start: datetime, end: datetime) -> set[int]:
    """Live records whose last-modified time is in ``[start, end)`` (the portal's truth)."""
    return {
        int(record["id"])
        for record in snapshot["records"]
        if not record.get("archived") and start <= parse_datetime(record["updatedAt"]) < end
    }


def warehouse_query(env, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with psycopg.connect(env.pg.uri, row_factory=dict_row) as conn:
        return conn.execute(sql.replace("{schema}", f'"{env.schema}"'), params).fetchall()


def watermark(env) -> datetime:
    rows = warehouse_query(
        env, "SELECT watermark FROM {schema}._hubspot_sync_state WHERE object_name = 'deals'"
    )
    assert rows and rows[0]["watermark"] is not None, "no deals watermark"
    return rows[0]["watermark"]


@pytest.mark.slow
@pytest.mark.portal(contacts=20, companies=10, deals=40, tickets=5, custom=5, extra_properties=2, owners=2)
def test_backfill_of_two_intervals_loads_exactly_their_records(sync_env, airflow_metadata, tmp_path):
    started = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = round(time.monotonic() - started, 1)

    now = datetime.now(UTC)
    day = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    hour = [day + timedelta(hours=h) for h in (10, 11, 12)]  # intervals [10, 11) and [11, 12)
    sync_env.write_config(
        {"deals": {}},
        schedule="0 * * * *",
        start_date=day - timedelta(days=7),
        lookback_minutes=15,
        keep_staged_files=True,  # the test reads each run's staged ids
    )

    # 1. A full load first: the table exists and the watermark is "now".
    first = sync_env.report(sync_env.run(DAG_ID))
    assert first["mode"] == "full"
    watermark_before = watermark(sync_env)
    phase("full load (dag.test)")

    # 2. Changes with explicit last-modified times in, and just outside, the two hours.
    portal = sync_env.sandbox.portal
    existing = sorted(int(r["id"]) for r in sync_env.snapshot("deals")["records"] if not r.get("archived"))
    assert len(existing) >= 6
    new_values: dict[int, dict[str, str]] = {}

    def update(record_id: int, at: datetime, tag: str) -> int:
        props = {"dealname": f"backfill {tag}", "amount": f"{1000 + len(new_values)}.5"}
        portal.update("deals", record_id, props, updated_at=_ms(at))
        new_values[record_id] = props
        return record_id

    def create(at: datetime, tag: str) -> int:
        props = {"dealname": f"backfill {tag}", "amount": f"{1000 + len(new_values)}.5"}
        record_id = int(portal.create("deals", props, created_at=_ms(at), updated_at=_ms(at))["id"])
        new_values[record_id] = props
        return record_id

    first_hour = {
        update(existing[0], hour[0], "h10 start"),  # the start is inclusive
        update(existing[1], hour[0] + timedelta(minutes=30), "h10 mid"),
        create(hour[1] - timedelta(milliseconds=1), "h10 last ms"),
    }
    second_hour = {
        update(existing[2], hour[1], "h11 start"),
        update(existing[3], hour[1] + timedelta(minutes=45), "h11 mid"),
        create(hour[1] + timedelta(minutes=15), "h11 new"),
        create(hour[2] - timedelta(seconds=1), "h11 last s"),
    }
    before_first = update(existing[4], hour[0] - timedelta(minutes=1), "09:59")
    at_end = create(hour[2], "12:00")  # the end is exclusive
    old_name = {
        row["id"]: row["dealname"]
        for row in warehouse_query(
            sync_env, "SELECT id, dealname FROM {schema}.deal WHERE id = %s", [before_first]
        )
    }
    snapshot = sync_env.snapshot("deals")
    # the portal's own truth agrees with what was staged above (generated deals are older)
    assert modified_between(snapshot, hour[0], hour[1]) == first_hour
    assert modified_between(snapshot, hour[1], hour[2]) == second_hour

    # 3. A real Airflow: api-server + scheduler + dag-processor on a PostgreSQL metadata DB.
    stack_started_at = warehouse_query(sync_env, "SELECT now() AS t")[0]["t"]
    with AirflowStack(
        tmp_path / "airflow",
        airflow_metadata.sqlalchemy_url,
        metadata_uri=airflow_metadata.libpq_uri,
        config={"scheduler": {"use_job_schedule": False}},  # backfill runs only
    ) as stack:
        phase("stack up")
        stack.cli("pools", "set", "hubspot_api", "4", "HubSpot API budget")
        stack.wait_for_dag(DAG_ID)
        phase("dag parsed")
        stack.cli("dags", "unpause", DAG_ID)
        stack.cli(
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            hour[0].isoformat(),
            "--to-date",
            hour[1].isoformat(),
            "--reprocess-behavior",
            "none",
            "--max-active-runs",
            "1",
        )
        backfill_id = stack.latest_backfill_id(DAG_ID)
        phase("backfill created")
        runs = stack.wait_for_runs(DAG_ID, backfill_id=backfill_id, expected=2, timeout=BACKFILL_TIMEOUT_S)
        phase("backfill runs done")
        diagnostics = "" if all(r["state"] == "success" for r in runs) else stack.diagnostics(DAG_ID)
        task_states = stack.task_states(DAG_ID)
    phase("stack stopped")

    # 4. Two backfill runs, one per hour, both successful.
    assert [(r["data_interval_start"], r["data_interval_end"]) for r in runs] == [
        (hour[0], hour[1]),
        (hour[1], hour[2]),
    ], runs
    assert all(r["run_type"] == "backfill" for r in runs), runs
    failed = {r["run_id"]: task_states.get(r["run_id"]) for r in runs if r["state"] != "success"}
    assert not failed, f"backfill runs failed: {failed}\n{diagnostics}"

    # 5. Each run windowed exactly its interval and fetched exactly the deals modified in it.
    reports = {
        row["run_id"]: row
        for row in warehouse_query(
            sync_env,
            "SELECT run_id, mode, records_fetched, details FROM {schema}._hubspot_run_report "
            "WHERE object_name = 'deals' AND run_id = ANY(%s)",
            [[r["run_id"] for r in runs]],
        )
    }
    for run, expected_ids in zip(runs, (first_hour, second_hour), strict=True):
        report = reports.get(run["run_id"])
        assert report is not None, f"no run report for {run['run_id']}"
        assert report["mode"] == "backfill", report
        assert parse_datetime(report["details"]["window_start"]) == run["data_interval_start"], report
        assert parse_datetime(report["details"]["window_end"]) == run["data_interval_end"], report
        staged = fetched_ids(sync_env.staging, run["run_id"])
        assert staged, f"no staged parts of {run['run_id']} under {sync_env.staging}"
        assert staged == expected_ids, (run["run_id"], sorted(staged), sorted(expected_ids))
        assert report["records_fetched"] == len(expected_ids), report
        assert before_first not in staged and at_end not in staged

    # 6. The warehouse holds the new values; the deals outside the hours are untouched.
    rows = {
        row["id"]: row
        for row in warehouse_query(
            sync_env,
            "SELECT id, dealname, amount FROM {schema}.deal WHERE id = ANY(%s)",
            [sorted(new_values)],
        )
    }
    for record_id in first_hour | second_hour:
        assert record_id in rows, f"deal {record_id} not loaded"
        assert rows[record_id]["dealname"] == new_values[record_id]["dealname"]
        assert float(rows[record_id]["amount"]) == float(new_values[record_id]["amount"])
    assert rows[before_first]["dealname"] == old_name[before_first], "the 09:59 change was loaded"
    assert at_end not in rows, "the deal modified at 12:00 (end exclusive) was loaded"
    # independent of staging: the live rows the backfill wrote are exactly the two hours' deals
    written = warehouse_query(
        sync_env,
        "SELECT id FROM {schema}.deal WHERE _synced_at >= %s AND NOT _is_deleted",
        [stack_started_at],
    )
    assert {row["id"] for row in written} == first_hour | second_hour

    # 7. The watermark never moves backwards (it was "now"; the backfilled hours are yesterday).
    assert watermark(sync_env) >= watermark_before
    for report in reports.values():
        assert parse_datetime(report["details"]["watermark"]) >= watermark_before, report
    print(f"backfill e2e phases (s since start): {phases}")
