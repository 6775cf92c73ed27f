"""PostgresWarehouse: table creation/evolution, spill-over, loading parts (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from hubspot_etl.warehouse.postgres import PostgresWarehouse

from tests.support.records import prop, record

PROPS = [
    prop("email"),
    prop("amount", "number"),
    prop("closedate", "datetime"),
    prop("birthday", "date"),
    prop("is_vip", "bool"),
    prop("stage", "enumeration"),
]


def columns(query, table: str) -> dict[str, str]:
    rows = query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        [table],
    )
    return {r["column_name"]: r["data_type"] for r in rows}


def test_ensure_schema_is_idempotent(wh: PostgresWarehouse, query) -> None:
    assert wh.exists()
    wh.ensure_schema()
    tables = {
        r["table_name"]
        for r in query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    assert {
        "_hubspot_column_map",
        "property_definition",
        "_hubspot_schema_changes",
        "_hubspot_loaded_parts",
        "_hubspot_sync_state",
        "_hubspot_run_report",
        "owner",
    } <= tables


def test_exists_false_before_ensure(pg_uri: str, schema_name: str) -> None:
    assert not PostgresWarehouse(schema_name, conninfo=pg_uri).exists()


def test_constructor_needs_exactly_one_source(pg_uri: str) -> None:
    with pytest.raises(ValueError):
        PostgresWarehouse("s")
    with pytest.raises(ValueError):
        PostgresWarehouse("s", postgres_conn_id="x", conninfo=pg_uri)


def test_connection_factory(pg_uri: str, schema_name: str) -> None:
    wh = PostgresWarehouse(schema_name, connection_factory=lambda: psycopg.connect(pg_uri))
    wh.ensure_schema()
    assert wh.exists()


def test_create_table_typed_columns(wh: PostgresWarehouse, query) -> None:
    summary = wh.ensure_object_table("contacts", PROPS)
    assert summary.created and summary.added == 6 and summary.widened == 0 and summary.spilled == 0
    cols = columns(query, "contact")
    assert cols["id"] == "bigint"
    assert cols["amount"] == "numeric"
    assert cols["closedate"] == "timestamp with time zone"
    assert cols["birthday"] == "date"
    assert cols["is_vip"] == "boolean"
    assert cols["email"] == "text"
    for system in (
        "_created_at",
        "_updated_at",
        "_is_deleted",
        "_deleted_at",
        "_deletion_kind",
        "merged_into_id",
        "_synced_at",
        "_rejects",
        "_extra_properties",
    ):
        assert system in cols
    defs = query("SELECT name, type FROM property_definition WHERE object_name = 'contacts' ORDER BY name")
    assert [d["name"] for d in defs] == sorted(p["name"] for p in PROPS)
    again = wh.ensure_object_table("contacts", PROPS)
    assert (again.created, again.added, again.widened) == (False, 0, 0)


def test_load_values_land_typed_and_rejects_recorded(wh: PostgresWarehouse, query, write_part) -> None:
    wh.ensure_object_table("contacts", PROPS)
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
        ]
    )
    result = wh.load_part("contacts", "run1/contacts/part-00000", part)
    assert (result.rows, result.skipped, result.upserted) == (3, False, 3)
    assert result.rejects == 5
    assert result.reject_reasons == {
        "nul_byte": 1,
        "invalid_number": 1,
        "invalid_datetime": 1,
        "invalid_date": 1,
        "invalid_boolean": 1,
    }
    rows = {r["id"]: r for r in query("SELECT * FROM contact")}
    one, two, three = rows[1], rows[2], rows[3]
    assert one["amount"] == Decimal("12.5")
    assert one["closedate"] == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert one["birthday"] == date(1990, 5, 17)
    assert one["is_vip"] is True
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
    assert three["is_vip"] is False and three["stage"] == "a;b"


def test_big_values_emoji_and_1e400(wh: PostgresWarehouse, query, write_part) -> None:
    wh.ensure_object_table("contacts", PROPS)
    big = "🎉" + "x" * 1_000_000
    wh.load_part("contacts", "p", write_part([record(7, email=big, amount="1e400")]))
    row = query("SELECT email, amount::text AS amount FROM contact WHERE id = 7")[0]
    assert row["email"] == big
    assert row["amount"] == "1" + "0" * 400


def test_retried_part_is_skipped(wh: PostgresWarehouse, query, write_part) -> None:
    wh.ensure_object_table("contacts", PROPS)
    part = write_part([record(1, email="a"), record(2, email="b")])
    first = wh.load_part("contacts", "r/contacts/part-1", part)
    second = wh.load_part("contacts", "r/contacts/part-1", part)
    assert not first.skipped and second.skipped
    assert query("SELECT count(*) AS n FROM contact")[0]["n"] == 2
    assert query("SELECT rows FROM _hubspot_loaded_parts WHERE part_id = 'r/contacts/part-1'")[0]["rows"] == 2
    # The same part id for another object is a different part.
    wh.ensure_object_table("companies", [prop("name")])
    assert not wh.load_part("companies", "r/contacts/part-1", part).skipped


def test_failed_load_leaves_no_marker(wh: PostgresWarehouse, query, write_part) -> None:
    from hubspot_etl.warehouse.base import PartFormatError

    wh.ensure_object_table("contacts", PROPS)
    bad = write_part([{"id": "not-a-number", "properties": {}}])
    with pytest.raises(PartFormatError):
        wh.load_part("contacts", "bad", bad)
    assert query("SELECT count(*) AS n FROM _hubspot_loaded_parts")[0]["n"] == 0


@pytest.mark.parametrize("order", ["new_then_old", "old_then_new"])
def test_newer_updated_at_wins_regardless_of_order(wh: PostgresWarehouse, query, write_part, order) -> None:
    wh.ensure_object_table("contacts", PROPS)
    old = write_part([record(5, updated="2024-01-01T00:00:00Z", email="old")])
    new = write_part([record(5, updated="2024-02-01T00:00:00Z", email="new")])
    parts = [new, old] if order == "new_then_old" else [old, new]
    for i, part in enumerate(parts):
        wh.load_part("contacts", f"p{i}", part)
    row = query("SELECT email, _updated_at FROM contact WHERE id = 5")[0]
    assert row["email"] == "new"
    assert row["_updated_at"] == datetime(2024, 2, 1, tzinfo=UTC)


def test_duplicates_in_one_part_newest_then_last_wins(wh: PostgresWarehouse, query, write_part) -> None:
    wh.ensure_object_table("contacts", PROPS)
    part = write_part(
        [
            record(9, updated="2024-03-01T00:00:00Z", email="newest"),
            record(9, updated="2024-01-01T00:00:00Z", email="older"),
            record(8, email="first"),
            record(8, email="last"),
        ]
    )
    result = wh.load_part("contacts", "dups", part)
    assert result.rows == 4 and result.upserted == 2
    rows = {r["id"]: r["email"] for r in query("SELECT id, email FROM contact")}
    assert rows == {9: "newest", 8: "last"}


def test_rejects_are_replaced_by_later_good_values(wh: PostgresWarehouse, query, write_part) -> None:
    wh.ensure_object_table("contacts", PROPS)
    wh.load_part(
        "contacts", "a", write_part([record(1, updated="2024-01-01T00:00:00Z", amount="x", email="e")])
    )
    wh.load_part("contacts", "b", write_part([record(1, updated="2024-01-02T00:00:00Z", amount="5")]))
    row = query("SELECT amount, email, _rejects FROM contact")[0]
    assert row["amount"] == Decimal(5) and row["_rejects"] is None
    assert row["email"] == "e"  # a part that does not carry a property leaves its column alone


def test_new_property_mid_life_and_type_change_widens(wh: PostgresWarehouse, query, write_part) -> None:
    wh.ensure_object_table("deals", [prop("amount", "number"), prop("closedate", "datetime")])
    wh.load_part("deals", "p1", write_part([record(1, amount="10.50", closedate="2024-03-01T12:00:00Z")]))
    summary = wh.ensure_object_table(
        "deals", [prop("amount", "string"), prop("closedate", "string"), prop("new_field", "number")]
    )
    assert (summary.added, summary.widened, summary.created) == (1, 2, False)
    cols = columns(query, "deal")
    assert cols["amount"] == "text" and cols["closedate"] == "text" and cols["new_field"] == "numeric"
    row = query("SELECT amount, closedate FROM deal WHERE id = 1")[0]
    assert row == {"amount": "10.50", "closedate": "2024-03-01T12:00:00.000Z"}
    wh.load_part(
        "deals", "p2", write_part([record(2, amount="about 12", closedate="tomorrow", new_field="3")])
    )
    row = query("SELECT amount, closedate, new_field, _rejects FROM deal WHERE id = 2")[0]
    assert row == {"amount": "about 12", "closedate": "tomorrow", "new_field": Decimal(3), "_rejects": None}
    changes = query(
        "SELECT change, property_name, old_type, new_type FROM _hubspot_schema_changes "
        "WHERE change = 'column_widened' ORDER BY property_name"
    )
    assert [(c["property_name"], c["old_type"], c["new_type"]) for c in changes] == [
        ("amount", "numeric:number", "text:string"),
        ("closedate", "timestamp:datetime", "text:string"),
    ]
    # Narrowing back to number keeps the text column (never narrowed), records the type change.
    back = wh.ensure_object_table("deals", [prop("amount", "number")])
    assert back.widened == 0
    assert columns(query, "deal")["amount"] == "text"
    spec = wh.column_specs("deals")["amount"]
    assert (spec.logical_type.value, spec.hubspot_type) == ("text", "number")


def test_spill_over_beyond_column_cap(pg_uri: str, schema_name: str, query, write_part) -> None:
    wh = PostgresWarehouse(schema_name, conninfo=pg_uri)  # default cap 1,500
    wh.ensure_schema()
    props = [prop(f"custom_property_{i:04d}", "number" if i % 2 else "string") for i in range(1700)]
    props.append(prop("hs_object_id", "number", hubspotDefined=True))
    summary = wh.ensure_object_table("p42_widgets", props)
    assert summary.added == 1500 and summary.spilled == 201
    cols = columns(query, "widgets")
    assert len(cols) == 1 + 1500 + 9
    assert "hs_object_id" in cols  # HubSpot-defined properties get columns first
    values = {f"custom_property_{i:04d}": str(i) for i in range(1700)}
    wh.load_part("p42_widgets", "w1", write_part([record(1, hs_object_id="1", **values)]))
    spilled = [p for p, s in wh.column_specs("p42_widgets").items() if s.spilled]
    assert len(spilled) == 201
    row = query(
        "SELECT custom_property_0000, custom_property_0001, _extra_properties->>'custom_property_1699' AS last, "
        "(SELECT count(*) FROM jsonb_object_keys(_extra_properties)) AS n_extra FROM widgets"
    )[0]
    assert row["custom_property_0000"] == "0" and row["custom_property_0001"] == Decimal(1)
    assert row["last"] == "1699" and row["n_extra"] == 201
    n_spilled = query("SELECT count(*) AS n FROM _hubspot_column_map WHERE spilled")[0]["n"]
    assert n_spilled == 201
    # A second run with one more property: still spilled, existing columns untouched.
    again = wh.ensure_object_table("p42_widgets", [*props, prop("one_more")])
    assert (again.added, again.spilled) == (0, 1)


def test_unmapped_properties_are_kept_in_extra(wh: PostgresWarehouse, query, write_part) -> None:
    wh.ensure_object_table("contacts", [prop("email")])
    result = wh.load_part("contacts", "u", write_part([record(1, email="e", surprise="x\x00y")]))
    assert result.unmapped == 1 and result.rejects == 1
    row = query("SELECT _extra_properties, _rejects FROM contact")[0]
    assert row["_extra_properties"] == {"surprise": "xy"}
    assert row["_rejects"]["surprise"]["reason"] == "nul_byte"


def test_hostile_property_names(wh: PostgresWarehouse, query, write_part) -> None:
    hostile = [
        'quote"d',
        "semi;colon",
        '"; DROP TABLE x; --',
        "'); DROP TABLE contact; --",
        "has spaces",
        "UPPER",
        "upper",
        "naïve_ünïcode",
        "名前",
        "select",
        "p" * 200,
        "p" * 199 + "q",
    ]
    summary = wh.ensure_object_table("contacts", [prop(n) for n in hostile] + [prop("n;um", "number")])
    assert summary.added == len(hostile) + 1
    assert summary.renamed >= 8
    values = {n: f"value of {n}" for n in hostile}
    result = wh.load_part("contacts", "h", write_part([record(1, **values, **{"n;um": "1;2"})]))
    assert result.rejects == 1
    mapping = {p: s.column_name for p, s in wh.column_specs("contacts").items()}
    row = query("SELECT * FROM contact WHERE id = 1")[0]
    for name in hostile:
        assert row[mapping[name]] == f"value of {name}"
    assert row["_rejects"] == {"n;um": {"value": "1;2", "reason": "invalid_number"}}
    assert query("SELECT count(*) AS n FROM contact")[0]["n"] == 1
    assert len(set(mapping.values())) == len(mapping)
