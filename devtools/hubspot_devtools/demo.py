"""The main job on embedded defaults: sandbox + embedded PostgreSQL + real Airflow runs.

    python -m hubspot_devtools.demo [--records 2000] [--seed 1] [--keep] [--schema-style fivetran]

1. starts an embedded PostgreSQL (``.local/demo/pg``; or, with ``--warehouse bigquery``, a
   local BigQuery emulator) and the HubSpot sandbox with a
   generated portal (contacts, companies, deals, tickets, a custom object, owners);
2. runs every generated DAG through Airflow (``dag.test()``): full loads;
3. mutates the sandbox: updates, a new record, archives, a merge, an association change;
4. runs every DAG again: incremental;
5. prints each object's run report, full and incremental, and the companies' score history.

With ``--schema-style fivetran`` the destination is ``schema_style: fivetran``: the sync's own
tables go to ``hubspot_native`` and ``hubspot`` holds Fivetran's HubSpot tables as views (the
schema ``fivetran/dbt_hubspot`` reads; docs/fivetran.md); the demo then also syncs the engagement
families the sandbox models and the property and deal-stage history, and prints the views' row
counts.

The terminal shows the demo's progress lines, the run-report tables and the score history;
Airflow's own output (task logs, dag.test chatter) goes to ``.local/demo/airflow.log``, or to
the terminal as well with ``--verbose``. Needs no Docker and no accounts; ``scripts/demo.sh``
creates the virtualenv first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import requests

from hubspot_devtools import local

ENGAGEMENT_FAMILIES = ("calls", "emails", "meetings", "notes", "tasks", "communications")
#: what the shipped dags/hubspot_sync.yaml turns on: the CRM objects, the engagements and line
#: items, deal-stage history (plus the sandbox's custom object)
OBJECTS: dict[str, Any] = {
    "contacts": {"associations": ["companies", "deals"]},
    "companies": {"associations": ["contacts", "deals"], "scoring": {"enabled": True}},
    "deals": {"associations": ["companies", "contacts"], "history": ["dealstage", "amount", "closedate"]},
    "tickets": {"associations": ["contacts"]},
    # the sandbox's custom object; a bare "services" would also mean HubSpot's Services (0-162)
    "services": {"object_type": "p12345678_services", "associations": ["contacts"]},
    **{family: {"associations": ["contacts", "companies", "deals"]} for family in ENGAGEMENT_FAMILIES},
    "line_items": {"associations": ["deals"]},
}
TOKEN = "demo-sandbox-token"
REPORT_COLUMNS = (
    ("object", "object_name"),
    ("mode", "mode"),
    ("status", "status"),
    ("seconds", "duration_s"),
    ("fetched", "records_fetched"),
    ("upserted", "records_upserted"),
    ("changed", "records_changed"),
    ("rejects", "rejects"),
    ("api calls", "api_calls"),
    ("splits", "search_splits"),
    ("associations", "associations"),
    ("deletes", "deletes"),
    ("schema changes", "schema_changes"),
)


#: where :func:`say` writes: the terminal, even while Airflow's output goes to the log file
_terminal: TextIO = sys.stdout


def say(text: str = "") -> None:
    """One line of the demo's own output."""
    _terminal.write(text + "\n")
    _terminal.flush()


