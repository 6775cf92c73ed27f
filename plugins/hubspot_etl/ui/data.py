"""What the HubSpot syncs page shows, read from each destination's warehouse tables.

Only figures leave this module: object keys, DAG ids, schedules, run reports, scoring rows and
the HubSpot connection's pacing budget, never a connection's host, login, password or extras.
Every read goes through the warehouse core (``SqlWarehouse.get_sync_state`` /
``get_run_report`` / ``list_run_reports``) or the scoring store, so all three destinations work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hubspot_etl.config import Destination, ObjectConfig, SyncConfig, load_config

log = logging.getLogger(__name__)

FRESH, LATE, FAILING, NEVER = "fresh", "late", "failing", "never run"
#: run-report columns the per-object table shows (the whole report is shown per run)
LAST_RUN_FIELDS = (
    "run_id",
    "mode",
    "status",
    "started_at",
    "finished_at",
    "duration_s",
    "records_fetched",
    "records_upserted",
    "rejects",
    "deletes",
    "schema_changes",
    "api_calls",
)


def freshness(
    schedule: str | None, last_success_at: datetime | None, last_dag_run_state: str | None, now: datetime
) -> str:
    """``failing`` (the DAG's last run failed), ``never run``, ``late`` (more than one scheduled
    run has come and gone since the last successful one) or ``fresh``."""
    if last_dag_run_state == "failed":
        return FAILING
    if last_success_at is None:
        return NEVER
    if schedule is None:  # manual: any successful run is as fresh as it gets
        return FRESH
    from croniter import croniter

    fires = croniter(schedule, _utc(last_success_at))
    fires.get_next(datetime)  # the run that was due next
    overdue_after = fires.get_next(datetime)  # ... and the one after it
    return LATE if now > overdue_after else FRESH


def api_call_total(api_calls: Any) -> int:
    """All API calls of a run report's per-endpoint counter."""
    if not isinstance(api_calls, dict):
        return 0
    return sum(int(v) for v in api_calls.values() if isinstance(v, int | float) and not isinstance(v, bool))


