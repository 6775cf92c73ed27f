"""Load-only throughput of two trees of this project, interleaved in one run.

    .venv/bin/python -m bench.compare_load --before /tmp/bench-before --after /tmp/bench-after \
        [--rounds 3] [--contacts 10000] [--properties 50,500] [--workdir DIR]

Each tree is a checkout of the project (for example two ``git worktree``s). Every round runs
``python -m bench.run`` of the "before" tree, then of the "after" tree, each with ``cwd`` = the
tree and ``PYTHONPATH=<tree>/plugins:<tree>/devtools:<tree>`` (the same interpreter for both:
``sys.executable``, so the venv must hold both trees' dependencies). ``bench.run`` is called
with options both versions have: ``--skip-limited --no-baseline --rss-contacts 0``, so a run
is the no-limits full load (whose staged parts feed the load) plus the load-only scenario
(``steps.load`` into a fresh schema). Before the first round, a check child of each tree
prints where ``hubspot_etl``, ``hubspot_sandbox`` and ``bench.run`` come from, with the
parent's environment and with the one ``bench.run`` gives its workers; a module outside its
tree stops the comparison (the editable install points at one checkout only).

Prints a Markdown table: per N x P, the median load-only rows/s of each tree, after/before,
the min-max of each, and after/before of each round's pair. Every run's JSON and
``compare.json`` are kept in ``--workdir``; ``--render compare.json`` prints its table again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHECK = """
import json, sys
import hubspot_etl, hubspot_etl.warehouse.postgres as pg
out = {"hubspot_etl": hubspot_etl.__file__, "warehouse.postgres": pg.__file__}
try:
    import hubspot_etl.warehouse.core as core
    out["warehouse.core"] = core.__file__
except ImportError as exc:
    out["warehouse.core"] = f"absent ({exc})"
if "--parent" in sys.argv:
    import bench.run, hubspot_sandbox, hubspot_devtools
    out.update(
        {"bench.run": bench.run.__file__, "hubspot_sandbox": hubspot_sandbox.__file__,
         "hubspot_devtools": hubspot_devtools.__file__}
    )
else:
    import bench.worker
    out["bench.worker"] = bench.worker.__file__
print(json.dumps(out))
"""


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def parent_env(tree: Path) -> dict[str, str]:
    path = os.pathsep.join(str(p) for p in (tree / "plugins", tree / "devtools", tree))
    return {**os.environ, "PYTHONPATH": path}


def worker_env(tree: Path) -> dict[str, str]:
    """What ``bench.run.run_child`` gives ``bench.worker`` (it replaces PYTHONPATH)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "plugins")])}


