"""The Fivetran-style view SQL: declared once, rendered per dialect with quoted identifiers.

No database here: the dialects only render text. ``tests/fivetran`` runs the views for real.
"""

from __future__ import annotations

import pytest
from hubspot_etl.config import ConfigError, parse_config
from hubspot_etl.warehouse.base import WarehouseError
from hubspot_etl.warehouse.bigquery import BigQueryDialect
from hubspot_etl.warehouse.fivetran import (
    VIEW_NAMES,
    Catalog,
    PropertyColumn,
    declare_views,
    property_column,
    render,
    safe_literal,
    valid_portal_id,
)
from hubspot_etl.warehouse.postgres import PostgresDialect
from hubspot_etl.warehouse.snowflake import SnowflakeDialect

from tests.fivetran.expected import TABLES

HOSTILE = [
    'we"ird',
    "x'; DROP TABLE contact; --",
    "back`tick",
    "Caps",
    "caps",  # collides with Caps in Fivetran's lower case
    "hs_v2_date_entered_closedwon",
    "n" * 80,  # too long for PostgreSQL's 63-byte identifiers
]


def postgres() -> PostgresDialect:
    return PostgresDialect("hub_native", lambda: None)  # type: ignore[arg-type,return-value]


def bigquery() -> BigQueryDialect:
    return BigQueryDialect("hub_native", None, "proj-1", None, client=object())


def snowflake() -> SnowflakeDialect:
    d = SnowflakeDialect("hub_native", lambda: None)
    d._database = "DB"  # asked of the connection otherwise
    return d


def catalog(**kw) -> Catalog:
    props = [PropertyColumn(p, f"col_{i}", "text") for i, p in enumerate(HOSTILE)]
    props.append(PropertyColumn("hubspot_owner_id", "hubspot_owner_id", "text"))
    props.append(PropertyColumn("amount", "amount", "numeric"))
    return Catalog(
        {"deal", "contact", "call", "email", "deal_stage_history", "owner", "owner_team"},
        properties={"deal": props, "contact": props, "email": props},
        objects={"deals": "deal", "contacts": "contact"},
        portal_id=kw.get("portal_id", 4242),
    )


def view(d, name: str, c: Catalog | None = None):
    return next(v for v in declare_views(d, c or catalog()) if v.name == name)


def test_every_fivetran_table_is_declared_once() -> None:
    names = [v.name for v in declare_views(postgres(), catalog())]
    assert sorted(names) == sorted(TABLES) and len(set(names)) == len(names)
    assert tuple(names) == VIEW_NAMES


def test_declared_columns_have_the_fivetran_names_and_types() -> None:
    deal = dict(view(postgres(), "deal").columns)
    assert deal["deal_id"] == deal["owner_id"] == deal["portal_id"] == "bigint"
    assert deal["deal_pipeline_id"] == deal["deal_pipeline_stage_id"] == "text"
    assert deal["_fivetran_deleted"] == deal["is_deleted"] == "boolean"
    assert deal["property_dealname"] == "text" and deal["property_amount"] == "numeric"  # NULL: not synced
    for name, columns in TABLES.items():
        declared = dict(view(postgres(), name).columns)
        assert set(columns) <= set(declared), (name, set(columns) - set(declared))


def test_property_columns_follow_fivetran_naming() -> None:
    assert property_column("dealname") == "property_dealname"
    assert property_column("hs_merged_object_ids") == "property_hs_merged_object_ids"
    assert property_column("address2") == "property_address_2"
    assert property_column("hs_v2_date_entered") == "property_hs_v_2_date_entered"
    assert property_column("myCamelCase") == "property_my_camel_case"


def test_hostile_property_names_are_quoted_on_postgres() -> None:
    sql = render(postgres(), view(postgres(), "deal"))
    assert '"col_0" AS "property_we""ird"' in sql
    assert '"col_1" AS "property_x\'; drop table contact; --"' in sql
    assert 'AS "property_back`tick"' in sql
    # the one of Caps/caps that comes first keeps the name; the other is left out, not duplicated
    assert sql.count('"property_caps"') == 1
    assert '"property_hs_v_2_date_entered_closedwon"' in sql
    assert "n" * 80 not in sql  # longer than 63 bytes: left out, never truncated into a duplicate
    assert 'FROM "hub_native"."deal"' in sql


