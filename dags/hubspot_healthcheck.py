"""``hubspot_healthcheck``: is this deployment ready to sync? (manual, or daily by default)

Checks the HubSpot tokens and the scopes each configured object needs, each warehouse
connection (connect, privileges, a scratch table created and dropped), staging (a file
written, read and deleted), the pools (a task runs in each) and the Airflow version; prints one
table and fails naming every broken item. It writes nothing to synced tables.
"""

from __future__ import annotations

from airflow.sdk import DAG, get_parsing_context
from hubspot_etl.config import load_config
from hubspot_etl.dag_docs import healthcheck_dag_doc
from hubspot_etl.operators.healthcheck import (
    HubSpotHealthCheckOperator,
    HubSpotHealthReportOperator,
    HubSpotPoolProbeOperator,
    pool_task_id,
)


def build_healthcheck_dag() -> DAG:
    config = load_config(dag_file=__file__)
    settings = config.healthcheck
    objects = [o for o in config.objects if o.enabled]
    pools = sorted({o.pool for o in objects} | ({config.owners.pool} if config.owners.enabled else set()))
    with DAG(
        dag_id=settings.dag_id,
        description="Check the HubSpot connections, scopes, warehouses, staging, pools and Airflow version",
        schedule=settings.schedule,
        start_date=settings.start_date,
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "data-engineering", "retries": 0},
        tags=sorted({"hubspot", "healthcheck", *settings.tags}),
        doc_md=healthcheck_dag_doc(config, pools),
    ) as dag:
        check = HubSpotHealthCheckOperator(sync_config=config)
        probes = [HubSpotPoolProbeOperator(task_id=pool_task_id(pool), pool=pool) for pool in pools]
        report = HubSpotHealthReportOperator(check_task_ids=[check.task_id, *(p.task_id for p in probes)])
        [check, *probes] >> report
    return dag


if (
    get_parsing_context().dag_id in (None, "hubspot_healthcheck")
    and load_config(dag_file=__file__).healthcheck.enabled
):
    hubspot_healthcheck = build_healthcheck_dag()
