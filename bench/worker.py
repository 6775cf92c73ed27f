"""Child process of the benchmark: runs ONE scenario and writes its figures as JSON.

Every scenario runs in its own process so that ``ru_maxrss`` is the peak RSS of the process
doing the work (and nothing else: the sandbox and PostgreSQL live in other processes).

Usage (internal; ``bench.run`` builds the spec)::

    python -m bench.worker SPEC.json RESULT.json

Spec kinds:

* ``sync`` - the six real step functions (prepare, extract, load, associations, reconcile,
  finalize) of ``hubspot_etl.sync.steps`` against the sandbox and PostgreSQL, one fresh
  ``HubSpotHook`` per step as in Airflow (where every step is its own task);
* ``load`` - ``steps.load`` of already staged parts into a fresh schema, then the naive
  baselines on the same rows: row-by-row ``INSERT ... ON CONFLICT DO UPDATE`` with a commit
  per row (what the PostgreSQL seed system did), and the same in one transaction.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from hubspot_etl.config import parse_config  # noqa: E402
from hubspot_etl.hooks.hubspot import HubSpotHook  # noqa: E402
from hubspot_etl.sync import steps  # noqa: E402
from hubspot_etl.warehouse.postgres import PostgresWarehouse  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    ``VmHWM`` from ``/proc/self/status``: the high-water mark of this process's own memory.
    ``ru_maxrss`` is not used because Linux carries it across ``exec``, so a child started by
    a large parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HookPool:
    """``hook_factory`` that keeps every hook it built, to add up their stats."""

    def __init__(self, token: str, host: str, settings: dict[str, Any]) -> None:
        self.token, self.host, self.settings = token, host, settings
        self.hooks: list[HubSpotHook] = []

    def __call__(self) -> HubSpotHook:
        hook = HubSpotHook.from_params(token=self.token, host=self.host, **self.settings)
        self.hooks.append(hook)
        return hook

    def totals(self) -> dict[str, Any]:
        calls: dict[str, int] = {}
        totals: dict[str, Any] = {"http_429": 0, "retries": 0, "pacing_wait_s": 0.0}
        for hook in self.hooks:
            stats = hook.stats.as_dict()
            for endpoint, n in stats["calls"].items():
                calls[endpoint] = calls.get(endpoint, 0) + n
            totals["http_429"] += stats["http_429"]
            totals["retries"] += stats["retries"]
            totals["pacing_wait_s"] += stats["pacing_wait_s"]
        totals["calls"] = dict(sorted(calls.items()))
        totals["total_calls"] = sum(calls.values())
        totals["pacing_wait_s"] = round(totals["pacing_wait_s"], 3)
        return totals


def context(spec: dict[str, Any], hooks: HookPool) -> steps.StepContext:
    document = {
        "objects": {spec["object"]: {"associations": spec["associations"]}},
        "defaults": {
            "destination": {"schema": spec["schema"]},
            "staging_base": f"file://{spec['staging']}",
            "lease_wait_seconds": 0,
            "keep_staged_files": True,  # the load-only scenario reloads the free run's parts
        },
    }
    return steps.StepContext(
        cfg=parse_config(document).objects[0],
        dag_id=f"hubspot_{spec['object']}",
        run_id=spec["run_id"],
        run_type=spec.get("run_type", "manual"),
        hook_factory=hooks,
        warehouse_factory=lambda: PostgresWarehouse(spec["schema"], conninfo=spec["uri"]),
    )


def run_sync(spec: dict[str, Any]) -> dict[str, Any]:
    hooks = HookPool(spec["token"], spec["host"], spec["hook_settings"])
    ctx = context(spec, hooks)
    step_s: dict[str, float] = {}
    rss_after: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        started = time.perf_counter()
        value = fn(ctx, *args)
        step_s[name] = round(time.perf_counter() - started, 3)
        rss_after[name] = round(peak_rss_mb(), 1)
        return value

    started = time.perf_counter()
    plan = timed("prepare", steps.prepare)
    manifest = timed("extract", steps.extract, plan)
    loaded = timed("load", steps.load, plan, manifest)
    linked = timed("associations", steps.associations, plan, manifest)
    reconciled = timed("reconcile", steps.reconcile, plan, manifest)
    report = timed("finalize", steps.finalize, plan, manifest, loaded, linked, reconciled)
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 3),
        "step_s": step_s,
        "peak_rss_mb_after_step": rss_after,
        "mode": plan["mode"],
        "properties": len(plan["properties"]),
        "records_fetched": manifest["records"],
        "records_upserted": loaded["records_upserted"],
        "rejects": loaded["rejects"],
        "associations": linked["associations"],
        "association_refresh": linked.get("association_refresh", {}),
        "deletes": reconciled["deletes"],
        "hook": hooks.totals(),
        "report_api_calls": report["api_calls"],
        "manifest": manifest,
        "plan": plan,
    }


def naive_upsert(
    spec: dict[str, Any], plan: dict[str, Any], parts: list[dict[str, Any]], per_row_commit: bool
):
    """Row-by-row ``INSERT ... ON CONFLICT (id) DO UPDATE`` of the rows ``load_part`` would write.

    The rows are built by the same ``RowBuilder`` (same columns, same converted values) and go
    into a copy of the object table, one statement per row; ``per_row_commit`` commits after
    every row, as the seed system did, otherwise everything is one transaction.
    """
    import psycopg
    from hubspot_etl.sync.staging import read_part
    from hubspot_etl.warehouse.records import RowBuilder, property_names_in

    warehouse = PostgresWarehouse(spec["schema"], conninfo=spec["uri"])
    table = plan["table"]
    target = f"naive_{'autocommit' if per_row_commit else 'one_tx'}"
    limit = spec.get("baseline_rows")
    specs = warehouse.column_specs(plan["object_name"])
    with warehouse.d.session() as session:
        order = warehouse.d.column_ordinals(session, table)
    with warehouse.connect() as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{spec["schema"]}"."{target}"')
        conn.execute(
            f'CREATE TABLE "{spec["schema"]}"."{target}" '
            f'(LIKE "{spec["schema"]}"."{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)'
        )
    rows_done = 0
    started = time.perf_counter()
    with psycopg.connect(spec["uri"], autocommit=False) as conn:
        for part in parts:
            records = list(read_part(part["uri"]))
            builder = RowBuilder(
                specs,
                property_names_in(records),
                warehouse.d.numeric_limits,
                column_order=order,
                row_bytes_budget=warehouse.d.row_bytes_budget,
            )
            columns = [c for c in builder.column_names if c != "_seq"]
            quoted = ", ".join(f'"{c}"' for c in columns)
            sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c != "id")
            query = (
                f'INSERT INTO "{spec["schema"]}"."{target}" ({quoted}, "_synced_at") '  # noqa: S608
                f"VALUES ({', '.join(['%s'] * len(columns))}, now()) "
                f'ON CONFLICT (id) DO UPDATE SET {sets}, "_synced_at" = now()'
            )
            with conn.cursor() as cur:
                for row in builder.rows(records):
                    cur.execute(query, row[:-1])  # without _seq
                    if per_row_commit:
                        conn.commit()
                    rows_done += 1
                    if limit and rows_done >= limit:
                        break
            if limit and rows_done >= limit:
                break
        conn.commit()
    wall = time.perf_counter() - started
    return {"rows": rows_done, "wall_s": round(wall, 3), "rows_per_s": round(rows_done / wall, 1)}


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    hooks = HookPool(spec["token"], spec["host"], spec["hook_settings"])
    ctx = context(spec, hooks)
    plan = steps.prepare(ctx)  # creates the schema and the object table (not timed)
    manifest = spec["manifest"]
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    loaded = steps.load(ctx, plan, manifest)
    wall = time.perf_counter() - started
    result: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "rows": loaded["records_upserted"],
        "rows_per_s": round(loaded["records_upserted"] / wall, 1),
        "parts": loaded["parts_loaded"],
        "rejects": loaded["rejects"],
        "peak_rss_mb_before_load": round(rss_before, 1),
        "peak_rss_mb_after_load": round(peak_rss_mb(), 1),
        "properties": len(plan["properties"]),
    }
    steps.release_lease(ctx, plan["object_name"])
    if spec.get("baseline", True):
        result["naive_one_tx"] = naive_upsert(spec, plan, manifest["parts"], per_row_commit=False)
        result["naive_per_row_commit"] = naive_upsert(spec, plan, manifest["parts"], per_row_commit=True)
    return result


def warm_up(staging: str) -> float:
    """Pay the one-time cost of the first ``ObjectStoragePath`` file access before the clock runs.

    The first open through Airflow's ``ObjectStoragePath`` runs Airflow's providers discovery
    (about 3 s here). Every Airflow task process pays it once, whatever the data size; it is
    reported as ``warmup_s`` and kept out of the scenario's wall time.
    """
    from hubspot_etl.sync.staging import PartWriter, read_part, staging_dir

    started = time.perf_counter()
    with PartWriter(staging_dir(f"file://{staging}", "warmup", "warmup", 1), "warmup", 100) as writer:
        writer.write({"id": "1", "properties": {}})
    for part in writer.parts:
        list(read_part(part.uri))
    return round(time.perf_counter() - started, 3)


def parse_dag_file(spec: dict[str, Any]) -> None:
    """What a task process does before its task runs: import Airflow's SDK, parse the DAG file.

    With this, the peak RSS of the process bounds that of any task of the DAG (the steps run
    one after another here; a worker runs each in its own process).
    """
    import os
    import runpy

    os.environ["HUBSPOT_ETL_CONFIG"] = spec["dag_config"]
    import airflow.sdk  # noqa: F401

    runpy.run_path(spec["dag_file"], run_name="hubspot_dags")


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    if spec.get("dag_file"):
        parse_dag_file(spec)
    warmup = warm_up(spec["staging"])
    cpu0 = cpu_s()
    if spec["kind"] == "sync":
        result = run_sync(spec)
    elif spec["kind"] == "load":
        result = run_load(spec)
    else:
        raise SystemExit(f"unknown scenario kind {spec['kind']!r}")
    result["warmup_s"] = warmup
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["cpu_s"] = round(cpu_s() - cpu0, 2)
    Path(argv[1]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