def test_hostile_property_names_on_snowflake_are_quoted_upper_case() -> None:
    sql = render(snowflake(), view(snowflake(), "deal"))
    assert '"COL_0" AS "PROPERTY_WE""IRD"' in sql
    assert 'FROM "DB"."HUB_NATIVE"."DEAL"' in sql
    assert "N" * 80 in sql  # Snowflake names may be 255 characters long


def test_bigquery_leaves_out_names_it_cannot_carry() -> None:
    sql = render(bigquery(), view(bigquery(), "deal"))
    assert "`col_0`" not in sql and "`col_1`" not in sql and "`col_2`" not in sql
    assert "`property_caps`" in sql and "`property_hs_v_2_date_entered_closedwon`" in sql
    assert "FROM `proj-1.hub_native.deal`" in sql


@pytest.mark.parametrize("make", [postgres, bigquery, snowflake])
def test_text_ids_become_bigints_through_the_dialect(make) -> None:
    d = make()
    sql = render(d, view(d, "deal"))
    owner = d.text_to_bigint(d.quote("hubspot_owner_id"))
    assert f"{owner} AS {d.quote('owner_id')}" in sql
    assert f"{owner} AS {d.quote('property_hubspot_owner_id')}" in sql
    assert f"{d.cast('4242', 'bigint')} AS {d.quote('portal_id')}" in sql


@pytest.mark.parametrize("make", [postgres, bigquery, snowflake])
def test_missing_native_tables_become_empty_views_with_the_same_columns(make) -> None:
    d = make()
    company = view(d, "company")
    sql = render(d, company)
    assert "FROM" not in sql.split(" LIMIT ")[0] or d.name == "bigquery"
    assert f"CAST(NULL AS {d.type_sql('bigint')}) AS {d.quote('id')}" in sql
    assert [c for c, _ in company.columns][:4] == [
        "_fivetran_synced",
        "_fivetran_deleted",
        "is_deleted",
        "id",
    ]


def test_engagement_unions_the_engagement_tables_that_exist() -> None:
    d = postgres()
    sql = render(d, view(d, "engagement"))
    assert sql.count(" UNION ALL ") == 1  # call and email exist in the catalog
    assert "'CALL' AS \"type\"" in sql
    assert "UPPER(COALESCE(CAST(NULL AS text), 'EMAIL')) AS \"type\"" in sql  # no hs_email_direction column


def test_deal_stage_ends_the_open_row_in_the_far_future() -> None:
    for d in (postgres(), bigquery(), snowflake()):
        sql = render(d, view(d, "deal_stage"))
        assert (
            f"COALESCE({d.quote('left_at')}, {d.cast(safe_literal('9999-12-31 23:59:59.999+00:00'), 'timestamp')})"
            in sql
        )


def test_literals_and_portal_ids_are_checked_before_they_enter_sql() -> None:
    assert safe_literal("contacts") == "'contacts'"
    for bad in ("it's", "back\\slash", "new\nline", "x" * 300):
        with pytest.raises(WarehouseError):
            safe_literal(bad)
    assert valid_portal_id("12345678") == valid_portal_id(12345678) == 12345678
    for bad in ("12; DROP TABLE x", True, -1, 0, "1e3", "", None, "١٢٣", 2**63):
        with pytest.raises(ValueError):
            valid_portal_id(bad)
    sql = render(postgres(), view(postgres(), "deal", catalog(portal_id=None)))
    assert 'CAST(NULL AS bigint) AS "portal_id"' in sql


def test_schema_style_config() -> None:
    def destination(**d):
        return (
            parse_config({"objects": {"contacts": {}}, "defaults": {"destination": d}}).objects[0].destination
        )

    native = destination(schema="crm")
    assert (native.schema_style, native.tables_schema, native.fivetran_schema) == ("native", "crm", None)
    styled = destination(schema="crm", schema_style="fivetran")
    assert (styled.tables_schema, styled.fivetran_schema) == ("crm_native", "crm")
    assert destination(schema="crm", schema_style="fivetran", native_schema="raw").tables_schema == "raw"
    for bad, message in (
        ({"schema_style": "dbt"}, "schema_style"),
        ({"native_schema": "raw"}, "applies only with schema_style: fivetran"),
        ({"schema_style": "fivetran", "native_schema": "CRM"}, "must differ from schema"),
        ({"schema_style": "fivetran", "native_schema": "raw-1"}, "letters, digits and underscores"),
        ({"schema_style": "fivetran", "schema": "s" * 60}, "longer than 63"),
    ):
        with pytest.raises(ConfigError, match=message):
            destination(**{"schema": "crm", **bad})
