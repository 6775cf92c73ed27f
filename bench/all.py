"""``make bench``: every benchmark, one after another, and one table of the targets they report.

    .venv/bin/python -m bench.all [--only e2e,full_floor] [--quick]

Each module runs in its own process (so no two compete for the two cores) and writes
``bench/results/<name>.json`` with ``rows`` of ``{target, measured, goal, met, note}``. This
collects those rows into ``bench/results/targets.md`` and prints it. A target that is not met
says, in its note, where the time or the calls go. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"

#: (module, arguments, arguments with --quick); the order is the report's
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("e2e", ["--cli"], ["--contacts", "5000"]),
    ("full_floor", [], ["--contacts", "20000"]),
    ("incremental_skip", [], ["--contacts", "20000"]),
    ("export_cost", [], ["--contacts", "100000"]),
    ("export_sync", ["--contacts", "100000"], ["--contacts", "5000"]),
    ("run", ["--out", str(RESULTS / "run.json")], ["--quick", "--out", str(RESULTS / "run.json")]),
]


def run(module: str, arguments: list[str]) -> dict[str, Any]:
    """Run one benchmark module; its exit status and wall time."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", f"bench.{module}", *arguments], cwd=REPO, check=False)  # noqa: S603
    return {
        "module": module,
        "returncode": proc.returncode,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def rows_of(module: str) -> list[dict[str, Any]]:
    path = RESULTS / f"{module}.json"
    if not path.exists():
        return []
    return list(json.loads(path.read_text()).get("rows") or [])


def table(runs: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | target | measured | goal | met | note |", "|---|---|---|---|---|---|"]
    for r in runs:
        rows = rows_of(r["module"])
        if r["returncode"] != 0:
            lines.append(
                f"| {r['module']} | (failed, exit {r['returncode']}) | | | no | see its output above |"
            )
        for row in rows:
            met = "yes" if row.get("met") else "no"
            lines.append(
                f"| {r['module']} | {row['target']} | {row['measured']} | {row['goal']} | {met} | {row.get('note', '')} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated module names")
    parser.add_argument("--quick", action="store_true", help="smaller portals (a smoke run, not the targets)")
    args = parser.parse_args(argv)
    only = {m for m in args.only.split(",") if m}
    runs = []
    for module, full, quick in BENCHMARKS:
        if only and module not in only:
            continue
        print(f"\n=== bench.{module} ===", flush=True)
        runs.append(run(module, quick if args.quick else full))
    report = table(runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "targets.md").write_text(report + "\n")
    print("\n" + report)
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
