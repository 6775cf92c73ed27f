"""The FastAPI app of the HubSpot syncs page, mounted by the API server at :data:`URL_PREFIX`.

* ``GET /`` (and ``/static/*``): the page, a static HTML/JS/CSS set; it holds no data.
* ``GET /api/objects``: per object, its last run, freshness and sync state;
* ``GET /api/objects/{key}/runs``: the object's runs over time and the HubSpot rate budget;
* ``GET /api/runs/{dag_id}/{run_id}``: one run report (the page linked from a DAG run);
* ``GET /api/scoring``: score history and the snapshot registry.

Every ``/api`` route needs a user whom Airflow's auth manager lets read DAGs (401 without a
token, 403 with an invalid one or without the right); objects whose DAG the user may not read
are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from hubspot_etl.ui.data import SyncsData

URL_PREFIX = "/hubspot-syncs"
STATIC = Path(__file__).parent / "static"


def dag_reader(user: GetUserDep) -> Any:
    """A predicate: may ``user`` read the DAG ``dag_id`` (Airflow's auth manager decides)?"""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    manager = get_auth_manager()
    return lambda dag_id: manager.is_authorized_dag(method="GET", details=DagDetails(id=dag_id), user=user)


Allowed = Annotated[Any, Depends(dag_reader)]


def syncs_data() -> SyncsData:
    """The configuration is read per request: a changed config shows without a restart."""
    return SyncsData()


Data = Annotated[SyncsData, Depends(syncs_data)]


def create_app() -> FastAPI:
    app = FastAPI(title="HubSpot syncs", docs_url=None, redoc_url=None, openapi_url=None)
    api = APIRouter(prefix="/api", dependencies=[Depends(requires_access_dag("GET"))])

    @api.get("/objects")
    def objects(data: Data, allowed: Allowed) -> list[dict[str, Any]]:
        return data.summaries(allowed)

    @api.get("/objects/{key}/runs")
    def runs(key: str, data: Data, allowed: Allowed, limit: int = 50) -> dict[str, Any]:
        obj = data.object(key)
        if obj is None or not allowed(obj.dag_id):
            raise HTTPException(404, f"no configured object {key!r}")
        return data.runs(obj, limit=max(1, min(limit, 500)))

    @api.get("/runs/{dag_id}/{run_id:path}")
    def run_report(dag_id: str, run_id: str, data: Data, allowed: Allowed) -> dict[str, Any]:
        report = data.run_report(dag_id, run_id) if allowed(dag_id) else None
        if report is None:
            raise HTTPException(404, "no HubSpot run report for this DAG run")
        return report

    @api.get("/scoring")
    def scoring(data: Data, allowed: Allowed) -> list[dict[str, Any]]:
        return data.scoring(allowed)

    app.include_router(api)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


app = create_app()
