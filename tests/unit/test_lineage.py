"""The OpenLineage datasets of the operators: namespaces, names, scoring SQL tables, facets."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from hubspot_etl.operators import lineage
from hubspot_etl.operators.lineage import DatasetRef, location_from_connection, sql_tables
from hubspot_etl.scoring.sqlfiles import read_sql

#: what each scoring SQL file reads and writes (the same on every dialect)
SCORING_TABLES = {
    "tables": ([], []),
    "stage_mapping": (
        ["hs_stage_mapping", "hs_scoring_input_stages", "hs_scoring_input_companies"],
        ["hs_stage_mapping"],
    ),
    "units": (
        [
            "hs_scoring_input_companies",
            "hs_scoring_input_company_deal",
            "hs_scoring_input_deals",
            "hs_scoring_input_stages",
            "hs_stage_mapping",
            "hs_snapshot_registry",
        ],
        ["hs_pipeline_units_snapshot"],
    ),
    "history": (["hs_pipeline_units_snapshot"], ["hs_pipeline_score_history"]),
    "finish": (["hs_pipeline_units_snapshot", "hs_pipeline_score_history"], ["hs_snapshot_registry"]),
}


@pytest.mark.parametrize("dialect", ["postgres", "bigquery", "snowflake"])
@pytest.mark.parametrize("step", sorted(SCORING_TABLES))
def test_scoring_sql_files_name_the_tables_they_read_and_write(dialect, step):
    reads, writes = sql_tables(read_sql(dialect, step))
    expected_reads, expected_writes = SCORING_TABLES[step]
    assert (sorted(reads), writes) == (sorted(expected_reads), expected_writes)


def test_sql_tables_tells_reads_from_writes():
    sql = 'DELETE FROM "s"."hs_a" WHERE x IN (SELECT y FROM `p.d.hs_b`); INSERT INTO hs_a SELECT * FROM s.hs_c JOIN hs_b'
    assert sql_tables(sql) == (["hs_b", "hs_c"], ["hs_a"])


def test_namespaces_follow_the_openlineage_naming_spec():
    assert lineage.hubspot_namespace("https://api.hubapi.com") == "hubspot://api.hubapi.com"
    assert lineage.hubspot_namespace("http://127.0.0.1:8080/") == "hubspot://127.0.0.1:8080"
    pg = SimpleNamespace(host="db.internal", port=6543, schema="analytics", extra_dejson={})
    assert location_from_connection("postgres", "hubspot", pg).table("contact") == DatasetRef(
        "postgres://db.internal:6543", "analytics.hubspot.contact"
    )
    pg_default = SimpleNamespace(host="db", port=None, schema=None, extra_dejson={})
    assert location_from_connection("postgres", "h", pg_default).namespace == "postgres://db:5432"
    gcp = SimpleNamespace(host=None, port=None, schema=None, extra_dejson={"project": "from-conn"})
    assert (
        location_from_connection("bigquery", "hs", gcp, project="proj-1").table("deal").name
        == "proj-1.hs.deal"
    )
    assert location_from_connection("bigquery", "hs", gcp).table("deal").name == "from-conn.hs.deal"
    sf = SimpleNamespace(
        host=None,
        port=None,
        schema=None,
        extra_dejson={"extra__snowflake__account": "XY123", "database": "RAW"},
    )
    where = location_from_connection("snowflake", "HUBSPOT", sf)
    assert (where.namespace, where.table("contact").name) == ("snowflake://xy123", "RAW.HUBSPOT.contact")


def test_staged_parts_are_the_run_folder_under_staging_base():
    ref = lineage.staging_dataset(
        "gs://bucket/stage/", "hubspot_contacts", "manual__2026-12-07T10:00:00+00:00", 5, 2
    )
    assert ref.namespace == "gs://bucket"
    assert ref.name == "/stage/hubspot_contacts/manual__2026-12-07T10_00_00_00_00"
    assert (ref.rows, ref.files) == (5, 2)


def test_operator_lineage_carries_schema_and_statistics_facets():
    table = DatasetRef("postgres://db:5432", "d.s.contact", (("id", "bigint"), ("email", "text")), rows=7)
    source = DatasetRef("hubspot://api.hubapi.com", "contacts", rows=7)
    result = lineage.operator_lineage([source], [table])
    [inp], [out] = result.inputs, result.outputs
    assert (inp.namespace, inp.name, inp.inputFacets["inputStatistics"].rowCount) == (
        "hubspot://api.hubapi.com",
        "contacts",
        7,
    )
    assert inp.facets == {}
    assert [(f.name, f.type) for f in out.facets["schema"].fields] == [("id", "bigint"), ("email", "text")]
    assert out.outputFacets["outputStatistics"].rowCount == 7


def test_without_the_provider_there_is_no_lineage_and_no_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)
    assert lineage.provider_available() is False
    assert lineage.operator_lineage([DatasetRef("hubspot://h", "contacts")]) is None
    assert lineage.scoring_lineage(cfg=None, sql="SELECT 1") is None  # returns before reading any config


def test_scoring_operators_name_their_tables_in_the_destination(monkeypatch):
    import json

    from hubspot_etl.config import parse_config
    from hubspot_etl.operators.scoring import ScoringPrepareOperator, ScoringSqlOperator

    conn = {"conn_type": "postgres", "host": "db.internal", "port": 5433, "schema": "analytics"}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_WAREHOUSE", json.dumps(conn))
    document = {
        "objects": {"companies": {"scoring": {"enabled": True}}},
        "defaults": {"destination": {"schema": "crm"}},
    }
    cfg = parse_config(document).objects[0]
    units = ScoringSqlOperator(object_config=cfg, step="units").get_openlineage_facets_on_start()
    assert {d.namespace for d in units.inputs + units.outputs} == {"postgres://db.internal:5433"}
    assert [d.name for d in units.outputs] == ["analytics.crm.hs_pipeline_units_snapshot"]
    assert "analytics.crm.hs_stage_mapping" in [d.name for d in units.inputs]

    prepare = ScoringPrepareOperator(object_config=cfg)
    prepare._prepared = {"inputs": {"hs_scoring_input_companies": 6, "hs_scoring_input_deals": 0}}
    done = prepare.get_openlineage_facets_on_complete(None)
    assert [d.name for d in done.inputs] == [
        "analytics.crm.company",
        "analytics.crm.deal",
        "analytics.crm.deal_pipeline_stage",
    ]
    rows = {d.name: d.outputFacets.get("outputStatistics") for d in done.outputs}
    assert rows["analytics.crm.hs_scoring_input_companies"].rowCount == 6
    assert rows["analytics.crm.hs_snapshot_registry"] is None