class SyncsData:
    """The page's data for one configuration (``config``: a :class:`SyncConfig`).

    ``warehouse_for``/``scoring_for``/``dag_run_state``/``budget_for`` are injectable so tests
    and other hosts can replace Airflow's metadata DB or connections.
    """

    def __init__(
        self,
        config: SyncConfig | None = None,
        *,
        warehouse_for: Callable[[Destination], Any] | None = None,
        dag_run_state: Callable[[str], str | None] | None = None,
        budget_for: Callable[[str], dict[str, int] | None] | None = None,
    ) -> None:
        self.config = config or load_config()
        self._warehouse_for = warehouse_for or _warehouse
        self._dag_run_state = dag_run_state or last_dag_run_state
        self._budget_for = budget_for or rate_budget
        self._warehouses: dict[tuple, Any] = {}

    # ------------------------------------------------------------------ objects
    def objects(self, allowed: Callable[[str], bool] = lambda dag_id: True) -> list[ObjectConfig]:
        return [o for o in self.config.objects if o.enabled and allowed(o.dag_id)]

    def object(self, key: str) -> ObjectConfig | None:
        return next((o for o in self.config.objects if o.key == key or o.dag_id == key), None)

    def warehouse(self, destination: Destination) -> Any:
        place = (destination.type, destination.conn_id, destination.tables_schema, destination.project)
        if place not in self._warehouses:
            self._warehouses[place] = self._warehouse_for(destination)
        return self._warehouses[place]

    def summaries(self, allowed: Callable[[str], bool] = lambda dag_id: True) -> list[dict[str, Any]]:
        """The per-object table; an object whose warehouse cannot be read gets an ``error`` row
        (the exception's type only: a driver's message may name the host or the user)."""
        rows = []
        for obj in self.objects(allowed):
            try:
                rows.append(self.summary(obj))
            except Exception as exc:
                log.warning("HubSpot syncs page: cannot read %s's warehouse", obj.key, exc_info=True)
                rows.append(
                    {
                        "key": obj.key,
                        "dag_id": obj.dag_id,
                        "destination": obj.destination.type,
                        "schedule": obj.schedule,
                        "freshness": "unknown",
                        "last_run": None,
                        "error": f"cannot read the warehouse ({type(exc).__name__}); see the API server's log",
                    }
                )
        return rows

    def summary(self, obj: ObjectConfig, now: datetime | None = None) -> dict[str, Any]:
        """One row of the per-object table: last run, freshness, sync state."""
        warehouse = self.warehouse(obj.destination)
        state = warehouse.get_sync_state(obj.key) if warehouse.exists() else None
        last = None
        if state and state.get("last_run_id"):
            last = warehouse.get_run_report(obj.key, state["last_run_id"])
        if last is None:
            newest = warehouse.list_run_reports(obj.key, limit=1)
            last = newest[0] if newest else None
        dag_state = self._dag_run_state(obj.dag_id)
        finished = (last or {}).get("finished_at") or (state or {}).get("updated_at")
        return {
            "key": obj.key,
            "dag_id": obj.dag_id,
            "destination": obj.destination.type,
            "schedule": obj.schedule,
            "freshness": freshness(obj.schedule, finished, dag_state, now or datetime.now(UTC)),
            "last_dag_run_state": dag_state,
            "watermark": (state or {}).get("watermark"),
            "last_full_load_at": (state or {}).get("last_full_load_at"),
            "last_run": {f: last.get(f) for f in LAST_RUN_FIELDS} if last else None,
        }

    def runs(self, obj: ObjectConfig, limit: int = 50) -> dict[str, Any]:
        """The object's runs over time, oldest first, and the HubSpot pacing budget."""
        reports = self.warehouse(obj.destination).list_run_reports(obj.key, limit=limit)
        points = [
            {
                "run_id": r["run_id"],
                "started_at": r["started_at"],
                "mode": r["mode"],
                "status": r["status"],
                "duration_s": r["duration_s"],
                "records_upserted": r["records_upserted"],
                "rejects": r["rejects"],
                "api_calls": api_call_total(r["api_calls"]),
            }
            for r in reversed(reports)
        ]
        return {"key": obj.key, "runs": points, "rate_budget": self._budget_for(obj.hubspot_conn_id)}

    def run_report(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        obj = self.object(dag_id)
        if obj is None:
            return None
        return self.warehouse(obj.destination).get_run_report(obj.key, run_id)

    # ------------------------------------------------------------------ scoring
    def scoring(self, allowed: Callable[[str], bool] = lambda dag_id: True) -> list[dict[str, Any]]:
        """Score history and snapshot registry of each destination that scores an allowed object."""
        from hubspot_etl.scoring.store import ScoringStore

        result, seen = [], set()
        for obj in self.objects(allowed):
            d = obj.destination
            place = (d.type, d.conn_id, d.tables_schema, d.project)
            if not obj.scoring.enabled or place in seen:
                continue
            seen.add(place)
            store = ScoringStore(self.warehouse(d))
            result.append(
                {
                    "destination": d.type,
                    "schema": d.tables_schema,
                    "history": store.score_history(),
                    "registry": store.snapshot_registry(),
                }
            )
        return result


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _warehouse(destination: Destination) -> Any:
    from hubspot_etl.warehouse.registry import get_warehouse

    return get_warehouse(destination)


def last_dag_run_state(dag_id: str) -> str | None:
    """The state of the DAG's newest run in Airflow's metadata DB (None: no run)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        state = session.scalar(
            select(DagRun.state).where(DagRun.dag_id == dag_id).order_by(DagRun.run_after.desc()).limit(1)
        )
    return None if state is None else str(getattr(state, "value", state))


def rate_budget(hubspot_conn_id: str) -> dict[str, int] | None:
    """The HubSpot connection's burst budget (calls per interval), without anything else of it."""
    from hubspot_etl.hooks.hubspot import HubSpotHook

    try:
        settings = HubSpotHook(hubspot_conn_id).settings
    except Exception as exc:  # no such connection here: the charts go without the budget line
        log.info("no rate budget for %s: %s", hubspot_conn_id, type(exc).__name__)
        return None
    return {"max_calls": settings.rate_limit_max, "interval_ms": settings.rate_limit_interval_ms}
