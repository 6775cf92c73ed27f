"""Benchmark harness: full load vs HubSpot's rate-limit floor, incremental API cost, load throughput.

    .venv/bin/python -m bench.run [--contacts 10000] [--properties 50,500] [--quick]
                                  [--out bench/results/latest.json]

This process generates a sandbox portal and serves it (HubSpot-compatible HTTP, in threads of
this process) and starts an embedded PostgreSQL (pgserver, its own processes). Every scenario
runs in a child process (``bench.worker``) that drives the real step functions of
``hubspot_etl.sync.steps``; its ``ru_maxrss`` is the peak RSS reported. Nothing here asserts a
time: the harness measures, prints a Markdown table and writes JSON. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from hubspot_devtools.local import start_postgres  # noqa: E402
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal  # noqa: E402

TOKEN = "bench-token-0b7e"  # noqa: S105 - the sandbox's own token, not a secret
OBJECT = "contacts"
ASSOCIATIONS = ["companies", "deals"]  # two targets: the association-refresh target (issue 12)
#: HubSpot Professional/Enterprise limits (what the sandbox enforces in the "limits" scenarios)
HUBSPOT_LIMITS = {
    "rate_limit_max": 190,
    "rate_limit_interval_ms": 10_000,
    "search_per_second": 5,
    "latency_ms": 100,
}
NO_LIMITS = {
    "rate_limit_max": None,
    "rate_limit_interval_ms": None,
    "search_per_second": None,
    "latency_ms": 0,
}
#: hook budget: {} = the documented defaults of HubSpotSettings (180 / 10 s, 4 searches / s)
HOOK_DEFAULTS: dict[str, Any] = {}
HOOK_UNPACED = {"rate_limit_max": 0, "search_per_second": 0}
GENERAL_RATE = 190 / 10.0  # requests per second HubSpot allows (the floor's denominator)
SEARCH_RATE = 5.0
LIST_PAGE = 100
BATCH_READ = 100
SEARCH_PAGE = 200
ASSOC_BATCH = 1000
HOOK_MAX_URL = 12_000  # HubSpotSettings.max_url_length default
BASE_CONTACT_PROPERTIES = 20  # properties of a generated contact before extra_properties


# --------------------------------------------------------------------------- environment


class TimedSandbox:
    """The sandbox plus the time its request handler was busy (latency sleep excluded)."""

    def __init__(self, portal: Any) -> None:
        config = SandboxConfig(tokens={TOKEN: list(ALL_SCOPES)}, daily_limit=None, **NO_LIMITS)
        self.server = SandboxServer(portal, config)
        self._lock = threading.Lock()
        self.busy_s = 0.0
        self.public_requests = 0
        handle = self.server.handle

        def timed_handle(method: str, target: str, headers: Any, body: bytes) -> Any:
            started = time.perf_counter()
            try:
                return handle(method, target, headers, body)
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.busy_s += elapsed
                    if not target.startswith("/_sandbox"):
                        self.public_requests += 1
                        self.busy_s -= (self.server.config.latency_ms or 0) / 1000

        self.server.handle = timed_handle  # the HTTP handler calls app.handle(...)

    def configure(self, limits: dict[str, Any]) -> None:
        for key, value in limits.items():
            setattr(self.server.config, key, value)
        self.server.reset_rate_limits()
        self.server.reset_counters()
        with self._lock:
            self.busy_s, self.public_requests = 0.0, 0

    def snapshot(self) -> dict[str, Any]:
        counters = self.server.counters()
        with self._lock:
            busy, n = self.busy_s, self.public_requests
        return {
            "counters": dict(sorted(counters.items())),
            "responses_429": counters.get("responses.429", 0),
            "busy_s": round(busy, 3),
            "busy_ms_per_request": round(1000 * busy / n, 2) if n else None,
        }


def remember_values(ot: Any) -> float:
    """Compute every generated value of ``ot`` once and keep it; returns the seconds it took.

    The sandbox generates values on demand by hashing, about 50 ms of CPU for a page of 100
    records x 250 properties. A real HubSpot spends that on its own servers; here it would take
    one of the two cores from the pipeline being measured. Precomputed, a page costs only its
    JSON encoding.
    """
    started = time.perf_counter()
    if ot.lazy is not None:
        ot.lazy.remember()
        names = sorted(ot.properties)
        for rid in ot.ids:
            ot.wire(ot.records[rid], names)
    return time.perf_counter() - started


def run_child(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run one scenario in a child process and return its result (plus the parent-side wall time)."""
    name = f"{spec['kind']}-{uuid.uuid4().hex[:8]}"
    spec_path, out_path = workdir / f"{name}.spec.json", workdir / f"{name}.out.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.worker", str(spec_path), str(out_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"scenario {spec.get('label')} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(out_path.read_text())
    result["process_wall_s"] = round(elapsed, 3)
    return result


# --------------------------------------------------------------------------- minimum calls


def properties_fit_one_url(properties: list[str]) -> bool:
    """Whether one list URL can carry every property (the hook's 12,000-character cap with the
    256 characters it reserves for the paging cursor); otherwise a page needs 2 calls minimum
    (ids via list + one batch read with the properties in the body)."""
    base = f"https://api.hubapi.com/crm/v3/objects/{OBJECT}?" + urlencode(
        {"limit": 100, "archived": "false", "after": "x" * 256}
    )
    return (
        len(base) + len("&properties=") + len(urlencode({"p": ",".join(properties)}, safe=",")) - 2
        <= HOOK_MAX_URL
    )


def minimum_calls(
    kind: str, live: int, archived: int, extracted: int, properties: list[str]
) -> dict[str, Any]:
    """The fewest requests the chosen endpoints allow (see docs/benchmarks.md, "Minimum calls").

    full:        properties 1 + schemas 1; list pages ceil(live/100) x k; association batch reads
                 ceil(live/1000) per target type; archived list ceil(archived/100) x k (at least 1),
                 k = 1 if every property fits one list URL, else 2.
    incremental: properties 1 + schemas 1; search pages max(1, ceil(changed/200)) (search rate);
                 batch reads ceil(changed/100); association batch reads ceil(live/1000) per
                 target (``association_refresh: every_run``, the default, refreshes every live
                 record's associations); archived list max(1, ceil(archived/100)) (ids and merge
                 lists only: one URL per page).
    """
    k = 1 if properties_fit_one_url(properties) else 2
    general: dict[str, int] = {"properties": 1, "schemas": 1}
    search = 0
    if kind == "full":
        general["objects.list"] = (
            math.ceil(live / LIST_PAGE) * k + max(1, math.ceil(archived / LIST_PAGE)) * k
        )
        general["associations.batch_read"] = math.ceil(live / ASSOC_BATCH) * len(ASSOCIATIONS)
    else:
        search = max(1, math.ceil(extracted / SEARCH_PAGE))
        general["objects.batch_read"] = math.ceil(extracted / BATCH_READ)
        general["objects.list"] = max(1, math.ceil(archived / LIST_PAGE))  # ids only: 1 URL per page
        general["associations.batch_read"] = math.ceil(live / ASSOC_BATCH) * len(ASSOCIATIONS)
    total_general = sum(general.values())
    floor = max(total_general / GENERAL_RATE, search / SEARCH_RATE)
    return {
        "urls_per_page_k": k,
        "general": general,
        "search": search,
        "total": total_general + search,
        "floor_s": round(floor, 3),
    }


# --------------------------------------------------------------------------- scenarios


def scenario_spec(
    kind: str, label: str, uri: str, sandbox_url: str, staging: Path, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "label": label,
        "object": OBJECT,
        "associations": ASSOCIATIONS,
        "uri": uri,
        "host": sandbox_url,
        "token": TOKEN,
        "staging": str(staging),
        **extra,
    }


def bench_size(n: int, p: int, pg_uri: str, workdir: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """All scenarios for N contacts x P properties; returns one row dict per scenario."""
    t0 = time.perf_counter()
    portal = generate_portal(
        seed=7,
        contacts=n,
        companies=max(10, n // 10),
        deals=10,
        tickets=10,
        custom=10,
        extra_properties=max(0, p - BASE_CONTACT_PROPERTIES),
        owners=10,
    )
    ot = portal.object_type(OBJECT)
    warm_s = remember_values(ot)
    live_ids = [rid for rid in ot.ids if ot.records[rid].visible and not ot.records[rid].archived]
    archived = sum(1 for rid in ot.ids if ot.records[rid].archived)
    properties = sorted(ot.properties)
    log(
        f"[{n}x{p}] portal generated in {time.perf_counter() - t0:.1f}s (values precomputed in {warm_s:.1f}s): "
        f"{len(live_ids)} live, {archived} archived"
    )
    rows: list[dict[str, Any]] = []
    sandbox = TimedSandbox(portal)
    sandbox.server.start()
    tag = f"{n}x{p}"
    staging = workdir / f"staging-{tag}"
    try:

        def sync(
            label: str,
            limits: dict[str, Any],
            hook: dict[str, Any],
            schema: str,
            run_type: str,
            kind: str,
            extracted_hint: int | None = None,
        ) -> dict[str, Any]:
            sandbox.configure(limits)
            spec = scenario_spec(
                "sync",
                label,
                pg_uri,
                sandbox.server.url,
                staging,
                schema=schema,
                run_id=f"{label}-{uuid.uuid4().hex[:6]}",
                run_type=run_type,
                hook_settings=hook,
            )
            log(f"[{tag}] {label} ...")
            result = run_child(spec, workdir)
            server = sandbox.snapshot()
            extracted = result["records_fetched"]
            minimum = minimum_calls(kind, len(live_ids), archived, extracted, properties)
            row = {
                "scenario": label,
                "n": n,
                "p": p,
                "limits": "HubSpot" if limits is HUBSPOT_LIMITS else "none",
                "mode": result["mode"],
                "wall_s": result["wall_s"],
                "records": extracted,
                "records_per_s": round(extracted / result["wall_s"], 1) if result["wall_s"] else None,
                "api_calls": result["hook"]["calls"],
                "api_calls_total": result["hook"]["total_calls"],
                "http_429_hook": result["hook"]["http_429"],
                "http_429_sandbox": server["responses_429"],
                "pacing_wait_s": result["hook"]["pacing_wait_s"],
                "peak_rss_mb": result["peak_rss_mb"],
                "cpu_s": result["cpu_s"],
                "minimum_calls": minimum,
                "calls_vs_minimum": round(result["hook"]["total_calls"] / minimum["total"], 3),
                "floor_s": minimum["floor_s"],
                "wall_over_floor": round(result["wall_s"] / minimum["floor_s"], 2)
                if minimum["floor_s"]
                else None,
                "step_s": result["step_s"],
                "peak_rss_mb_after_step": result["peak_rss_mb_after_step"],
                "sandbox": server,
                "deletes": result["deletes"],
                "associations": result["associations"],
                "association_refresh": result["association_refresh"],
            }
            log(
                f"[{tag}] {label}: {row['wall_s']}s, {row['api_calls_total']} calls, floor {row['floor_s']}s, "
                f"429s {row['http_429_hook']}/{row['http_429_sandbox']}, RSS {row['peak_rss_mb']} MB"
            )
            rows.append(row)
            return result

        # 1b. full load, no limits, no latency: the pipeline's own cost (its staged files feed 3.)
        schema_free = f"bench_{tag}_free_{uuid.uuid4().hex[:6]}"
        free = sync("full, no limits", NO_LIMITS, HOOK_UNPACED, schema_free, "manual", "full")
        # 1a. full load at HubSpot's limits, hook budget at its defaults
        schema_limited = f"bench_{tag}_lim_{uuid.uuid4().hex[:6]}"
        if not args.skip_limited:
            sync("full, HubSpot limits", HUBSPOT_LIMITS, HOOK_DEFAULTS, schema_limited, "manual", "full")
            # 2. incremental runs on the same schema (scheduled: window from the watermark)
            sync(
                "incremental, no changes",
                HUBSPOT_LIMITS,
                HOOK_DEFAULTS,
                schema_limited,
                "scheduled",
                "incremental",
            )
            changed = random.Random(n * 31 + p).sample(live_ids, max(1, len(live_ids) // 100))
            for rid in changed:
                portal.update(OBJECT, rid, {"firstname": f"Changed {rid}"})
            sync(
                "incremental, 1% changed",
                HUBSPOT_LIMITS,
                HOOK_DEFAULTS,
                schema_limited,
                "scheduled",
                "incremental",
            )
        # 3. load only: the same staged parts into a fresh schema, plus the naive baselines
        if not args.skip_load:
            sandbox.configure(NO_LIMITS)
            log(f"[{tag}] load only + naive baseline ...")
            spec = scenario_spec(
                "load",
                "load only",
                pg_uri,
                sandbox.server.url,
                staging,
                schema=f"bench_{tag}_load_{uuid.uuid4().hex[:6]}",
                run_id=f"load-{uuid.uuid4().hex[:6]}",
                hook_settings=HOOK_UNPACED,
                manifest={**free["manifest"], "preloaded": {}},  # load every part here
                baseline=not args.no_baseline,
                baseline_rows=args.baseline_rows,
            )
            result = run_child(spec, workdir)
            row = {
                "scenario": "load only",
                "n": n,
                "p": p,
                "limits": "-",
                "mode": "load",
                "wall_s": result["wall_s"],
                "records": result["rows"],
                "records_per_s": result["rows_per_s"],
                "peak_rss_mb": result["peak_rss_mb"],
                "cpu_s": result["cpu_s"],
                "load": result,
            }
            for variant in ("naive_per_row_commit", "naive_one_tx"):
                if variant in result:
                    row[f"x_vs_{variant}"] = round(result["rows_per_s"] / result[variant]["rows_per_s"], 1)
            log(
                f"[{tag}] load only: {result['rows_per_s']} rows/s; "
                f"naive per-row commit {result.get('naive_per_row_commit', {}).get('rows_per_s')} rows/s, "
                f"one tx {result.get('naive_one_tx', {}).get('rows_per_s')} rows/s"
            )
            rows.append(row)
    finally:
        sandbox.server.stop()
        shutil.rmtree(staging, ignore_errors=True)
        drop_schemas(pg_uri, f"bench_{tag}_")
    return rows


def drop_schemas(uri: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [prefix + "%"]
            ).fetchall()
        ]
        for name in names:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


# --------------------------------------------------------------------------- output


def fmt_calls(calls: dict[str, int] | None) -> str:
    if not calls:
        return "-"
    short = {
        "objects.list": "list",
        "objects.batch_read": "batch",
        "objects.search": "search",
        "associations.batch_read": "assoc",
        "properties": "props",
        "schemas": "schemas",
        "pipelines": "pipelines",
    }
    return " ".join(f"{short.get(k, k)} {v}" for k, v in calls.items())


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| N × P | scenario | wall s | records/s | API calls (by endpoint) | calls / min | 429s hook/sandbox "
        "| floor s | wall / floor | peak RSS MB | CPU s |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        if r["mode"] == "load":
            continue
        lines.append(
            f"| {r['n']:,} × {r['p']} | {r['scenario']} | {r['wall_s']:.1f} | {r['records_per_s']:,.0f} "
            f"| {r['api_calls_total']}: {fmt_calls(r['api_calls'])} | {r['api_calls_total']}/{r['minimum_calls']['total']}"
            f" = {r['calls_vs_minimum']:.2f} | {r['http_429_hook']}/{r['http_429_sandbox']} | {r['floor_s']:.1f} "
            f"| {r['wall_over_floor']:.2f} | {r['peak_rss_mb']:.0f} | {r['cpu_s']:.1f} |"
        )
    loads = [r for r in rows if r["mode"] == "load"]
    if loads:
        lines += [
            "",
            "| N × P | load | rows | wall s | rows/s | peak RSS MB | × vs per-row commit | × vs one-tx row-by-row |",
            "|" + "---|" * 8,
        ]
        for r in loads:
            ld = r["load"]
            lines.append(
                f"| {r['n']:,} × {r['p']} | COPY + upsert (`steps.load`) | {ld['rows']:,} | {ld['wall_s']:.2f} "
                f"| {ld['rows_per_s']:,.0f} | {ld['peak_rss_mb_after_load']:.0f} | {r.get('x_vs_naive_per_row_commit', '-')} "
                f"| {r.get('x_vs_naive_one_tx', '-')} |"
            )
            for variant, name in (
                ("naive_per_row_commit", "row-by-row INSERT ON CONFLICT, commit per row"),
                ("naive_one_tx", "row-by-row INSERT ON CONFLICT, one transaction"),
            ):
                if variant in ld:
                    v = ld[variant]
                    lines.append(
                        f"| {r['n']:,} × {r['p']} | {name} | {v['rows']:,} | {v['wall_s']:.2f} "
                        f"| {v['rows_per_s']:,.0f} | | | |"
                    )
    return "\n".join(lines)


def derived(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Cross-scenario figures: RSS growth 10k -> 100k, incremental calls, calls vs minimum."""
    out: dict[str, Any] = {}
    fulls = [r for r in rows if r["mode"] == "full"]
    for limits in ("none", "HubSpot"):
        by_p: dict[int, dict[int, float]] = {}
        for r in fulls:
            if r["limits"] == limits:
                by_p.setdefault(r["p"], {})[r["n"]] = r["peak_rss_mb"]
        for p, by_n in by_p.items():
            ns = sorted(by_n)
            if len(ns) >= 2:
                lo, hi = ns[0], ns[-1]
                out[f"rss_growth_{lo}_to_{hi}_p{p}_{limits}"] = round(by_n[hi] / by_n[lo] - 1, 3)
    for r in rows:
        if r["scenario"] == "incremental, no changes":
            calls = r["api_calls"]
            meta = calls.get("properties", 0) + calls.get("pipelines", 0)
            out[f"incremental_no_change_calls_{r['n']}x{r['p']}"] = {
                "total": r["api_calls_total"],
                "excluding_properties_and_pipelines": r["api_calls_total"] - meta,
                "target": "<= 5 per object plus pipelines and properties",
            }
            refresh = r.get("association_refresh") or {}
            out[f"association_refresh_{r['n']}x{r['p']}"] = {
                "records": refresh.get("records"),
                "targets": len(ASSOCIATIONS),
                "calls": refresh.get("calls"),
                "target": "<= 210 at 100,000 records and two targets",
            }
        if r["mode"] == "full":
            out[f"full_calls_vs_minimum_{r['n']}x{r['p']}_{r['limits']}"] = r["calls_vs_minimum"]
    return out


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def parse_list(value: str) -> list[int]:
    return [int(v.replace("_", "").replace("k", "000")) for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", default="10000", help="comma-separated N (default 10000)")
    parser.add_argument("--properties", default="50,500", help="comma-separated P (default 50,500)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 contacts x 50 properties")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "latest.json"))
    parser.add_argument("--skip-limited", action="store_true", help="only the no-limits full load (+ load)")
    parser.add_argument("--skip-load", action="store_true", help="skip the load-only scenario")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive row-by-row baselines")
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=5000,
        help="rows of each naive baseline: the first N of the same staged rows (default 5000; 0 = all)",
    )
    parser.add_argument(
        "--rss-contacts",
        type=int,
        default=100_000,
        help="also run every scenario at this N with the smallest P, without the naive baselines "
        "(RSS growth, floor ratio and incremental calls at scale; default 100000; 0 = off)",
    )
    parser.add_argument("--render", metavar="JSON", help="only print the table of an earlier results file")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        print(markdown(saved["scenarios"]))
        print("\n```json\n" + json.dumps(derived(saved["scenarios"]), indent=2) + "\n```")
        return 0
    sizes = [(n, p) for n in parse_list(args.contacts) for p in parse_list(args.properties)]
    if args.quick:
        sizes = [(2000, 50)]
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its start/stop chatter
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="hubspot-bench-"))
    pg = start_postgres(workdir / "pg")
    rows: list[dict[str, Any]] = []
    try:
        for n, p in sizes:
            rows += bench_size(n, p, pg.uri, workdir, args)
        if args.rss_contacts and not args.quick and args.rss_contacts not in {n for n, _ in sizes}:
            # the large variant at the smallest P: RSS growth, the floor ratio at scale, and the
            # incremental calls at 100k (no naive baselines: they take minutes at this size)
            reduced = argparse.Namespace(**{**vars(args), "no_baseline": True})
            rows += bench_size(args.rss_contacts, min(p for _, p in sizes), pg.uri, workdir, reduced)
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    table = markdown(rows)
    extra = derived(rows)
    print(table)
    print()
    print("```json\n" + json.dumps(extra, indent=2) + "\n```")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "generated_at": datetime.now(UTC).isoformat(),
                "host": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "machine": platform.machine(),
                },
                "args": vars(args),
                "total_wall_s": round(time.perf_counter() - started, 1),
                "scenarios": rows,
                "derived": extra,
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