class Console:
    """The demo's own lines go to the terminal; Airflow's output goes to a log file.

    Redirection is at the file-descriptor level, so task logs written by Airflow's structlog,
    warnings and child processes all land in the file, unless ``verbose``.
    """

    def __init__(self, log_path: Path, verbose: bool) -> None:
        global _terminal
        self.log_path, self.verbose = log_path, verbose
        sys.stdout.flush()
        _terminal = os.fdopen(os.dup(1), "w", buffering=1)

    @contextlib.contextmanager
    def airflow_output(self) -> Iterator[None]:
        if self.verbose:
            yield
            return
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        with open(self.log_path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    workdir = local.REPO_ROOT / ".local" / "demo"
    if workdir.exists() and not args.keep:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    console = Console(workdir / "airflow.log", args.verbose)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(workdir))  # else platformdirs warns at PostgreSQL start

    from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal

    sizes = _portal_sizes(args)
    objects = demo_objects(args.schema_style)
    say(f"demo: generating a portal ({sizes}, seed {args.seed}) and starting the sandbox")
    portal = generate_portal(seed=args.seed, extra_properties=args.extra_properties, owners=12, **sizes)
    sandbox_config = SandboxConfig(tokens={TOKEN: list(ALL_SCOPES)}, latency_ms=args.latency_ms)
    say("demo: starting an embedded PostgreSQL")
    pg = local.start_postgres(workdir / "pg")
    bq = None
    destination: dict[str, Any] = {"type": "postgres", "conn_id": "hubspot_warehouse", "schema": "hubspot"}
    style = {"schema_style": args.schema_style}
    warehouse_conn = pg.airflow_connection()
    if args.warehouse == "bigquery":
        from hubspot_devtools.bigquery_emulator import start_bq_emulator

        say("demo: starting the BigQuery emulator (bqemulator)")
        bq = start_bq_emulator(workdir)
        destination = {
            "type": "bigquery",
            "conn_id": "hubspot_warehouse",
            "schema": "hubspot",
            "project": bq.project,
        }
        warehouse_conn = bq.airflow_connection()
    sf = None
    if args.warehouse == "snowflake":
        from hubspot_devtools.snowflake_emulator import start_snowflake_emulator

        say("demo: starting the Snowflake emulator (fakesnow)")
        sf = start_snowflake_emulator(workdir / "snowflake")
        os.environ.update(sf.env())
        sf.create_database("HUBSPOT_DEMO")
        destination = {"type": "snowflake", "conn_id": "hubspot_warehouse", "schema": "hubspot"}
        warehouse_conn = sf.airflow_connection(database="HUBSPOT_DEMO")
    with SandboxServer(portal, sandbox_config) as sandbox:
        config_path = local.write_sync_config(
            workdir / "hubspot_sync.yaml",
            objects,
            {
                "destination": {**destination, **style},
                "staging_base": f"file://{workdir / 'staging'}",
                "schedule": None,
                "full_refresh_schedule": None,
                "retries": 0,
                "lookback_minutes": 1,
            },
        )
        env = local.airflow_environment(
            workdir / "airflow",
            config_path,
            local.hubspot_connection(sandbox.url, TOKEN),
            warehouse_conn,
        )
        os.environ.update(env)
        (workdir / "airflow").mkdir(exist_ok=True)
        say("demo: migrating the Airflow metadata DB (SQLite)")
        with console.airflow_output():
            local.migrate_airflow_db(env)

        # companies score last: their scoring reads fresh deals and owners
        dag_ids = [
            "hubspot_owners",
            "hubspot_deals",
            "hubspot_contacts",
            "hubspot_tickets",
            "hubspot_services",
        ]
        dag_ids += [
            f"hubspot_{key}" for key in objects if f"hubspot_{key}" not in (*dag_ids, "hubspot_companies")
        ]
        dag_ids.append("hubspot_companies")
        full = _run_all(dag_ids, "full", console)
        _mutate(sandbox.url)
        incremental = _run_all(dag_ids, "incremental", console)
        _print_reports("Full run", full)
        _print_reports("Incremental run", incremental)
        native = "hubspot_native" if args.schema_style == "fivetran" else "hubspot"
        _print_score_history(_demo_view(bq, sf, pg.uri, native))
        if args.schema_style == "fivetran":
            _print_fivetran_views(_demo_view(bq, sf, pg.uri, "hubspot"))
        _print_healthcheck(console)
        where = (
            f"BigQuery emulator {bq.url}, dataset {bq.project}.hubspot"
            if bq
            else f"Snowflake emulator localhost:{sf.port}, HUBSPOT_DEMO.HUBSPOT"
            if sf
            else f"{pg.uri} (schema hubspot)"
        )
        if args.schema_style == "fivetran":
            where += " (Fivetran-style views; the sync's own tables in hubspot_native)"
        say(f"\nwarehouse: {where}; staged parts under {workdir / 'staging'}")
        (workdir / "reports.json").write_text(
            json.dumps({"full": full, "incremental": incremental}, indent=2, default=str)
        )
        say(f"reports written to {workdir / 'reports.json'}")
        if not args.verbose:
            say(f"Airflow's own output (task logs): {console.log_path} (--verbose shows it here)")
    with console.airflow_output():
        if bq:
            bq.stop()
        if sf:
            sf.stop()
        pg.stop()
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--records", type=int, default=2000, help="contacts in the generated portal (others scale)"
    )
    parser.add_argument(
        "--per-object", type=int, default=None, help="the same number of records for every object"
    )
    parser.add_argument("--extra-properties", type=int, default=20, help="custom properties per object")
    parser.add_argument(
        "--warehouse",
        choices=("postgres", "bigquery", "snowflake"),
        default="postgres",
        help="postgres: embedded PostgreSQL; bigquery: a local BigQuery emulator (bqemulator); "
        "snowflake: a local Snowflake emulator (fakesnow)",
    )
    parser.add_argument(
        "--schema-style",
        choices=("native", "fivetran"),
        default="native",
        help="native: the sync's own tables in schema hubspot; fivetran: Fivetran's HubSpot tables as "
        "views in hubspot, the sync's tables in hubspot_native (docs/fivetran.md)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=int, default=0, help="sandbox latency per request")
    parser.add_argument("--keep", action="store_true", help="keep .local/demo from a previous run")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Airflow's own output here too (default: .local/demo/airflow.log)",
    )
    return parser.parse_args(argv)