def check_imports(name: str, tree: Path) -> dict[str, Any]:
    """Where each tree's parent and worker import the project from; exits if outside the tree."""
    found: dict[str, Any] = {}
    for role, env, extra in (("parent", parent_env(tree), ["--parent"]), ("worker", worker_env(tree), [])):
        proc = subprocess.run(  # noqa: S603
            [sys.executable, "-c", CHECK, *extra],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{name} ({tree}): the {role} import check failed:\n{proc.stderr[-4000:]}")
        paths = json.loads(proc.stdout.strip().splitlines()[-1])
        found[role] = paths
        for module, path in paths.items():
            log(f"{name} {role}: {module} -> {path}")
            if not path.startswith("absent") and not Path(path).resolve().is_relative_to(tree.resolve()):
                raise SystemExit(f"{name} ({tree}): {role} imports {module} from {path}, outside the tree")
    return found


def git_head(tree: Path) -> str:
    proc = subprocess.run(  # noqa: S603
        ["git", "-C", str(tree), "rev-parse", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "?"


def run_once(name: str, tree: Path, args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "bench.run",
        "--contacts",
        args.contacts,
        "--properties",
        args.properties,
        "--skip-limited",
        "--no-baseline",
        "--rss-contacts",
        "0",
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603
        command, cwd=tree, env=parent_env(tree), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    (out.parent / (out.stem + ".stderr.txt")).write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} ({tree}) failed after {elapsed:.0f}s:\n{proc.stderr[-6000:]}")
    saved = json.loads(out.read_text())
    loads = [r for r in saved["scenarios"] if r["mode"] == "load"]
    log(
        f"{name}: {elapsed:.0f}s; "
        + ", ".join(
            f"{r['n']}x{r['p']} {r['load']['rows_per_s']:,.0f} rows/s ({r['load']['wall_s']:.2f}s)"
            for r in loads
        )
    )
    return [
        {
            "tree": name,
            "n": r["n"],
            "p": r["p"],
            "rows": r["load"]["rows"],
            "parts": r["load"]["parts"],
            "rejects": r["load"]["rejects"],
            "wall_s": r["load"]["wall_s"],
            "rows_per_s": r["load"]["rows_per_s"],
            "peak_rss_mb_after_load": r["load"]["peak_rss_mb_after_load"],
        }
        for r in loads
    ]


def table(results: list[dict[str, Any]], rounds: int) -> str:
    lines = [
        "| N × P | rows | before rows/s (median) | after rows/s (median) | after / before "
        "| before min-max | after min-max | before s (median) | after s (median) | after / before by round |",
        "|" + "---|" * 10,
    ]
    sizes = sorted({(r["n"], r["p"]) for r in results})
    for n, p in sizes:
        of = {
            t: [r for r in results if (r["n"], r["p"]) == (n, p) and r["tree"] == t]
            for t in ("before", "after")
        }
        rate = {t: [r["rows_per_s"] for r in rs] for t, rs in of.items()}
        secs = {t: [r["wall_s"] for r in rs] for t, rs in of.items()}
        rows = sorted({r["rows"] for rs in of.values() for r in rs})
        med = {t: statistics.median(v) for t, v in rate.items()}
        by_round = {(r["tree"], r["round"]): r["rows_per_s"] for rs in of.values() for r in rs}
        paired = [
            f"{by_round[('after', k)] / by_round[('before', k)]:.2f}"
            for k in sorted({r["round"] for r in of["before"]})
            if ("after", k) in by_round
        ]
        lines.append(
            f"| {n:,} × {p} | {'/'.join(f'{x:,}' for x in rows)} | {med['before']:,.0f} | {med['after']:,.0f} "
            f"| {med['after'] / med['before']:.2f} "
            f"| {min(rate['before']):,.0f}-{max(rate['before']):,.0f} | {min(rate['after']):,.0f}-{max(rate['after']):,.0f} "
            f"| {statistics.median(secs['before']):.2f} | {statistics.median(secs['after']):.2f} "
            f"| {' '.join(paired)} |"
        )
    counts = {t: sum(1 for r in results if r["tree"] == t) // max(1, len(sizes)) for t in ("before", "after")}
    lines.append("")
    lines.append(f"({counts['before']} runs of each tree per size, interleaved; {rounds} rounds requested.)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, help="the tree measured first in each round")
    parser.add_argument("--after", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contacts", default="10000", help="bench.run --contacts (default 10000)")
    parser.add_argument("--properties", default="50,500", help="bench.run --properties (default 50,500)")
    parser.add_argument("--workdir", type=Path, help="where each run's JSON goes (default: a new temp dir)")
    parser.add_argument("--render", metavar="JSON", type=Path, help="only print the table of a compare.json")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text())
        print(table(saved["results"], max(r["round"] for r in saved["results"])))
        return 0
    if not (args.before and args.after):
        parser.error("--before and --after are required (unless --render)")
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="compare-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "argv": sys.argv,
        "python": sys.executable,
        "trees": {name: {"path": str(tree), "commit": git_head(tree)} for name, tree in trees.items()},
    }
    for name, tree in trees.items():
        meta["trees"][name]["imports"] = check_imports(name, tree)
    log(f"writing runs to {workdir}")
    results: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        for name, tree in trees.items():
            log(f"round {round_no}/{args.rounds}: {name} ({meta['trees'][name]['commit'][:7]}) ...")
            for row in run_once(name, tree, args, workdir / f"r{round_no}-{name}.json"):
                results.append({**row, "round": round_no})
        (workdir / "compare.json").write_text(json.dumps({**meta, "results": results}, indent=2))
    text = table(results, args.rounds)
    (workdir / "compare.json").write_text(
        json.dumps({**meta, "results": results, "markdown": text}, indent=2)
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
