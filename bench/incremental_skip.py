"""Benchmark: what incremental runs cost once they skip what the warehouse has (issue 15, items 4-5).

    .venv/bin/python -m bench.incremental_skip [--burst-contacts 20000] [--burst 12000]
                                               [--contacts 100000]
                                               [--out bench/results/incremental_skip.json]

(a) The burst: a portal of ``--burst-contacts`` contacts is loaded in full, then ``--burst`` of
them are modified in one millisecond; a first incremental run reads them, and a second run
inside the lookback searches them again but batch-reads none.
(b) No change at scale: ``--contacts`` contacts (about 2% archived), loaded in full, then a
no-change incremental run with ``deletes_check`` not due (no archived listing) and one with it
due (the listing, ``ceil(archived / 100)`` calls).

The sandbox is served over HTTP in this process (bench.run's ``TimedSandbox``, no rate limits:
only calls are counted), the warehouse is an embedded PostgreSQL, and the real step functions
of ``hubspot_etl.sync.steps`` run here; calls by endpoint come from the hooks' own counters
(bench.worker's ``HookPool``). Contacts sync with no associations, so the figures are the
extract's and reconcile's alone. Nothing asserts anything: the harness measures, prints a
Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from hubspot_devtools.local import start_postgres  # noqa: E402
from hubspot_etl.config import parse_config  # noqa: E402
from hubspot_etl.sync import steps  # noqa: E402
from hubspot_etl.warehouse.postgres import PostgresWarehouse  # noqa: E402
from hubspot_sandbox import generate_portal  # noqa: E402

from bench.run import (  # noqa: E402
    HOOK_UNPACED,
    NO_LIMITS,
    OBJECT,
    TOKEN,
    TimedSandbox,
    drop_schemas,
    fmt_calls,
    log,
)
from bench.worker import HookPool  # noqa: E402

NEVER_DUE = "0 0 1 1 *"  # checked at the full run; next due on 1 January
SCHEMA_PREFIX = "bench_skip_"


class Runner:
    """Sync runs of contacts on one schema, through the step functions, counting calls."""

    def __init__(self, host: str, uri: str, staging: Path) -> None:
        self.host, self.uri, self.staging = host, uri, staging
        self.schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:8]}"

    def run(self, run_type: str, deletes_check: str = "every_run") -> dict[str, Any]:
        hooks = HookPool(TOKEN, self.host, HOOK_UNPACED)
        document = {
            "objects": {OBJECT: {}},
            "defaults": {
                "destination": {"schema": self.schema},
                "staging_base": f"file://{self.staging}",
                "lease_wait_seconds": 0,
                "lookback_minutes": 60,
                "deletes_check": deletes_check,
            },
        }
        ctx = steps.StepContext(
            cfg=parse_config(document).objects[0],
            dag_id=f"hubspot_{OBJECT}",
            run_id=f"{run_type}-{uuid.uuid4().hex[:6]}",
            run_type=run_type,
            hook_factory=hooks,
            warehouse_factory=lambda: PostgresWarehouse(self.schema, conninfo=self.uri),
        )
        started = time.perf_counter()
        plan = steps.prepare(ctx)
        manifest = steps.extract(ctx, plan)
        loaded = steps.load(ctx, plan, manifest)
        linked = steps.associations(ctx, plan, manifest)
        reconciled = steps.reconcile(ctx, plan, manifest)
        report = steps.finalize(ctx, plan, manifest, loaded, linked, reconciled)
        totals = hooks.totals()
        return {
            "mode": report["mode"],
            "wall_s": round(time.perf_counter() - started, 2),
            "records_fetched": report["records_fetched"],
            "records_unchanged": report.get("records_unchanged", 0),
            "deletes_checked": report.get("deletes_checked"),
            "deletes_checked_at": report.get("deletes_checked_at"),
            "deletes": report["deletes"],
            "calls": totals["calls"],
            "total_calls": totals["total_calls"],
        }


def portal_of(contacts: int) -> Any:
    return generate_portal(
        seed=15, contacts=contacts, companies=10, deals=10, tickets=0, custom=0, extra_properties=0, owners=3
    )


def live_ids(portal: Any) -> list[str]:
    return [r["id"] for r in portal.snapshot(OBJECT)["records"] if not r.get("archived")]


def burst(n: int, modified: int, uri: str, workdir: Path) -> list[dict[str, Any]]:
    """(a): full, ``modified`` contacts changed in one millisecond, then two incremental runs."""
    portal = portal_of(n)
    sandbox = TimedSandbox(portal)
    sandbox.configure(NO_LIMITS)
    sandbox.server.start()
    try:
        runner = Runner(sandbox.server.url, uri, workdir / "staging-burst")
        runs = [{"run": "full", **runner.run("manual")}]
        instant = int(portal.clock() * 1000) + 10
        for rid in live_ids(portal)[:modified]:
            portal.update(OBJECT, rid, {"firstname": f"Burst {rid}"}, updated_at=instant)
        time.sleep(0.02)  # the burst's instant is past before the runs search for it
        runs.append(
            {"run": f"first incremental after {modified:,} changed at one instant", **runner.run("scheduled")}
        )
        runs.append({"run": "second incremental, inside the lookback", **runner.run("scheduled")})
        runs.append(
            {"run": "third, inside the lookback, deletes check not due", **runner.run("scheduled", NEVER_DUE)}
        )
        log(f"burst at {n:,}: " + "; ".join(f"{r['run']}: {r['total_calls']}" for r in runs))
        return [{"n": n, **r} for r in runs]
    finally:
        sandbox.server.stop()


def no_change(n: int, uri: str, workdir: Path) -> list[dict[str, Any]]:
    """(b): full, then a no-change incremental run with the deletes check not due, and one due."""
    portal = portal_of(n)
    archived = sum(1 for r in portal.snapshot(OBJECT)["records"] if r.get("archived"))
    sandbox = TimedSandbox(portal)
    sandbox.configure(NO_LIMITS)
    sandbox.server.start()
    try:
        runner = Runner(sandbox.server.url, uri, workdir / "staging-nochange")
        runs = [{"run": "full", **runner.run("manual", NEVER_DUE)}]
        runs.append({"run": "no change, deletes check not due", **runner.run("scheduled", NEVER_DUE)})
        runs.append({"run": "no change, deletes check due", **runner.run("scheduled", "every_run")})
        log(f"no change at {n:,}: " + "; ".join(f"{r['run']}: {r['total_calls']}" for r in runs))
        return [{"n": n, "archived": archived, **r} for r in runs]
    finally:
        sandbox.server.stop()


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| contacts | run | calls | by endpoint | read | skipped (unchanged) | deletes checked | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['n']:,} | {r['run']} | {r['total_calls']} | {fmt_calls(r['calls'])} | "
            f"{r['records_fetched']:,} | {r['records_unchanged']:,} | {r['deletes_checked']} | {r['wall_s']} |"
        )
    return "\n".join(lines)


def target_rows(burst_runs: list[dict[str, Any]], quiet_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first, second, third = burst_runs[1:4]
    searches = second["calls"].get("objects.search", 0)
    not_due, due = quiet_runs[1], quiet_runs[2]
    return [
        {
            "target": f"second run after a {first['records_fetched'] // 1000}k burst ≤ 70 calls",
            "measured": f"{third['total_calls']} calls with the deletes check not due "
            f"({fmt_calls(third['calls'])}); {second['total_calls']} with it every run "
            f"({fmt_calls(second['calls'])}); {second['calls'].get('objects.batch_read', 0)} batch reads",
            "goal": "≤ 70 calls (at most the searches)",
            "met": third["total_calls"] <= 70,
            "note": f"{searches} searches; {second['records_unchanged']:,} hits skipped as unchanged; with "
            "deletes_check every_run (the default) the archived listing adds its calls and the run "
            f"exceeds 70; the first incremental run made {first['total_calls']} (it reads the burst); "
            "before this change the second run made 229 (66 searches, 121 batch reads)",
        },
        {
            "target": f"no-change incremental calls at {not_due['n'] // 1000}k (deletes check not due)",
            "measured": f"{not_due['total_calls']} calls ({fmt_calls(not_due['calls'])})",
            "goal": "≤ 5 calls",
            "met": not_due["total_calls"] <= 5,
            "note": f"with the check due: {due['total_calls']} calls ({fmt_calls(due['calls'])}), "
            f"{quiet_runs[0]['archived']:,} archived records listed; deletes_check: '{NEVER_DUE}' vs every_run",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst-contacts", type=int, default=20_000)
    parser.add_argument("--burst", type=int, default=12_000, help="contacts modified at one instant")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts of the no-change runs")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "incremental_skip.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-skip-") as tmp:
        workdir = Path(tmp)
        pg = start_postgres(workdir / "pg")
        try:
            burst_runs = burst(args.burst_contacts, args.burst, pg.uri, workdir)
            quiet_runs = no_change(args.contacts, pg.uri, workdir)
        finally:
            drop_schemas(pg.uri, SCHEMA_PREFIX)
            pg.stop()
    rows = target_rows(burst_runs, quiet_runs)
    table = ["| target | measured | goal | met | note |", "|---|---|---|---|---|"]
    table += [f"| {r['target']} | {r['measured']} | {r['goal']} | {r['met']} | {r['note']} |" for r in rows]
    print("\n".join(table) + "\n\n" + markdown(burst_runs + quiet_runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "burst": burst_runs, "no_change": quiet_runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
