"""The ``hubspot_healthcheck`` checks: is this deployment ready to sync, without syncing?

Run by the ``hubspot_healthcheck`` DAG (manual or daily). It writes nothing to synced tables:

* **hubspot**: per HubSpot connection, the token (one owners call), then per configured object
  the calls its sync makes (object type, properties, a one-record search, pipelines,
  association labels): a 403 names the missing scope;
* **warehouse**: per destination, connect, the privileges on the target schema or dataset,
  and a scratch table created and dropped there (the adapter's :meth:`check_access`);
* **staging**: per ``staging_base``, a file written, read back and deleted; a ``file://`` base
  under a distributed executor is flagged, since the tasks of one run may land on different
  machines;
* **airflow**: the running version against the supported range;
* **pool**: checked by the DAG's pool tasks, which run in each pool.

Each check is a :class:`Check`; :func:`render_table` prints them as one table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

OK, WARN, FAIL = "ok", "warn", "FAIL"
LOCAL_EXECUTORS = ("LocalExecutor", "SequentialExecutor", "DebugExecutor")


@dataclass(frozen=True)
class Check:
    item: str  # hubspot | scopes | warehouse | staging | airflow | pool
    target: str
    status: str  # ok | warn | FAIL
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _safe(item: str, target: str, probe: Callable[[], Check]) -> Check:
    """Run one probe; an unexpected error becomes a failed check naming it (never a crash)."""
    from hubspot_etl.hooks.errors import redact

    try:
        return probe()
    except Exception as exc:  # a health check reports every broken item, it never stops at one
        return Check(item, target, FAIL, redact(f"{type(exc).__name__}: {exc}")[:500])


# --------------------------------------------------------------------------- HubSpot


def check_hubspot(
    objects: list[Any], owners_conn: str | None, hook_factory: Callable[[str], Any]
) -> list[Check]:
    """The token of each HubSpot connection, then the scopes each configured object needs."""
    checks: list[Check] = []
    by_conn: dict[str, list[Any]] = {}
    for cfg in objects:
        by_conn.setdefault(cfg.hubspot_conn_id, []).append(cfg)
    if owners_conn:
        by_conn.setdefault(owners_conn, [])
    for conn_id, configs in sorted(by_conn.items()):
        hook = hook_factory(conn_id)
        token = _safe("hubspot", conn_id, lambda hook=hook, conn_id=conn_id: _token_check(hook, conn_id))
        checks.append(token)
        if token.status == FAIL:
            continue  # every scope check would fail the same way
        for cfg in configs:
            checks.append(
                _safe(
                    "scopes", f"{cfg.key} via {conn_id}", lambda cfg=cfg, hook=hook: _scope_check(hook, cfg)
                )
            )
    return checks


def _token_check(hook: Any, conn_id: str) -> Check:
    ok, message = hook.test_connection()
    return Check("hubspot", conn_id, OK if ok else FAIL, message)


def _scope_check(hook: Any, cfg: Any) -> Check:
    from hubspot_etl.hooks.errors import HubSpotBadRequest, HubSpotNotFound, HubSpotScopeError

    target = f"{cfg.key} via {cfg.hubspot_conn_id}"
    done: list[str] = []
    try:
        info = hook.resolve_object_type(cfg.object_type)
        api_type = info.get("object_type_id") or info["name"]
        done.append(f"object type {api_type}")
        hook.get_properties(api_type)
        done.append("properties")
        hook.count(api_type)
        done.append("search")
        if info["name"] in ("deals", "tickets") or str(api_type).startswith("2-"):
            try:
                hook.get_pipelines(api_type)
                done.append("pipelines")
            except (HubSpotNotFound, HubSpotBadRequest):
                pass  # custom objects without pipelines
        for to in cfg.associations:
            target_info = hook.resolve_object_type(to)
            hook.get_association_labels(api_type, target_info.get("object_type_id") or target_info["name"])
            done.append(f"associations to {target_info['name']}")
    except HubSpotScopeError as exc:
        scopes = ", ".join(exc.missing_scopes) or "a scope HubSpot did not name"
        return Check(
            "scopes",
            target,
            FAIL,
            f"missing scope(s) {scopes} ({exc.endpoint}); passed: {', '.join(done) or '-'}",
        )
    return Check("scopes", target, OK, ", ".join(done))


# --------------------------------------------------------------------------- warehouse


def check_warehouses(objects: list[Any], owners: Any, warehouse_factory: Callable[[Any], Any]) -> list[Check]:
    """Each distinct destination: connect, privileges, scratch table."""
    destinations: dict[tuple[str, str, str], Any] = {}
    for cfg in [*objects, *([owners] if owners is not None else [])]:
        d = cfg.destination
        destinations.setdefault((d.type, d.conn_id, d.schema_name), d)
    checks = []
    for (kind, conn_id, schema), destination in sorted(destinations.items()):
        target = f"{kind} {conn_id} / {schema}"
        checks.append(
            _safe(
                "warehouse", target, lambda d=destination, t=target: _warehouse_check(warehouse_factory(d), t)
            )
        )
    return checks


def _warehouse_check(warehouse: Any, target: str) -> Check:
    problems, notes = [], []
    for ok, note in warehouse.check_access(scratch_suffix=uuid.uuid4().hex[:10]):
        (notes if ok else problems).append(note)
    if problems:
        return Check("warehouse", target, FAIL, "; ".join(problems + notes))
    return Check("warehouse", target, OK, "; ".join(notes))


# --------------------------------------------------------------------------- staging


def check_staging(objects: list[Any], executor: str | None) -> list[Check]:
    """Write, read back and delete one file under each distinct ``staging_base``."""
    bases = sorted({cfg.staging_base for cfg in objects})
    return [_safe("staging", base, lambda base=base: _staging_check(base, executor)) for base in bases]


def _staging_check(base: str, executor: str | None) -> Check:
    from airflow.sdk import ObjectStoragePath

    probe = ObjectStoragePath(base) / "_healthcheck" / f"{uuid.uuid4().hex}.txt"
    payload = f"hubspot healthcheck {uuid.uuid4()}".encode()
    probe.parent.mkdir(parents=True, exist_ok=True)
    with probe.open("wb") as handle:
        handle.write(payload)
    with probe.open("rb") as handle:
        read = handle.read()
    probe.unlink()
    if read != payload:
        return Check("staging", base, FAIL, "a file read back differs from what was written")
    detail = "write, read and delete ok"
    distributed = executor and not any(executor.endswith(local) for local in LOCAL_EXECUTORS)
    if probe.protocol in ("file", "local", "") and distributed:
        return Check(
            "staging",
            base,
            WARN,
            f"{detail}, but {executor} may run a run's tasks on different machines: use gs:// or s3://",
        )
    return Check("staging", base, OK, detail)


# --------------------------------------------------------------------------- Airflow


def check_airflow_version() -> Check:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from hubspot_etl.compat import AIRFLOW_VERSION, SUPPORTED_AIRFLOW

    supported = Version(AIRFLOW_VERSION) in SpecifierSet(SUPPORTED_AIRFLOW)
    detail = (
        f"supported ({SUPPORTED_AIRFLOW})"
        if supported
        else f"outside the supported range {SUPPORTED_AIRFLOW}"
    )
    return Check("airflow", AIRFLOW_VERSION, OK if supported else FAIL, detail)


def pool_check(pool: str) -> Check:
    """What a pool task reports when it runs (it can only run if the pool exists)."""
    return Check("pool", pool, OK, "exists: this task ran in it")


# --------------------------------------------------------------------------- report


def broken(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAIL]


def render_table(checks: list[Check]) -> str:
    header = ("item", "target", "status", "detail")
    rows = [header] + [(c.item, c.target, c.status, c.detail) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(value.ljust(widths[i]) if i < 3 else value for i, value in enumerate(row)) for row in rows
    )