def _portal_sizes(args: argparse.Namespace) -> dict[str, int]:
    """Records per object: ``--per-object`` of each, or proportions of ``--records`` contacts."""
    families = [*ENGAGEMENT_FAMILIES, "line_items", "products"]
    if args.per_object:
        n = args.per_object
        return {"contacts": n, "companies": n, "deals": n, "tickets": n, "custom": n} | dict.fromkeys(
            families, n
        )
    n = args.records
    return {
        "contacts": n,
        "companies": max(n // 5, 10),
        "deals": max(n * 3 // 10, 10),
        "tickets": max(n // 10, 10),
        "custom": max(n // 20, 10),
        "line_items": max(n // 5, 10),
        "products": 10,
    } | dict.fromkeys(ENGAGEMENT_FAMILIES, max(n // 10, 10))


def _run_all(dag_ids: list[str], label: str, console: Console) -> dict[str, dict[str, Any]]:
    reports = {}
    for dag_id in dag_ids:
        started = time.monotonic()
        with console.airflow_output():
            dag_run = local.run_dag(dag_id)
        state = str(getattr(dag_run.state, "value", dag_run.state))
        task_id = "sync_owners" if dag_id == "hubspot_owners" else "finalize"
        report = local.xcom_result(dag_run, task_id) or {}
        say(f"demo: {label} {dag_id}: {state} in {time.monotonic() - started:.1f}s")
        if state != "success":
            raise SystemExit(
                f"demo: {dag_id} failed: {local.task_states(dag_run)}; the task logs are in {console.log_path}"
            )
        reports[dag_id] = report
    return reports


def _mutate(url: str) -> None:
    """Updates, a new record, archives, a merge and an association change."""
    admin = f"{url}/_sandbox"

    def call(method: str, path: str, payload: Any = None) -> Any:
        response = requests.request(method, f"{admin}/{path}", json=payload, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    contacts = [r for r in call("GET", "state/contacts")["records"] if not r.get("archived")]
    companies = [r for r in call("GET", "state/companies")["records"] if not r.get("archived")]
    deals = [r for r in call("GET", "state/deals")["records"] if not r.get("archived")]
    ids = [r["id"] for r in contacts]
    for contact_id in ids[:20]:
        call("PATCH", f"objects/contacts/{contact_id}", {"properties": {"jobtitle": "Head of Demo"}})
    for deal in deals[:10]:
        call("PATCH", f"objects/deals/{deal['id']}", {"properties": {"amount": "4200"}})
    call("POST", "objects/contacts", {"properties": {"email": "demo.new@example.com", "firstname": "Demo"}})
    call("DELETE", f"objects/contacts/{ids[20]}")
    call("DELETE", f"objects/companies/{companies[0]['id']}")
    call("POST", "objects/contacts/merge", {"primaryObjectId": ids[21], "objectIdToMerge": ids[22]})
    call("PUT", f"associations/contacts/{ids[23]}/companies/{companies[1]['id']}")
    call("PATCH", f"objects/contacts/{ids[23]}", {"properties": {"jobtitle": "Champion"}})
    say(
        "demo: mutated the sandbox: 20 contact updates, 10 deal updates, 1 new contact, 2 archives, 1 merge, 1 association"
    )


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        if "total_calls" in value:
            value = {k: v for k, v in value.items() if k == "total_calls"}
        return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (0, None, [], {})) or "-"
    return str(value)


def _demo_view(bq: Any, sf: Any, pg_uri: str, schema: str = "hubspot") -> Any:
    from hubspot_devtools.views import BigQueryView, SnowflakeView, WarehouseView

    if bq:
        return BigQueryView(bq.client(), schema)
    if sf:
        return SnowflakeView(lambda: sf.connect(database="HUBSPOT_DEMO"), schema)
    return WarehouseView(pg_uri, schema)


def demo_objects(schema_style: str) -> dict[str, Any]:
    """The objects the demo syncs; in fivetran style also the property history of contacts and
    companies, so that every Fivetran table has rows."""
    objects = json.loads(json.dumps(OBJECTS))
    if schema_style == "fivetran":
        objects["deals"]["history"] = ["dealstage", "amount", "dealname", "closedate"]
        objects["contacts"]["history"] = ["lifecyclestage", "email", "firstname", "lastname"]
        objects["companies"]["history"] = ["name", "industry", "annualrevenue"]
    return objects


def _print_fivetran_views(view: Any) -> None:
    """Row counts of the Fivetran-style views (what fivetran/dbt_hubspot reads)."""
    from hubspot_etl.warehouse.fivetran import VIEW_NAMES

    say("\n## Fivetran-style schema (schema_style: fivetran)\n")
    say("| table | rows |")
    say("|---|---|")
    for name in VIEW_NAMES:
        say(f"| {name} | {len(view.rows(name))} |")


def _print_score_history(view: Any) -> None:
    from hubspot_devtools.score_report import score_history_table

    say("\n## Score history (hs_pipeline_score_history, companies)\n")
    say(score_history_table(view))


def _print_healthcheck(console: Console) -> None:
    """Run ``hubspot_healthcheck`` (what a deployment runs first) and print its table."""
    with console.airflow_output():
        dag_run = local.run_dag("hubspot_healthcheck")
    report = local.xcom_result(dag_run, "report") or {}
    state = str(getattr(dag_run.state, "value", dag_run.state))
    say(f"\n## Health check (hubspot_healthcheck: {state})\n")
    say(report.get("table") or f"no report; the task logs are in {console.log_path}")


def _print_reports(title: str, reports: dict[str, dict[str, Any]]) -> None:
    say(f"\n## {title}\n")
    say("| " + " | ".join(name for name, _ in REPORT_COLUMNS) + " |")
    say("|" + "---|" * len(REPORT_COLUMNS))
    for report in reports.values():
        say("| " + " | ".join(_cell(report.get(key, "")) for _, key in REPORT_COLUMNS) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
