"""BigQueryWarehouse on the BigQuery emulator: tables, schema evolution, loading parts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from google.cloud import bigquery
from hubspot_etl.warehouse.base import PartFormatError, WarehouseError
from hubspot_etl.warehouse.bigquery import BigQueryWarehouse, ident

from tests.support.records import prop, record

PROPS = [
    prop("email"),
    prop("amount", "number"),
    prop("closedate", "datetime"),
    prop("birthday", "date"),
    prop("is_vip", "bool"),
    prop("stage", "enumeration"),
]

METADATA = {
    "_hubspot_column_map",
    "property_definition",
    "_hubspot_schema_changes",
    "_hubspot_loaded_parts",
    "_hubspot_sync_state",
    "_hubspot_run_report",
    "_hubspot_association_tables",
    "_hubspot_locks",
    "owner",
}


def schema(client: bigquery.Client, dataset: str, table: str) -> dict[str, str]:
    """``column -> type`` as get_table() reports it."""
    return {f.name: f.field_type for f in client.get_table(f"{client.project}.{dataset}.{table}").schema}


def test_ensure_schema_is_idempotent(bq_wh: BigQueryWarehouse, bq_client, dataset_name) -> None:
    assert bq_wh.exists()
    bq_wh.ensure_schema()
    tables = {t.table_id for t in bq_client.list_tables(dataset_name)}
    assert METADATA <= tables


def test_exists_false_before_ensure_and_constructor(bq_client, dataset_name) -> None:
    assert not BigQueryWarehouse(dataset_name, client=bq_client).exists()
    with pytest.raises(ValueError):
        BigQueryWarehouse(dataset_name)
    with pytest.raises(ValueError):
        BigQueryWarehouse("bad-name; DROP", client=bq_client)
    with pytest.raises(WarehouseError):
        ident("a`b")
    with pytest.raises(WarehouseError):
        ident("_PARTITIONTIME")


def test_create_table_typed_columns(bq_wh: BigQueryWarehouse, bq_client, dataset_name, bq_query) -> None:
    summary = bq_wh.ensure_object_table("contacts", PROPS)
    assert summary.created and summary.added == 6 and summary.widened == 0 and summary.spilled == 0
    cols = schema(bq_client, dataset_name, "contact")
    assert cols["id"] == "INTEGER"
    assert cols["amount"] in ("BIGNUMERIC", "NUMERIC")  # the emulator reports BIGNUMERIC as NUMERIC
    assert cols["closedate"] == "TIMESTAMP" and cols["birthday"] == "DATE"
    assert cols["is_vip"] == "BOOLEAN" and cols["email"] == "STRING"
    assert cols["_rejects"] in ("JSON", "STRING")  # the emulator reports JSON as STRING
    assert list(cols)[:10] == [
        "id",
        "_created_at",
        "_updated_at",
        "_is_deleted",
        "_deleted_at",
        "_deletion_kind",
        "merged_into_id",
        "_synced_at",
        "_rejects",
        "_extra_properties",
    ]
    defs = bq_query("SELECT name FROM {ds}.property_definition WHERE object_name = 'contacts' ORDER BY name")
    assert [d["name"] for d in defs] == sorted(p["name"] for p in PROPS)
    again = bq_wh.ensure_object_table("contacts", PROPS)
    assert (again.created, again.added, again.widened) == (False, 0, 0)
    changes = bq_query("SELECT change FROM {ds}._hubspot_schema_changes WHERE object_name = 'contacts'")
    assert sorted(c["change"] for c in changes) == ["column_added"] * 6 + ["table_created"]


def test_load_values_land_typed_and_rejects_recorded(bq_wh: BigQueryWarehouse, bq_query, write_part) -> None:
    bq_wh.ensure_object_table("contacts", PROPS)
    part = write_part(
        [
            record(
                1,
                email="a@b.c",
                amount="12.5",
                closedate="2024-03-01T12:00:00.000Z",
                birthday="1990-05-17",
                is_vip="true",
                stage="lead",
            ),
            record(
                2,
                email="nul\x00byte",
                amount="1;2",
                closedate="soon",
                birthday="0000-00-00",
                is_vip="yes",
                stage="",
            ),
            record(
                3,
                email=None,
                amount="",
                closedate="1572480000000",
                birthday="1572480000000",
                is_vip="FALSE",
                stage="a;b",
            ),
            record(4, amount="1e400"),  # beyond BIGNUMERIC: out_of_range reject
            record(5, amount="-123456789012345678901234567890.5"),  # 30 integer digits: fits
        ]
    )
    result = bq_wh.load_part("contacts", "run1/contacts/part-00000", part)
    assert (result.rows, result.skipped, result.upserted) == (5, False, 5)
    assert result.reject_reasons == {
        "nul_byte": 1,
        "invalid_number": 1,
        "invalid_datetime": 1,
        "invalid_date": 1,
        "invalid_boolean": 1,
        "out_of_range": 1,
    }
    rows = {r["id"]: r for r in bq_query("SELECT * FROM {ds}.contact")}
    one, two, three = rows[1], rows[2], rows[3]
    assert one["amount"] == Decimal("12.5")
    assert one["closedate"] == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert one["birthday"] == date(1990, 5, 17)
    assert one["is_vip"] is True and one["stage"] == "lead"
    assert one["_rejects"] is None
    assert one["_created_at"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert one["_synced_at"] is not None and one["_is_deleted"] is False
    assert two["email"] == "nulbyte"
    assert two["amount"] is None and two["closedate"] is None and two["is_vip"] is None
    assert two["_rejects"] == {
        "email": {"value": "nul\\u0000byte", "reason": "nul_byte"},
        "amount": {"value": "1;2", "reason": "invalid_number"},
        "closedate": {"value": "soon", "reason": "invalid_datetime"},
        "birthday": {"value": "0000-00-00", "reason": "invalid_date"},
        "is_vip": {"value": "yes", "reason": "invalid_boolean"},
    }
    assert two["stage"] == ""
    assert three["amount"] is None and three["email"] is None
    assert three["birthday"] == date(2019, 10, 31)
    assert three["closedate"] == datetime(2019, 10, 31, tzinfo=UTC)
    assert three["is_vip"] is False and three["stage"] == "a;b"
    assert rows[4]["amount"] is None
    assert rows[4]["_rejects"] == {"amount": {"value": "1e400", "reason": "out_of_range"}}
    assert rows[5]["amount"] == Decimal("-123456789012345678901234567890.5")


def test_big_text_and_emoji(bq_wh: BigQueryWarehouse, bq_query, write_part) -> None:
    bq_wh.ensure_object_table("contacts", PROPS)
    big = "🎉" + "x" * 200_000 + "\u00e9'\"`;"
    bq_wh.load_part("contacts", "p", write_part([record(7, email=big)]))
    assert bq_query("SELECT email FROM {ds}.contact WHERE id = 7")[0]["email"] == big


def test_retried_part_is_skipped(
    bq_wh: BigQueryWarehouse, bq_client, dataset_name, bq_query, write_part
) -> None:
    bq_wh.ensure_object_table("contacts", PROPS)
    part = write_part([record(1, email="a"), record(2, email="b")])
    first = bq_wh.load_part("contacts", "r/contacts/part-1", part)
    second = bq_wh.load_part("contacts", "r/contacts/part-1", part)
    assert not first.skipped and second.skipped
    assert bq_query("SELECT count(*) AS n FROM {ds}.contact")[0]["n"] == 2
    marker = bq_query(
        "SELECT `rows` AS n FROM {ds}._hubspot_loaded_parts WHERE part_id = 'r/contacts/part-1'"
    )
    assert [m["n"] for m in marker] == [2]
    # The same part id for another object is a different part.
    bq_wh.ensure_object_table("companies", [prop("name")])
    assert not bq_wh.load_part("companies", "r/contacts/part-1", part).skipped
    # No staging table is left behind.
    assert not [t for t in bq_client.list_tables(dataset_name) if "stage" in t.table_id]


def test_crash_between_merge_and_marker_is_safe(bq_wh: BigQueryWarehouse, bq_query, write_part) -> None:
    """A MERGE that ran without its part being recorded is re-applied with the same result."""
    bq_wh.ensure_object_table("contacts", PROPS)
    part = write_part([record(1, email="a", amount="x"), record(2, email="b")])
    bq_wh.load_part("contacts", "p", part)
    before = {r["id"]: r for r in bq_query("SELECT * EXCEPT (_synced_at) FROM {ds}.contact")}
    bq_query("DELETE FROM {ds}._hubspot_loaded_parts WHERE TRUE")  # as if the crash came before the marker
    again = bq_wh.load_part("contacts", "p", part)
    assert not again.skipped
    after = {r["id"]: r for r in bq_query("SELECT * EXCEPT (_synced_at) FROM {ds}.contact")}
    assert after == before


def test_failed_load_leaves_no_marker(bq_wh: BigQueryWarehouse, bq_query, write_part) -> None:
    bq_wh.ensure_object_table("contacts", PROPS)
    bad = write_part([{"id": "not-a-number", "properties": {}}])
    with pytest.raises(PartFormatError):
        bq_wh.load_part("contacts", "bad", bad)
    assert bq_query("SELECT count(*) AS n FROM {ds}._hubspot_loaded_parts")[0]["n"] == 0


@pytest.mark.parametrize("order", ["new_then_old", "old_then_new"])
def test_newer_updated_at_wins_regardless_of_order(
    bq_wh: BigQueryWarehouse, bq_query, write_part, order
) -> None:
    bq_wh.ensure_object_table("contacts", PROPS)
    old = write_part([record(5, updated="2024-01-01T00:00:00Z", email="old")])
    new = write_part([record(5, updated="2024-02-01T00:00:00Z", email="new")])
    parts = [new, old] if order == "new_then_old" else [old, new]
    results = [bq_wh.load_part("contacts", f"p{i}", part) for i, part in enumerate(parts)]
    row = bq_query("SELECT email, _updated_at FROM {ds}.contact WHERE id = 5")[0]
    assert row["email"] == "new"
    assert row["_updated_at"] == datetime(2024, 2, 1, tzinfo=UTC)
    assert [r.upserted for r in results] == ([1, 0] if order == "new_then_old" else [1, 1])


def test_duplicates_in_one_part_newest_then_last_wins(bq_wh: BigQueryWarehouse, bq_query, write_part) -> None:
    bq_wh.ensure_object_table("contacts", PROPS)
    part = write_part(
        [
            record(9, updated="2024-03-01T00:00:00Z", email="newest"),
            record(9, updated="2024-01-01T00:00:00Z", email="older"),
            record(8, email="first"),
            record(8, email="last"),
        ]
    )
    result = bq_wh.load_part("contacts", "dups", part)
    assert result.rows == 4 and result.upserted == 2
    rows = {r["id"]: r["email"] for r in bq_query("SELECT id, email FROM {ds}.contact")}
    assert rows == {9: "newest", 8: "last"}


def test_rejects_replaced_by_later_good_values(bq_wh: BigQueryWarehouse, bq_query, write_part) -> None:
    bq_wh.ensure_object_table("contacts", PROPS)
    bq_wh.load_part(
        "contacts",
        "a",
        write_part([record(1, updated="2024-01-01T00:00:00Z", amount="x", is_vip="maybe", email="e")]),
    )
    bq_wh.load_part("contacts", "b", write_part([record(1, updated="2024-01-02T00:00:00Z", amount="5")]))
    row = bq_query("SELECT amount, email, _rejects FROM {ds}.contact")[0]
    assert row["amount"] == Decimal(5)
    assert row["email"] == "e"  # a part that does not carry a property leaves its column alone
    # ... and its reject: only the keys of the part's properties are replaced.
    assert row["_rejects"] == {"is_vip": {"value": "maybe", "reason": "invalid_boolean"}}


def test_schema_evolution_add_and_widen(
    bq_wh: BigQueryWarehouse, bq_client, dataset_name, bq_query, write_part
) -> None:
    bq_wh.ensure_object_table(
        "deals", [prop("amount", "number"), prop("closedate", "datetime"), prop("won", "bool")]
    )
    bq_wh.load_part(
        "deals",
        "p1",
        write_part([record(1, amount="10.50", closedate="2024-03-01T12:00:00.250Z", won="true")]),
    )
    summary = bq_wh.ensure_object_table(
        "deals",
        [
            prop("amount", "string"),
            prop("closedate", "string"),
            prop("won", "bool"),
            prop("new_field", "number"),
            prop("select", "date"),  # a keyword as column name
        ],
    )
    assert (summary.added, summary.widened, summary.created) == (2, 2, False)
    # Metadata (get_table) and storage (queries) agree.
    cols = schema(bq_client, dataset_name, "deal")
    assert cols["amount"] == "STRING" and cols["closedate"] == "STRING"
    assert cols["new_field"] in ("BIGNUMERIC", "NUMERIC") and cols["select"] == "DATE"
    assert cols["won"] == "BOOLEAN"
    row = bq_query("SELECT amount, closedate, won, new_field, `select` FROM {ds}.deal WHERE id = 1")[0]
    assert Decimal(row["amount"]) == Decimal("10.5")  # the emulator keeps trailing zeros
    assert row["closedate"] == "2024-03-01T12:00:00.250Z"
    assert row["won"] is True and row["new_field"] is None and row["select"] is None
    bq_wh.load_part(
        "deals",
        "p2",
        write_part([record(2, amount="about 12", closedate="tomorrow", new_field="3", select="2024-02-29")]),
    )
    row = bq_query("SELECT amount, closedate, new_field, `select`, _rejects FROM {ds}.deal WHERE id = 2")[0]
    assert row == {
        "amount": "about 12",
        "closedate": "tomorrow",
        "new_field": Decimal(3),
        "select": date(2024, 2, 29),
        "_rejects": None,
    }
    changes = bq_query(
        "SELECT property_name, old_type, new_type FROM {ds}._hubspot_schema_changes "
        "WHERE change = 'column_widened' ORDER BY property_name"
    )
    assert [(c["property_name"], c["old_type"], c["new_type"]) for c in changes] == [
        ("amount", "numeric:number", "text:string"),
        ("closedate", "timestamp:datetime", "text:string"),
    ]
    # Narrowing back keeps the STRING column; another add after a rewrite works too.
    back = bq_wh.ensure_object_table("deals", [prop("amount", "number"), prop("later", "bool")])
    assert (back.widened, back.added) == (0, 1)
    cols = schema(bq_client, dataset_name, "deal")
    assert cols["amount"] == "STRING" and cols["later"] == "BOOLEAN"
    assert bq_query("SELECT count(later) AS n FROM {ds}.deal")[0]["n"] == 0
    spec = bq_wh.column_specs("deals")["amount"]
    assert (spec.logical_type.value, spec.hubspot_type) == ("text", "number")


def test_spill_over_beyond_column_cap(bq_client, dataset_name, bq_query, write_part) -> None:
    wh = BigQueryWarehouse(dataset_name, client=bq_client, max_property_columns=20)
    wh.ensure_schema()
    props = [prop(f"custom_property_{i:02d}", "number" if i % 2 else "string") for i in range(25)]
    props.append(prop("hs_object_id", "number", hubspotDefined=True))
    summary = wh.ensure_object_table("p42_widgets", props)
    assert summary.added == 20 and summary.spilled == 6
    cols = schema(bq_client, dataset_name, "widgets")
    assert len(cols) == 1 + 20 + 9 and "hs_object_id" in cols
    values = {f"custom_property_{i:02d}": str(i) for i in range(25)}
    wh.load_part("p42_widgets", "w1", write_part([record(1, hs_object_id="1", **values)]))
    row = bq_query("SELECT * FROM {ds}.widgets")[0]
    assert row["custom_property_00"] == "0" and row["custom_property_01"] == Decimal(1)
    assert len(row["_extra_properties"]) == 6
    assert row["_extra_properties"]["custom_property_24"] == "24"
    again = wh.ensure_object_table("p42_widgets", [*props, prop("one_more")])
    assert (again.added, again.spilled) == (0, 1)


def test_unmapped_properties_are_kept_in_extra(bq_wh: BigQueryWarehouse, bq_query, write_part) -> None:
    bq_wh.ensure_object_table("contacts", [prop("email")])
    result = bq_wh.load_part("contacts", "u", write_part([record(1, email="e", surprise="x\x00y")]))
    assert result.unmapped == 1 and result.rejects == 1
    row = bq_query("SELECT _extra_properties, _rejects FROM {ds}.contact")[0]
    assert row["_extra_properties"] == {"surprise": "xy"}
    assert row["_rejects"]["surprise"]["reason"] == "nul_byte"


def test_hostile_property_names(
    bq_wh: BigQueryWarehouse, bq_client, dataset_name, bq_query, write_part
) -> None:
    hostile = [
        'quote"d',
        "single'quote",
        "back`tick",
        "semi;colon",
        '"; DROP TABLE x; --',
        "'); DROP TABLE contact; --",
        "`; DROP SCHEMA x; --",
        "has spaces",
        "UPPER",
        "upper",
        "naïve_ünïcode",
        "名前",
        "select",
        "from",
        "_PARTITIONTIME",
        "p" * 200,
        "p" * 199 + "q",
    ]
    summary = bq_wh.ensure_object_table("contacts", [prop(n) for n in hostile] + [prop("n;um", "number")])
    assert summary.added == len(hostile) + 1
    values = {n: f"value of {n} '\"`;" for n in hostile}
    result = bq_wh.load_part("contacts", "h", write_part([record(1, **values, **{"n;um": "1;2"})]))
    assert result.rejects == 1
    mapping = {p: s.column_name for p, s in bq_wh.column_specs("contacts").items()}
    assert len(set(mapping.values())) == len(mapping)
    cols = schema(bq_client, dataset_name, "contact")
    row = bq_query("SELECT * FROM {ds}.contact WHERE id = 1")[0]
    for name in hostile:
        assert mapping[name] in cols
        assert row[mapping[name]] == f"value of {name} '\"`;"
    assert row["_rejects"] == {"n;um": {"value": "1;2", "reason": "invalid_number"}}
    assert bq_query("SELECT count(*) AS n FROM {ds}.contact")[0]["n"] == 1
    # A new hostile property on an existing table (ALTER path) also lands intact.
    bq_wh.ensure_object_table("contacts", [prop("later; DROP TABLE contact")])
    col = bq_wh.column_specs("contacts")["later; DROP TABLE contact"].column_name
    bq_wh.load_part("contacts", "h2", write_part([record(2, **{"later; DROP TABLE contact": "ok"})]))
    assert bq_query(f"SELECT `{col}` AS v FROM {{ds}}.contact WHERE id = 2")[0]["v"] == "ok"
    assert bq_query("SELECT count(*) AS n FROM {ds}.contact")[0]["n"] == 2
