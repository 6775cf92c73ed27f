"""Benchmark: a whole full sync of contacts (prepare to finalize) by export vs by list, at N.

    .venv/bin/python -m bench.export_sync [--contacts 20000] [--skip-list] [--poll-seconds S]
                                          [--out bench/results/export_sync.json]

A generated sandbox portal of N contacts (N/10 companies, N/10 deals; the generator's labelled
contact-company type included) is served over HTTP in this process, with an embedded
PostgreSQL. The real step functions run for ``contacts`` with ``associations: [companies,
deals]``: once with ``full_load_method: list`` and once with ``export`` into another schema
(the export's wait is the product's trigger, run with ``asyncio``, as the triggerer would,
polling every ``export_poll_seconds``: the product's default unless ``--poll-seconds``).
Calls come from the hooks' own counters plus the trigger's polls, counted per step. The two
warehouses are then compared: the same live ids, the same contact rows' modified dates, the
same association rows (type ids, categories, labels).

Two figures: the FULL LOAD (prepare, extract with the export's wait, load, associations: what
reading every record and its associations costs) by export vs by list, the 1% target; and the
WHOLE SYNC, which adds reconcile's archived listing (``ceil(archived / 100)`` calls, the same
on both paths, so it is reported separately). The 1% ratio's denominator grows with N: the JSON
also extrapolates both paths to 1M contacts from the measured per-N costs (list calls and
trigger polls proportional to N, the export's other calls fixed). Nothing here asserts a time;
it prints a Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from hubspot_devtools.local import hubspot_connection, start_postgres  # noqa: E402
from hubspot_etl.config import parse_config  # noqa: E402
from hubspot_etl.sync import bulk_export, steps  # noqa: E402
from hubspot_etl.sync.contracts import Plan  # noqa: E402
from hubspot_etl.triggers.export import HubSpotExportTrigger  # noqa: E402
from hubspot_etl.warehouse.postgres import PostgresWarehouse  # noqa: E402
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal  # noqa: E402

from bench.worker import HookPool  # noqa: E402

TOKEN = "bench-export-sync-token"  # noqa: S105 - the sandbox's own token, not a secret
CONN_ID = "hubspot_bench_export"
TARGETS = ["companies", "deals"]


def context(
    method: str, host: str, uri: str, schema: str, staging: Path, poll_s: int | None
) -> tuple[Any, HookPool]:
    hooks = HookPool(TOKEN, host, {"rate_limit_max": 0, "search_per_second": 0})
    polling = {} if poll_s is None else {"export_poll_seconds": poll_s}
    document = {
        "objects": {"contacts": {"associations": TARGETS}},
        "defaults": {
            "hubspot_conn_id": CONN_ID,
            "destination": {"schema": schema},
            "staging_base": f"file://{staging}",
            "lease_wait_seconds": 0,
            "full_load_method": method,
            **polling,
        },
    }
    ctx = steps.StepContext(
        cfg=parse_config(document).objects[0],
        dag_id="hubspot_contacts",
        run_id=f"{method}-{uuid.uuid4().hex[:6]}",
        hook_factory=hooks,
        warehouse_factory=lambda: PostgresWarehouse(schema, conninfo=uri),
    )
    return ctx, hooks


def extract(ctx: Any, plan: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The extract task's two halves around the trigger's wait; (manifest, trigger polls)."""
    started = bulk_export.begin(ctx, Plan.from_dict(plan))
    if started is None:
        return steps.extract(ctx, plan), 0
    poll = float(ctx.cfg.export_poll_seconds)
    trigger = HubSpotExportTrigger(CONN_ID, started.export_id, poll, bulk_export.deadline(ctx))
    event = asyncio.run(anext(trigger.run())).payload
    return bulk_export.finish(ctx, Plan.from_dict(plan), event).as_dict(), int(event["polls"])


POLLS = "exports.status (trigger)"


def full_sync(
    method: str, host: str, uri: str, schema: str, staging: Path, poll_s: int | None
) -> dict[str, Any]:
    ctx, hooks = context(method, host, uri, schema, staging, poll_s)
    started = time.perf_counter()
    plan = steps.prepare(ctx)
    manifest, polls = extract(ctx, plan)
    loaded = steps.load(ctx, plan, manifest)
    linked = steps.associations(ctx, plan, manifest)
    full_load = dict(hooks.totals()["calls"])
    if polls:
        full_load[POLLS] = polls
    reconciled = steps.reconcile(ctx, plan, manifest)
    report = steps.finalize(ctx, plan, manifest, loaded, linked, reconciled)
    calls = dict(hooks.totals()["calls"])
    if polls:
        calls[POLLS] = polls
    reconcile = {k: n - full_load.get(k, 0) for k, n in calls.items() if n - full_load.get(k, 0)}
    return {
        "method": method,
        "mode": report["mode"],
        "wall_s": round(time.perf_counter() - started, 2),
        "records": manifest["records"],
        "association_calls": calls.get("associations.batch_read", 0),
        "full_load_calls": sum(full_load.values()),
        "reconcile_calls": sum(reconcile.values()),
        "total_calls": sum(calls.values()),
        "polls": polls,
        "poll_seconds": ctx.cfg.export_poll_seconds,
        "full_load": dict(sorted(full_load.items())),
        "reconcile": dict(sorted(reconcile.items())),
        "calls": dict(sorted(calls.items())),
    }


