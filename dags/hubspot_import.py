"""``hubspot_import``: backfill the score history from Excel/CSV exports (manual trigger only).

    airflow dags trigger hubspot_import --conf '{"paths": ["/data/exports"], "object": "companies"}'

Writes one historical snapshot per export date and scores it (hubspot_etl.scoring.importer);
the task's XCom lists the snapshots and every bad row (file, sheet, row, reason).
The DAG exists only when at least one object in the sync config enables scoring.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, get_parsing_context, task
from hubspot_etl.config import load_config


def build_import_dag() -> DAG:
    """The import DAG (see the module docstring)."""
    with DAG(
        dag_id="hubspot_import",
        description="Import historical HubSpot exports (.xlsx/.csv) as scored snapshots",
        schedule=None,
        catchup=False,
        max_active_runs=1,
        params={
            "paths": Param([], type="array", description="Files or directories of .xlsx/.csv exports"),
            "object": Param(
                None,
                type=["null", "string"],
                description="Object key whose destination and scoring settings to use (default: the first with scoring enabled)",
            ),
        },
        tags=["hubspot", "scoring", "import"],
        doc_md=__doc__,
    ) as dag:

        @task(task_id="import_snapshots")
        def import_snapshots(params: dict | None = None) -> dict:
            from hubspot_etl.scoring.importer import import_snapshots as run_import

            config = load_config(dag_file=__file__)
            key = (params or {}).get("object")
            cfg = config.object(key) if key else next((o for o in config.objects if o.scoring.enabled), None)
            if cfg is None:
                raise ValueError("no object has scoring enabled; pass conf {'object': '<key>'}")
            result = run_import(cfg, list((params or {}).get("paths") or []))
            for issue in result["issues"]:
                print(
                    f"import issue: {issue['file']} sheet={issue['sheet']} row={issue['row']}: {issue['reason']}"
                )
            return result

        import_snapshots()
    return dag


if get_parsing_context().dag_id in (None, "hubspot_import") and any(
    o.enabled and o.scoring.enabled for o in load_config(dag_file=__file__).objects
):
    hubspot_import = build_import_dag()
