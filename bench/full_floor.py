"""Full load beyond the list endpoint's floor: list chains and search id ranges at once (issue 15.3).

    .venv/bin/python -m bench.full_floor [--contacts 100000] [--properties 50]
                                         [--out bench/results/full_floor.json]

One portal, served by the sandbox at HubSpot's limits (``bench.run.HUBSPOT_LIMITS``: 190 / 10 s,
search 5 / s, 100 ms latency); each scenario is a full load into a fresh schema through the
real step functions in a child process (``bench.worker``), as ``bench.run`` does:

* ``list + search``: the hook's defaults (search in full loads on, exempt from the
  ten-secondly window as HubSpot's specs say; budgets 180 / 10 s and 4 searches / s);
* ``list + search, budgets at the limits``: the same with the hook's budgets equal to
  HubSpot's limits (190 / 10 s, 5 / s; associations 190 / 10 s) and 6 list chains;
* ``list only, associations after``: the path before issue 15.3 — ``full_load_search: false``
  and the association batch reads in the associations step, after the load (this module's
  child patches ``AssociationPrefetch.wanted`` to False: the product has no switch for it);
* ``list only``: ``full_load_search: false``, the association reads during extract.

The floor is ``bench.run``'s: the fewest general-budget calls of a full load (properties,
schemas, list pages, archived list pages, association batch reads for two targets) at 19 / s.
Nothing here asserts a time; the table and ``bench/results/full_floor.json`` report them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubspot_sandbox import generate_portal

from bench.run import (
    HOOK_DEFAULTS,
    HUBSPOT_LIMITS,
    OBJECT,
    REPO,
    TimedSandbox,
    drop_schemas,
    log,
    minimum_calls,
    remember_values,
    scenario_spec,
    start_postgres,
)

GOAL = 0.75
#: the hook's budgets equal to HubSpot's limits (safe: pacing.py stamps a slot at completion)
AT_LIMITS = {
    **HOOK_DEFAULTS,
    "rate_limit_max": 190,
    "search_per_second": 5,
    "association_rate_limit_max": 190,
    "list_concurrency": 6,  # 4 chains at ~0.2 s a page make ~17 requests / s, under the 19 allowed
}
#: label -> (hook settings, association reads during extract)
SCENARIOS: dict[str, tuple[dict[str, Any], bool]] = {
    "list + search": (HOOK_DEFAULTS, True),
    "list + search, budgets at the limits": (AT_LIMITS, True),
    "list only": ({**HOOK_DEFAULTS, "full_load_search": False}, True),
    "list only, associations after": ({**HOOK_DEFAULTS, "full_load_search": False}, False),
}
OLD_PATH = "list only, associations after"


def run_child(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """``bench.run.run_child``, through this module's :func:`child` (the old path's switch)."""
    spec_path, out_path = workdir / f"floor-{uuid.uuid4().hex[:8]}.spec.json", workdir / "floor.out.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    command = [sys.executable, "-m", "bench.full_floor", "--child", str(spec_path), str(out_path)]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"scenario {spec.get('label')} failed:\n{proc.stderr[-4000:]}")
    return json.loads(out_path.read_text())


def run_scenarios(n: int, p: int, pg_uri: str, workdir: Path) -> dict[str, Any]:
    """Every scenario's full load of N contacts x P properties at HubSpot's limits."""
    portal = generate_portal(
        seed=7,
        contacts=n,
        companies=max(10, n // 10),
        deals=10,
        tickets=10,
        custom=10,
        extra_properties=max(0, p - 20),
        owners=10,
    )
    ot = portal.object_type(OBJECT)
    remember_values(ot)
    live = sum(1 for rid in ot.ids if ot.records[rid].visible and not ot.records[rid].archived)
    archived = sum(1 for rid in ot.ids if ot.records[rid].archived)
    floor = minimum_calls("full", live, archived, live, sorted(ot.properties))
    sandbox = TimedSandbox(portal)
    sandbox.server.start()
    staging = workdir / "staging"
    results: dict[str, Any] = {"n": n, "p": p, "live": live, "archived": archived, "floor": floor}
    try:
        for label, (hook, prefetch) in SCENARIOS.items():
            sandbox.configure(HUBSPOT_LIMITS)
            spec = scenario_spec(
                "sync",
                label,
                pg_uri,
                sandbox.server.url,
                staging,
                schema=f"bench_floor_{uuid.uuid4().hex[:8]}",
                run_id=f"floor-{uuid.uuid4().hex[:6]}",
                run_type="manual",
                hook_settings=hook,
                association_prefetch=prefetch,
            )
            log(f"[{n}x{p}] {label} ...")
            result = run_child(spec, workdir)
            server = sandbox.snapshot()
            results[label] = {
                "wall_s": result["wall_s"],
                "wall_over_floor": round(result["wall_s"] / floor["floor_s"], 3),
                "records": result["records_fetched"],
                "step_s": result["step_s"],
                "api_calls": result["hook"]["calls"],
                "http_429_hook": result["hook"]["http_429"],
                "http_429_sandbox": server["responses_429"],
                "pacing_wait_s": result["hook"]["pacing_wait_s"],
                "peak_rss_mb": result["peak_rss_mb"],
            }
            log(f"[{n}x{p}] {label}: {result['wall_s']}s = {results[label]['wall_over_floor']}x floor")
    finally:
        sandbox.server.stop()
        shutil.rmtree(staging, ignore_errors=True)
        drop_schemas(pg_uri, "bench_floor_")
    return results


def rows_of(results: dict[str, Any]) -> list[dict[str, Any]]:
    n, p, floor_s = results["n"], results["p"], results["floor"]["floor_s"]
    listed, old = results["list only"], results[OLD_PATH]
    size = f"{n // 1000}k×{p}" if n % 1000 == 0 else f"{n}×{p}"
    rows = []
    for label, budgets in (
        ("list + search", "the hook's default budgets"),
        ("list + search, budgets at the limits", "hook budgets = HubSpot's limits, 6 list chains"),
    ):
        both = results[label]
        ratio = both["wall_over_floor"]
        rows.append(
            {
                "target": f"full load at {size} at the limits ≤ {GOAL}× the list-only floor ({budgets})",
                "measured": f"{ratio:.2f}× ({both['wall_s']:.1f} s; floor {floor_s:.1f} s)",
                "goal": f"≤ {GOAL}×",
                "met": ratio <= GOAL,
                "note": (
                    f"old path (list only, associations after) in the same run: {old['wall_over_floor']:.2f}× "
                    f"({old['wall_s']:.1f} s); list only with the associations during extract "
                    f"{listed['wall_over_floor']:.2f}×; extract {both['step_s'].get('extract')} s vs "
                    f"{listed['step_s'].get('extract')} s list only; "
                    f"429s {both['http_429_hook']}/{both['http_429_sandbox']}"
                ),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], results: dict[str, Any]) -> str:
    lines = ["| target | measured | goal | met | note |", "|---|---|---|---|---|"]
    for row in rows:
        met = "yes" if row["met"] else "no"
        lines.append(f"| {row['target']} | {row['measured']} | {row['goal']} | {met} | {row['note']} |")
    lines += [
        "",
        "| scenario | wall s | × floor | extract s | associations s | reconcile s | calls |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in SCENARIOS:
        r = results[label]
        steps = r["step_s"]
        calls = ", ".join(f"{k} {v}" for k, v in sorted(r["api_calls"].items()))
        lines.append(
            f"| {label} | {r['wall_s']:.1f} | {r['wall_over_floor']:.2f} | {steps.get('extract')} "
            f"| {steps.get('associations')} | {steps.get('reconcile')} | {calls} |"
        )
    return "\n".join(lines)


def child(paths: list[str]) -> int:
    """``bench.worker`` for one scenario, with the association reads during extract off if
    the spec says so (the old path)."""
    from bench import worker

    if not json.loads(Path(paths[0]).read_text()).get("association_prefetch", True):
        from hubspot_etl.sync.association_prefetch import AssociationPrefetch

        AssociationPrefetch.wanted = classmethod(lambda cls, plan: False)  # type: ignore[method-assign]
    return worker.main(paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--properties", type=int, default=50)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "full_floor.json"))
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="hubspot-floor-"))
    pg = start_postgres(workdir / "pg")
    try:
        results = run_scenarios(args.contacts, args.properties, pg.uri, workdir)
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = rows_of(results)
    table = markdown(rows, results)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": rows,
                "generated_at": datetime.now(UTC).isoformat(),
                "total_wall_s": round(time.perf_counter() - started, 1),
                "limits": HUBSPOT_LIMITS,
                "results": results,
                "markdown": table,
            },
            indent=2,
            default=str,
        )
    )
    log(f"done in {time.perf_counter() - started:.0f}s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