def extrapolate(runs: dict[str, Any], n: int, to: int = 1_000_000) -> dict[str, Any]:
    """Both paths' full-load calls at ``to`` contacts from the measured per-N costs: the list
    path's calls scale with N; the export's trigger polls scale with its build time (~N), its
    other calls (start, status, property and type reads, association re-reads of capped rows:
    none here) stay fixed."""
    scale = to / n
    listed = runs["list"]["full_load_calls"] * scale
    export = runs["export"]
    fixed = export["full_load_calls"] - export["polls"]
    exported = fixed + export["polls"] * scale
    return {
        "contacts": to,
        "list_full_load_calls": round(listed),
        "export_full_load_calls": round(exported),
        "export_fixed_calls": fixed,
        "ratio": exported / listed,
    }


def warehouse_state(uri: str, schema: str) -> dict[str, Any]:
    import psycopg
    from psycopg import sql

    def rows(query: str, table: str) -> list[tuple[Any, ...]]:
        statement = sql.SQL(query).format(table=sql.Identifier(schema, table))
        return conn.execute(statement).fetchall()

    with psycopg.connect(uri) as conn:
        state = {
            "contacts": rows(
                "SELECT id, _updated_at FROM {table} WHERE NOT _is_deleted ORDER BY id", "contact"
            )
        }
        for table in ("contact_company", "contact_deal"):
            state[table] = rows(
                "SELECT from_id, to_id, type_id, category, label FROM {table} ORDER BY 1, 2, 3", table
            )
    return state


def bench(n: int, skip_list: bool, uri: str, workdir: Path, poll_s: int | None) -> dict[str, Any]:
    portal = generate_portal(seed=7, contacts=n, companies=max(1, n // 10), deals=max(1, n // 10))
    config = SandboxConfig(
        tokens={TOKEN: list(ALL_SCOPES)}, rate_limit_max=None, search_per_second=None, export_daily_limit=None
    )
    runs: dict[str, Any] = {}
    with SandboxServer(portal, config) as server:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(hubspot_connection(server.url, TOKEN))
        for method in ("export",) if skip_list else ("list", "export"):
            schema = f"bench_export_{method}_{uuid.uuid4().hex[:6]}"
            runs[method] = full_sync(method, server.url, uri, schema, workdir / f"staging-{method}", poll_s)
            runs[method]["schema"] = schema
            print(f"{method}: {runs[method]['total_calls']} calls in {runs[method]['wall_s']} s", flush=True)
    result: dict[str, Any] = {"contacts": n, "runs": runs}
    if not skip_list:
        same = warehouse_state(uri, runs["list"]["schema"]) == warehouse_state(uri, runs["export"]["schema"])
        result["same_warehouse"] = same
        result["at_1m"] = extrapolate(runs, n)
    return result


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    runs, n = result["runs"], result["contacts"]
    export = runs["export"]
    rows = []
    if "list" in runs:
        listed, at_1m = runs["list"], result["at_1m"]
        share = export["full_load_calls"] / max(1, listed["full_load_calls"])
        rows.append(
            {
                "target": f"full load of {n:,} contacts by export: <= 1% of the list path's API calls",
                "measured": f"{export['full_load_calls']:,} vs {listed['full_load_calls']:,} ({share:.2%})",
                "goal": "<= 1% (issue 15 item 6: at 1M contacts)",
                "met": share <= 0.01,
                "note": f"prepare + extract + load + associations; association reads "
                f"{export['full_load'].get('associations.batch_read', 0)} (export: labels come with the "
                f"export) vs {listed['full_load'].get('associations.batch_read', 0)} (list); trigger polls "
                f"{export['polls']} (every {export['poll_seconds']} s)",
            }
        )
        rows.append(
            {
                "target": "the same full load extrapolated to 1,000,000 contacts",
                "measured": f"{at_1m['export_full_load_calls']:,} vs {at_1m['list_full_load_calls']:,} "
                f"({at_1m['ratio']:.2%})",
                "goal": "<= 1%",
                "met": at_1m["ratio"] <= 0.01,
                "note": f"list calls and trigger polls x {1_000_000 / n:g} (the build time grows with N); "
                f"the export's {at_1m['export_fixed_calls']} other calls fixed",
            }
        )
        whole = export["total_calls"] / max(1, listed["total_calls"])
        rows.append(
            {
                "target": f"whole full sync of {n:,} contacts (with reconcile's archived listing)",
                "measured": f"{export['total_calls']:,} vs {listed['total_calls']:,} ({whole:.2%})",
                "goal": "measured only",
                "met": True,
                "note": f"reconcile: {export['reconcile_calls']} (export) and {listed['reconcile_calls']} "
                "(list) calls, ceil(archived/100) archived-listing pages on both paths: not a cost of "
                "the export, so outside the 1% figure",
            }
        )
        rows.append(
            {
                "target": "the export path's warehouse equals the list path's",
                "measured": "equal" if result["same_warehouse"] else "DIFFERENT",
                "goal": "equal (live ids, modified dates, association rows with types and labels)",
                "met": bool(result["same_warehouse"]),
                "note": "",
            }
        )
    rows.append(
        {
            "target": f"export full sync of {n:,} contacts: wall time",
            "measured": f"{export['wall_s']} s",
            "goal": "measured only",
            "met": True,
            "note": "noisy while others work",
        }
    )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | goal | met | note |", "|---|---|---|---|---|"]
    lines += [f"| {r['target']} | {r['measured']} | {r['goal']} | {r['met']} | {r['note']} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--skip-list", action="store_true", help="run the export path only")
    parser.add_argument(
        "--poll-seconds", type=int, default=None, help="export_poll_seconds (default: the product's)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "export_sync.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-export-sync-") as tmp:
        workdir = Path(tmp)
        pg = start_postgres(workdir / "pg")
        try:
            result = bench(args.contacts, args.skip_list, pg.uri, workdir, args.poll_seconds)
        finally:
            pg.stop()
    rows = result_rows(result)
    print(markdown(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, **result}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
