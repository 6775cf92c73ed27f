"""Sync modes and trigger params through real Airflow runs: dry_run, limit, schema evolution,
very wide objects, and a bad config failing the DAG file with the key named."""

from __future__ import annotations

import psycopg
import pytest
from hubspot_devtools import local


def count_rows(env, table: str) -> int:
    with psycopg.connect(env.pg.uri) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{env.schema}"."{table}"']).fetchone()[
            0
        ]
        if not exists:
            return 0
        return conn.execute(f'SELECT count(*) FROM "{env.schema}"."{table}"').fetchone()[0]


def schema_exists(env) -> bool:
    with psycopg.connect(env.pg.uri) as conn:
        return (
            conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [env.schema]).fetchone()[0]
            == 1
        )


def test_dry_run_extracts_and_reports_but_writes_nothing(sync_env):
    dag_run = sync_env.run("hubspot_deals", dry_run=True)
    report = sync_env.report(dag_run)
    live_deals = [r for r in sync_env.snapshot("deals")["records"] if not r.get("archived")]
    assert report["records_fetched"] == len(live_deals)
    assert report["records_upserted"] == 0
    assert report["mode"].endswith("(dry run)")
    assert not schema_exists(sync_env), "dry_run must not create anything in the warehouse"


def test_limit_is_honoured_and_does_not_advance_or_purge(sync_env):
    report = sync_env.report(sync_env.run("hubspot_contacts", limit=25))
    assert report["records_fetched"] == 25
    assert count_rows(sync_env, "contact") >= 25
    assert report["complete"] is False
    assert report["watermark"] is None, "a limited run must not move the watermark past unloaded data"
    # the next (unlimited) run is still a full load and gets everything
    report = sync_env.report(sync_env.run("hubspot_contacts"))
    assert report["mode"] == "full"
    live = [r for r in sync_env.snapshot("contacts")["records"] if not r.get("archived")]
    assert report["records_fetched"] == len(live)


def test_schema_evolution_adds_columns_and_widens_types(sync_env):
    sync_env.write_config({"deals": {}})
    sync_env.run("hubspot_deals")
    deal_id = next(int(r["id"]) for r in sync_env.snapshot("deals")["records"] if not r.get("archived"))
    sync_env.admin(
        "POST",
        "properties/deals",
        {"name": "renewal_score", "label": "Renewal score", "type": "number", "fieldType": "number"},
    )
    sync_env.admin("PATCH", f"objects/deals/{deal_id}", {"properties": {"renewal_score": "7.5"}})
    report = sync_env.report(sync_env.run("hubspot_deals"))
    assert report["mode"] == "incremental"
    assert report["schema_changes"]["added"] >= 1
    rows = {r["id"]: r for r in sync_env.view.rows("deal")}
    assert str(rows[deal_id]["renewal_score"]) == "7.5"

    # HubSpot changes the property's type to string: the column is widened, values keep loading
    sync_env.sandbox.portal.object_type("deals").properties["renewal_score"]["type"] = "string"
    sync_env.admin("PATCH", f"objects/deals/{deal_id}", {"properties": {"renewal_score": "high"}})
    report = sync_env.report(sync_env.run("hubspot_deals"))
    assert report["schema_changes"]["widened"] >= 1
    assert report["rejects"] == 0
    rows = {r["id"]: r for r in sync_env.view.rows("deal")}
    assert rows[deal_id]["renewal_score"] == "high"
    changes = [
        r for r in sync_env.view.rows("_hubspot_schema_changes") if r["property_name"] == "renewal_score"
    ]
    assert {c["change"] for c in changes} >= {"column_added", "column_widened"} or len(changes) >= 2


@pytest.mark.portal(contacts=60, companies=10, deals=10, tickets=5, custom=5, extra_properties=0)
def test_1700_properties_and_colliding_long_names(sync_env):
    portal = sync_env.sandbox.portal
    long_prefix = "a_very_long_custom_property_name_that_goes_past_the_postgres_limit_"
    names = [f"{long_prefix}{i:04d}" for i in range(1700)]
    for name in names:
        portal.add_property("contacts", {"name": name, "label": name, "type": "string", "fieldType": "text"})
    contact_ids = [int(r["id"]) for r in sync_env.snapshot("contacts")["records"] if not r.get("archived")][
        :3
    ]
    for contact_id in contact_ids:
        portal.update("contacts", contact_id, {name: f"v{contact_id}-{name[-4:]}" for name in names})
    sync_env.write_config({"contacts": {}})
    report = sync_env.report(sync_env.run("hubspot_contacts"))
    assert report["columns_spilled"] > 0
    mapping = sync_env.view.column_map("contacts")
    columns = [mapping[n]["column_name"] for n in names if not mapping[n]["spilled"]]
    assert len(set(columns)) == len(columns), "truncated names collided"
    assert all(len(c.encode()) <= 63 for c in columns)
    rows = {r["id"]: r for r in sync_env.view.rows("contact")}
    for contact_id in contact_ids:
        row = rows[contact_id]
        for name in (names[0], names[-1]):
            spec = mapping[name]
            # a value is in its column, or (spilled column, or row too wide for a page) in _extra_properties
            column_value = None if spec["spilled"] else row[spec["column_name"]]
            value = column_value if column_value is not None else (row["_extra_properties"] or {}).get(name)
            assert value == f"v{contact_id}-{name[-4:]}"
    assert report["records_fetched"] == len(rows) - sum(1 for r in rows.values() if r["_is_deleted"])


def test_bad_config_fails_dag_parsing_with_the_key_named(sync_env):
    sync_env.config_path.write_text("objects:\n  deals:\n    destination: {type: redshift}\n")
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=str(local.DAGS_FOLDER), bundle_path=local.DAGS_FOLDER)
    errors = "\n".join(bag.import_errors.values())
    assert "objects.deals.destination.type" in errors
    assert "postgres" in errors and "bigquery" in errors


def test_staged_parts_are_removed_after_a_successful_run(sync_env):
    sync_env.write_config({"deals": {}})
    sync_env.run("hubspot_deals")
    assert sync_env.staging.exists()
    assert not list(sync_env.staging.rglob("*.ndjson")), "finalize must remove the run's staged parts"
    sync_env.write_config({"deals": {}}, keep_staged_files=True)
    sync_env.run("hubspot_deals", full_load=True)
    assert list(sync_env.staging.rglob("*.ndjson"))
