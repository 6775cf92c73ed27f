"""Benchmark: the API-call cost of property history (issue 14), at N deals.

    .venv/bin/python -m bench.history_cost [--deals 10000,100000] [--changed 0.01]
                                           [--out bench/results/history.json]

For each N: a generated sandbox portal of N deals (served over HTTP in this process), an
embedded PostgreSQL, and the real step functions of ``hubspot_etl.sync.steps`` for ``deals``
with ``history: [dealstage, amount, closedate]``: a full run, then ``--changed`` of the deals
get a new amount and an incremental run follows. It reports the calls by endpoint of each
run (from the hooks' own counters), the history rows written and the wall time. Nothing here
asserts anything: the harness measures and prints a Markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import random
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
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal  # noqa: E402

from bench.worker import HookPool  # noqa: E402

TOKEN = "bench-history-token"  # noqa: S105 - the sandbox's own token, not a secret
HISTORY = ["dealstage", "amount", "closedate"]


def run_once(host: str, uri: str, schema: str, staging: Path, run_type: str) -> dict[str, Any]:
    """One sync of deals through the step functions; its calls by endpoint and history figures."""
    hooks = HookPool(TOKEN, host, {"rate_limit_max": 0, "search_per_second": 0})
    document = {
        "objects": {"deals": {"history": HISTORY}},
        "defaults": {
            "destination": {"schema": schema},
            "staging_base": f"file://{staging}",
            "lease_wait_seconds": 0,
            "lookback_minutes": 0,
        },
    }
    ctx = steps.StepContext(
        cfg=parse_config(document).objects[0],
        dag_id="hubspot_deals",
        run_id=f"{run_type}-{uuid.uuid4().hex[:6]}",
        run_type=run_type,
        hook_factory=hooks,
        warehouse_factory=lambda: PostgresWarehouse(schema, conninfo=uri),
    )
    started = time.perf_counter()
    plan = steps.prepare(ctx)
    manifest = steps.extract(ctx, plan)
    loaded = steps.load(ctx, plan, manifest)
    linked = steps.associations(ctx, plan, manifest)
    reconciled = steps.reconcile(ctx, plan, manifest)
    history = steps.history(ctx, plan, manifest)
    report = steps.finalize(ctx, plan, manifest, loaded, linked, reconciled, history)
    calls = hooks.totals()["calls"]
    return {
        "mode": report["mode"],
        "wall_s": round(time.perf_counter() - started, 2),
        "records": manifest["records"],
        "history_records": history["records"],
        "history_rows": history["rows"],
        "history_calls": calls.get("objects.batch_read_history", 0),
        "other_calls": sum(n for endpoint, n in calls.items() if endpoint != "objects.batch_read_history"),
        "calls": calls,
    }


def bench(n: int, changed: float, uri: str, workdir: Path) -> list[dict[str, Any]]:
    portal = generate_portal(seed=5, contacts=10, companies=10, deals=n, tickets=0, custom=0, owners=5)
    schema = f"bench_history_{n}_{uuid.uuid4().hex[:6]}"
    rows = []
    config = SandboxConfig(tokens={TOKEN: list(ALL_SCOPES)}, rate_limit_max=None, search_per_second=None)
    with SandboxServer(portal, config) as server:
        full = run_once(server.url, uri, schema, workdir / f"staging-{n}", "manual")
        rows.append({"n": n, "run": "full", **full})
        live = [r["id"] for r in portal.snapshot("deals")["records"] if not r.get("archived")]
        picked = random.Random(n).sample(live, max(1, round(len(live) * changed)))
        time.sleep(0.01)  # the changes come after the full run's watermark
        for rid in picked:
            portal.update("deals", rid, {"amount": str(random.Random(rid).randint(100, 99_999))})
        incremental = run_once(server.url, uri, schema, workdir / f"staging-{n}", "scheduled")
        rows.append({"n": n, "run": f"incremental, {changed:.0%} changed", **incremental})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| deals | run | records read | history records | history rows | history calls | other calls | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['run']} | {r['records']:,} | {r['history_records']:,} | {r['history_rows']:,} "
            f"| {r['history_calls']:,} | {r['other_calls']:,} | {r['wall_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", default="10000,100000", help="comma-separated deal counts")
    parser.add_argument(
        "--changed", type=float, default=0.01, help="share of deals changed before the incremental run"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "history.json")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        workdir = Path(tmp)
        pg = start_postgres(workdir / "pg")
        try:
            for n in (int(x) for x in args.deals.split(",")):
                rows += bench(n, args.changed, pg.uri, workdir)
                print(markdown(rows[-2:]), flush=True)
        finally:
            pg.stop()
    print("\n" + markdown(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
