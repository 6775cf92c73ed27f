"""Benchmark: the API-call cost of a full load through HubSpot's Exports API, at N contacts.

    .venv/bin/python -m bench.export_cost [--contacts 1000000] [--poll-s 5]
                                          [--out bench/results/export_cost.json]

A generated sandbox portal of N contacts (companies N/10 and 10 deals associated, as in
``bench.run``; 20 contact properties) is served over HTTP in this process. The client side is
the product's own code (:mod:`hubspot_etl.hooks.exports` through a ``HubSpotHook``): read the
property list, start an export of every property with the contacts' companies and deals,
poll its status every ``--poll-s`` seconds (5; the product's ``export_poll_seconds`` default
is 30, i.e. fewer polls), download the file(s) and parse every record. The
hook's counters give the calls; the signed download is counted too, though it is no API call.

The list path's calls for the same portal are not run at 1M: they are ``bench.run``'s
:func:`~bench.run.minimum_calls` for a full load (``ceil(N/100)`` list pages x k property URLs,
association batch reads ``ceil(N/1000)`` per target, properties and schemas). Nothing here
asserts a time; the harness prints a Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from hubspot_etl.hooks import exports  # noqa: E402
from hubspot_etl.hooks.hubspot import HubSpotHook  # noqa: E402
from hubspot_sandbox import generate_portal  # noqa: E402

from bench.run import ASSOCIATIONS, OBJECT, TOKEN, TimedSandbox, minimum_calls  # noqa: E402

EXTRA_PROPERTIES = 0  # the 20 base contact properties: 20 exported columns
GOAL_SHARE = 0.01


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build_portal(n: int) -> Any:
    return generate_portal(
        seed=7,
        contacts=n,
        companies=max(10, n // 10),
        deals=10,
        tickets=0,
        custom=0,
        extra_properties=EXTRA_PROPERTIES,
    )


def run_export(host: str, poll_s: float, workdir: Path) -> dict[str, Any]:
    """The export path, client side: its calls by endpoint, timings and what it parsed."""
    hook = HubSpotHook.from_params(TOKEN, host=host)
    props = sorted(p["name"] for p in hook.get_properties(OBJECT))
    started = time.perf_counter()
    task = exports.start_export(hook, OBJECT, props, ASSOCIATIONS, name="bench export")
    status = exports.export_status(hook, task)
    while not (status.done or status.failed):
        time.sleep(poll_s)
        status = exports.export_status(hook, task)
    built = time.perf_counter()
    if not status.done or status.download_url is None:
        raise RuntimeError(f"export ended {status.state}: {status.message}")
    paths = exports.download_export(status.download_url, workdir)
    downloaded = time.perf_counter()
    records = capped = 0
    first: dict[str, Any] | None = None
    for page in exports.iter_export_records(paths, props, ASSOCIATIONS, object_type=OBJECT):
        first = first or page[0]
        records += len(page)
        capped += sum(1 for r in page if r["associations_capped"])
    parsed = time.perf_counter()
    calls = dict(hook.stats.calls)
    calls["exports.download"] = 1
    return {
        "properties": props,
        "calls": calls,
        "total_calls": sum(calls.values()),
        "polls": calls.get("exports.status", 0),
        "records": records,
        "capped_rows": capped,
        "files": len(paths),
        "file_bytes": sum(p.stat().st_size for p in paths),
        "first_record": first,
        "export_build_s": round(built - started, 2),
        "download_s": round(downloaded - built, 2),
        "parse_s": round(parsed - downloaded, 2),
    }


def first_listed(server: Any, props: list[str]) -> dict[str, Any]:
    """The list API's first record (read from the portal directly: no API call is counted)."""
    (record,), _ = server.portal.list_records(OBJECT, limit=1, properties=props)
    return record


def measure(n: int, poll_s: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    portal = build_portal(n)
    generated_s = time.perf_counter() - t0
    live = sum(1 for r in portal.object_type(OBJECT).records.values() if r.visible)
    archived = sum(1 for r in portal.object_type(OBJECT).records.values() if r.archived)
    sandbox = TimedSandbox(portal)
    sandbox.server.config.export_daily_limit = None
    with sandbox.server, tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        result = run_export(sandbox.server.url, poll_s, Path(tmp))
        listed = first_listed(sandbox.server, result["properties"])
        served = sandbox.snapshot()
    first = dict(result.pop("first_record") or {})
    first.pop("associations", None)
    first.pop("associations_capped", None)
    list_path = minimum_calls("full", live, archived, live, result["properties"])
    return {
        "contacts": n,
        "live": live,
        "archived": archived,
        "generate_s": round(generated_s, 1),
        **result,
        "first_record_matches_list_api": first == listed,
        "list_path_calls": list_path,
        "sandbox": served,
        "peak_rss_mb": peak_rss_mb(),
    }


def rows_for(m: dict[str, Any]) -> list[dict[str, Any]]:
    export_calls, list_calls = m["total_calls"], m["list_path_calls"]["total"]
    share = export_calls / list_calls if list_calls else 0.0
    seconds = m["download_s"] + m["parse_s"]
    rate = m["records"] / seconds if seconds else 0.0
    n = f"{m['contacts']:,}"
    return [
        {
            "target": f"export calls at {n} contacts ≤ 1% of the list path's",
            "measured": f"{export_calls} calls vs {list_calls} ({100 * share:.3f}%)",
            "goal": "≤ 1%",
            "met": share <= GOAL_SHARE,
            "note": (
                f"export: {json.dumps(m['calls'], sort_keys=True)} ({m['polls']} polls every "
                f"{m['poll_s']} s while the sandbox built it in {m['export_build_s']} s); list path = "
                f"bench.run.minimum_calls: {json.dumps(m['list_path_calls']['general'], sort_keys=True)}"
            ),
        },
        {
            "target": f"download + parse of {n} contacts (wall time, records/s)",
            "measured": (
                f"{m['records']:,} records in {seconds:.1f} s ({rate:,.0f} records/s; download "
                f"{m['download_s']} s, parse {m['parse_s']} s; {m['files']} file(s), "
                f"{m['file_bytes'] / 1e6:.0f} MB)"
            ),
            "goal": "reported (no target)",
            "met": m["records"] == m["live"] and m["first_record_matches_list_api"],
            "note": (
                f"met = every live record parsed and the first equals the list API's; "
                f"{m['capped_rows']} rows at the association cap; peak RSS {m['peak_rss_mb']} MB "
                f"(sandbox, portal and client in one process)"
            ),
        },
    ]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]
    lines += [
        f"| {r['target']} | {r['measured']} | {r['goal']} | {'yes' if r['met'] else 'NO'} |" for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument(
        "--poll-s", type=float, default=5.0, help="seconds between status polls (export_poll_seconds: 30)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "export_cost.json")
    args = parser.parse_args(argv)
    measured = measure(args.contacts, args.poll_s)
    measured["poll_s"] = args.poll_s
    measured.pop("properties", None)
    rows = rows_for(measured)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "measurement": measured}, indent=2, default=str) + "\n")
    print(markdown(rows))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
