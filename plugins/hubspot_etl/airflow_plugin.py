"""The package's Airflow plugin (entry point ``airflow.plugins``): two fixes for a first run.

* **Missing pool.** Every HubSpot task runs in one pool (``hubspot_api`` by default) so that
  all the DAGs share HubSpot's rate limit. A task whose pool does not exist is never
  scheduled, and only the scheduler's log says why. When a run of a DAG that holds this
  package's operators starts, the scheduler calls :class:`PoolGuard`, which creates a missing
  pool with :data:`DEFAULT_POOL_SLOTS` slots and logs a warning; its description says so.
  Creating a pool that does not exist changes nothing for any other DAG, which is why it is
  safe; an existing pool is never touched.
* **Connection Test button, Airflow 3.3.** The connections list posts ``port: 0`` for a
  connection stored without a port, and the API server then refuses the test ("The host or
  port to test differs from the stored connection"). :class:`ConnectionTestPortMiddleware`
  drops that ``port: 0`` from test requests of ``hubspot`` connections only; 0 is never a
  real port, so the API server's check (is the test aimed at the stored host?) is unchanged.
* **HubSpot syncs page.** A FastAPI app (:mod:`hubspot_etl.ui.api`, mounted at
  ``/hubspot-syncs``) and two external views: a nav entry, and a "HubSpot run report" tab of
  every DAG run. The app is imported on its first request (:class:`LazyAsgiApp`).

The module imports only Airflow's plugin base: it loads in every Airflow process.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

DEFAULT_POOL_SLOTS = 4
CONN_TYPE = "hubspot"
_OUR_MODULES = "hubspot_etl."


def hubspot_pools(dag: Any) -> set[str]:
    """The pools this package's tasks of ``dag`` run in (``default_pool`` always exists)."""
    pools = set()
    for task in getattr(dag, "tasks", None) or []:
        module = getattr(task, "_task_module", None) or type(task).__module__
        pool = getattr(task, "pool", None)
        if str(module).startswith(_OUR_MODULES) and pool and pool != "default_pool":
            pools.add(pool)
    return pools


def ensure_pools(names: set[str], created_for: str) -> list[str]:
    """Create the pools of ``names`` that do not exist; returns the ones created.

    Uses a session of its own: the scheduler's (thread-scoped) session must stay untouched,
    since closing it would detach the objects the scheduler is working on.
    """
    from airflow import settings
    from airflow.models.pool import Pool

    created = []
    session = settings.NonScopedSession()
    try:
        for name in sorted(names):
            if Pool.get_pool(name, session=session) is not None:
                continue
            Pool.create_or_update_pool(
                name,
                slots=DEFAULT_POOL_SLOTS,
                description=(
                    f"HubSpot API: created automatically for {created_for} because it was missing; "
                    "set the slots to how many HubSpot tasks may run at once"
                ),
                include_deferred=False,
                session=session,
            )
            session.commit()
            created.append(name)
    finally:
        session.close()
    for name in created:
        log.warning(
            "pool %r did not exist: created it with %d slots for %s (Admin > Pools to change it)",
            name,
            DEFAULT_POOL_SLOTS,
            created_for,
        )
    return created


class PoolGuard:
    """Scheduler listener: a HubSpot DAG run never waits for a pool that does not exist."""

    @hookimpl
    def on_dag_run_running(self, dag_run: Any, msg: str) -> None:
        try:
            names = hubspot_pools(getattr(dag_run, "dag", None))
            if names:
                ensure_pools(names, created_for=str(dag_run.dag_id))
        except Exception:  # a listener must never break the scheduler
            log.exception("could not check the HubSpot pools of %s", getattr(dag_run, "dag_id", "?"))


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def drop_zero_port(body: bytes) -> bytes | None:
    """The body without ``"port": 0`` if it is a ``hubspot`` connection test; else None."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("conn_type") != CONN_TYPE or data.get("port") != 0:
        return None
    del data["port"]
    return json.dumps(data).encode()


class ConnectionTestPortMiddleware:
    """ASGI middleware for ``POST .../connections/test`` (see the module docstring)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if not (
            scope.get("type") == "http"
            and scope.get("method") == "POST"
            and str(scope.get("path", "")).rstrip("/").endswith("/connections/test")
        ):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to fix
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        patched = drop_zero_port(body)
        if patched is not None:
            body = patched
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await self.app(
            scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send
        )


def _replay(messages: list[dict[str, Any]], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replay


class LazyAsgiApp:
    """An ASGI app that imports ``module:attribute`` on its first request, so that only the
    API server, and only once the page is used, pays for FastAPI and the warehouse code."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._app: Callable[..., Awaitable[None]] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if self._app is None:
            module, _, attribute = self.target.partition(":")
            self._app = getattr(importlib.import_module(module), attribute)
        await self._app(scope, receive, send)


SYNCS_PAGE = "hubspot-syncs"


class HubSpotEtlPlugin(AirflowPlugin):
    name = "hubspot_etl"
    listeners = [PoolGuard()]
    fastapi_root_middlewares = [
        {"middleware": ConnectionTestPortMiddleware, "name": "HubSpot connection test: no port 0"}
    ]
    fastapi_apps = [
        {
            "app": LazyAsgiApp("hubspot_etl.ui.api:app"),
            "url_prefix": f"/{SYNCS_PAGE}",
            "name": "HubSpot syncs",
        }
    ]
    # hrefs are relative to the UI's base URL (no leading slash), so a proxy prefix works
    external_views = [
        {"name": "HubSpot syncs", "href": f"{SYNCS_PAGE}/", "url_route": SYNCS_PAGE, "destination": "nav"},
        {
            "name": "HubSpot run report",
            "href": f"{SYNCS_PAGE}/?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
            "url_route": "hubspot-run-report",
            "destination": "dag_run",
        },
    ]
