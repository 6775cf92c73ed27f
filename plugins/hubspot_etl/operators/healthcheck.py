"""Operators of the ``hubspot_healthcheck`` DAG (the checks are in :mod:`hubspot_etl.healthcheck`).

    check ─┐
    pool_<name> (one per pool, running in it) ─┴─> report

``check`` probes HubSpot, the warehouses, staging and the Airflow version; each ``pool_*`` task
proves its pool exists by running in it; ``report`` prints one table (also its XCom) and fails,
naming every broken item, if any check failed. Nothing is written to synced tables.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from hubspot_etl.config import SyncConfig

log = logging.getLogger(__name__)

CHECK_TASK_ID = "check"


def pool_task_id(pool: str) -> str:
    return "pool_" + re.sub(r"[^A-Za-z0-9_]", "_", pool)


class HubSpotHealthCheckOperator(BaseOperator):
    """Runs every check except the pools; never fails itself (``report`` decides)."""

    ui_color = "#bbdefb"

    def __init__(self, *, sync_config: SyncConfig, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", CHECK_TASK_ID)
        super().__init__(**kwargs)
        self.sync_config = sync_config

    def execute(self, context: Any) -> list[dict[str, str]]:
        from airflow.configuration import conf

        from hubspot_etl import healthcheck as hc
        from hubspot_etl.hooks.hubspot import HubSpotHook
        from hubspot_etl.warehouse.registry import get_warehouse

        objects = [o for o in self.sync_config.objects if o.enabled]
        owners = self.sync_config.owners if self.sync_config.owners.enabled else None
        checks = hc.check_hubspot(objects, owners.hubspot_conn_id if owners else None, HubSpotHook)
        checks += hc.check_warehouses(objects, owners, get_warehouse)
        checks += hc.check_staging(objects, conf.get("core", "executor", fallback=None))
        checks.append(hc.check_airflow_version())
        log.info("health check (pools are checked by the pool_* tasks):\n%s", hc.render_table(checks))
        return [c.as_dict() for c in checks]


class HubSpotPoolProbeOperator(BaseOperator):
    """Runs in one pool: if it runs at all, the pool exists."""

    ui_color = "#bbdefb"

    def execute(self, context: Any) -> list[dict[str, str]]:
        from hubspot_etl.healthcheck import pool_check

        return [pool_check(self.pool).as_dict()]


class HubSpotHealthReportOperator(BaseOperator):
    """Prints every check as one table (also the XCom); fails naming every broken item."""

    ui_color = "#bbdefb"

    def __init__(self, *, check_task_ids: list[str], **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "report")
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.check_task_ids = check_task_ids

    def execute(self, context: Any) -> dict[str, Any]:
        from hubspot_etl import healthcheck as hc
        from hubspot_etl.compat import AirflowFailException

        checks: list[hc.Check] = []
        for task_id in self.check_task_ids:
            found = context["ti"].xcom_pull(task_ids=task_id)
            if not found:
                checks.append(hc.Check("task", task_id, hc.FAIL, "did not report (see its log)"))
                continue
            checks += [hc.Check(**c) for c in found]
        table = hc.render_table(checks)
        log.info("HubSpot health check:\n%s", table)
        failed = hc.broken(checks)
        result = {"checks": [c.as_dict() for c in checks], "broken": len(failed), "table": table}
        if failed:
            names = "; ".join(f"{c.item} {c.target}: {c.detail}" for c in failed)
            raise AirflowFailException(f"{len(failed)} broken: {names}")
        return result
