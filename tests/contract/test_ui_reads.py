"""The warehouse reads of the HubSpot syncs page, on every destination: run reports newest
first, and the scoring store's score history and snapshot registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot_etl.scoring.sqlfiles import run_step
from hubspot_etl.scoring.store import ScoringStore
from hubspot_etl.warehouse.dialect import P

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _report(object_name: str, n: int) -> dict[str, Any]:
    start = T0 + timedelta(hours=n)
    return {
        "run_id": f"manual__{n}",
        "object_name": object_name,
        "mode": "incremental",
        "status": "healthy",
        "started_at": start.isoformat(),
        "finished_at": (start + timedelta(seconds=30 + n)).isoformat(),
        "records_fetched": 10 * n,
        "records_upserted": 10 * n,
        "rejects": 0,
        "api_calls": {"list": n, "search": 1},
        "deletes": {"archived": n},
        "schema_changes": {},
    }


def test_list_run_reports_newest_first(dest: Any) -> None:
    wh = dest.wh
    assert wh.list_run_reports("contacts") == []
    for n in (2, 1, 3):
        wh.write_run_report(_report("contacts", n))
    wh.write_run_report(_report("deals", 9))
    got = wh.list_run_reports("contacts", limit=2)
    assert [r["run_id"] for r in got] == ["manual__3", "manual__2"]
    assert got[0]["api_calls"] == {"list": 3, "search": 1} and got[0]["deletes"] == {"archived": 3}
    assert got[0]["records_upserted"] == 30 and got[0]["duration_s"] == 33.0
    assert [r["run_id"] for r in wh.list_run_reports("contacts")] == ["manual__3", "manual__2", "manual__1"]


def _scoring_params(dest: Any) -> dict[str, str]:
    schema = getattr(dest.wh.d, "schema", None) or dest.wh.d.dataset
    return {"schema": schema, "dataset_ref": schema}


def test_score_history_and_registry(dest: Any) -> None:
    store = ScoringStore(dest.wh)
    assert store.score_history() == [] and store.snapshot_registry() == []  # before the first scoring
    run_step(store, "tables", _scoring_params(dest), None)
    for n in range(3):
        snapshot, at = f"hubspot_companies:run{n}", T0 + timedelta(days=n)
        store.open_snapshot(
            snapshot_id=snapshot, source="sync", unit="companies", snapshot_at=at, config_version="v1"
        )
        for owner, stage in ((7, "1 Lead"), (8, "8 Contract sent")):
            store.run(
                f"INSERT INTO {store.t('hs_pipeline_score_history')} (snapshot_id, snapshot_at, unit, "
                "owner_id, combined_stage, num_units, total_score, total_amount, weighted_amount, scored_at) "
                "VALUES (@s, @at, 'companies', @o, @stage, 1, @score, 0, 0, @at)",
                {
                    "s": snapshot,
                    "at": P(at, "timestamp"),
                    "o": P(owner, "bigint"),
                    "stage": stage,
                    "score": P(5 + n, "numeric"),
                },
            )
    history = store.score_history(snapshots=2)  # the two newest snapshots, oldest first
    assert [(r["snapshot_id"], r["owner_id"], r["combined_stage"]) for r in history] == [
        ("hubspot_companies:run1", 7, "1 Lead"),
        ("hubspot_companies:run1", 8, "8 Contract sent"),
        ("hubspot_companies:run2", 7, "1 Lead"),
        ("hubspot_companies:run2", 8, "8 Contract sent"),
    ]
    assert [float(r["total_score"]) for r in history] == [6.0, 6.0, 7.0, 7.0]
    registry = store.snapshot_registry(limit=2)
    assert [(r["snapshot_id"], r["scoring_status"]) for r in registry] == [
        ("hubspot_companies:run2", "running"),
        ("hubspot_companies:run1", "running"),
    ]
