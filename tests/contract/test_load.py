"""The warehouse contract, loading side: tables, schema evolution, spill-over and parts.

Written once against ``dest`` (tests/contract/conftest.py) and run on PostgreSQL, BigQuery and
Snowflake. Where destinations legitimately differ (numeric limits), the expectation is derived
from the dialect's declared property, never from its name.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Context, Decimal

import pytest
from hubspot_etl.warehouse.base import PartFormatError
from hubspot_etl.warehouse.types import NumericLimits

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
    "_hubspot_run_leases",
    "_hubspot_association_tables",
    "owner",
}
#: The system columns of every object table, after ``id``, in table order, with their families.
SYSTEM_COLUMNS = {
    "_created_at": "timestamp",
    "_updated_at": "timestamp",
    "_is_deleted": "boolean",
    "_deleted_at": "timestamp",
    "_deletion_kind": "text",
    "merged_into_id": "bigint",
    "_synced_at": "timestamp",
    "_rejects": "json",
    "_extra_properties": "json",
}
SYSTEM = list(SYSTEM_COLUMNS)


def fits(number: str, limits: NumericLimits) -> bool:
    """Whether ``number`` has at most the digits the destination's numeric type stores."""
    _, digits, exponent = Decimal(number).as_tuple()
    assert isinstance(exponent, int)
    return len(digits) + exponent <= limits.max_integer_digits and -exponent <= limits.max_scale


def stored(dest, number: str) -> Decimal:
    """``number`` as the destination stores it (an emulator may keep fewer fraction digits)."""
    value = Decimal(number)
    scale = dest.stored_scale
    if scale is None or -value.as_tuple().exponent <= scale:
        return value
    return value.quantize(Decimal(1).scaleb(-scale), context=Context(prec=100))


def by_id(rows: list[dict]) -> dict[int, dict]:
    return {r["id"]: r for r in rows}


def test_ensure_schema_is_idempotent(dest) -> None:
    assert dest.wh.exists()
    before = {t: dest.column_types(t) for t in sorted(METADATA)}
    dest.wh.ensure_schema()
    dest.other().ensure_schema()  # a second worker too
    tables = dest.tables()
    assert tables >= METADATA
    assert ("_hubspot_locks" in tables) is dest.uses_lease_rows  # lease rows only without a session lock
    assert {t: dest.column_types(t) for t in sorted(METADATA)} == before
    assert all(before.values())
    assert dest.rows("_hubspot_column_map") == [] and dest.rows("_hubspot_sync_state") == []


def test_exists_false_before_ensure(dest) -> None:
    missing = dest.missing()
    assert not missing.exists()
    assert not missing.exists()  # asking does not create it
    assert dest.wh.exists()


def test_create_table_typed_columns(dest) -> None:
    summary = dest.wh.ensure_object_table("contacts", PROPS)
    assert summary.created and summary.added == 6 and summary.widened == 0 and summary.spilled == 0
    assert summary.table == "contact"
    cols = dest.column_types("contact")
    assert list(cols)[:10] == ["id", *SYSTEM]
    assert {c: cols[c] for c in ("amount", "closedate", "birthday", "is_vip", "email", "stage")} == {
        "amount": "numeric",
        "closedate": "timestamp",
        "birthday": "date",
        "is_vip": "boolean",
        "email": "text",
        "stage": "text",
    }
    assert {c: cols[c] for c in ["id", *SYSTEM]} == {"id": "bigint", **SYSTEM_COLUMNS}
    assert len(cols) == 1 + len(SYSTEM) + len(PROPS)
    defs = [r for r in dest.rows("property_definition") if r["object_name"] == "contacts"]
    assert sorted((d["name"], d["type"]) for d in defs) == sorted((p["name"], p["type"]) for p in PROPS)
    assert all(d["options"] == [] and d["hubspot_defined"] is False for d in defs)
    mapped = {r["property_name"]: r for r in dest.rows("_hubspot_column_map")}
    assert mapped["amount"]["logical_type"] == "numeric" and mapped["amount"]["spilled"] is False
    again = dest.wh.ensure_object_table("contacts", PROPS)
    assert (again.created, again.added, again.widened) == (False, 0, 0)
    changes = [r["change"] for r in dest.rows("_hubspot_schema_changes") if r["object_name"] == "contacts"]
    assert sorted(changes) == ["column_added"] * 6 + ["table_created"]


def test_load_values_land_typed_and_rejects_recorded(dest, write_part) -> None:
    limits = dest.wh.d.numeric_limits
    dest.wh.ensure_object_table("contacts", PROPS)
    # numbers at the edges of the destinations' numeric types
    edges = {
        4: "1e400",  # 401 integer digits
        5: "-123456789012345678901234567890.5",  # 30 integer digits
        6: "0.12345678901",  # 11 fraction digits
        7: "1234567890123456789012345678",  # 28 integer digits
    }
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
            *(record(rid, amount=value) for rid, value in edges.items()),
        ]
    )
    out_of_range = [rid for rid, value in edges.items() if not fits(value, limits)]
    result = dest.wh.load_part("contacts", "run1/contacts/part-00000", part)
    assert (result.rows, result.skipped, result.upserted) == (7, False, 7)
    expected = {"nul_byte": 1, "invalid_number": 1, "invalid_datetime": 1, "invalid_date": 1}
    expected |= {"invalid_boolean": 1} | ({"out_of_range": len(out_of_range)} if out_of_range else {})
    assert result.reject_reasons == expected
    assert result.rejects == sum(expected.values())
    rows = by_id(dest.rows("contact"))
    assert sorted(rows) == [1, 2, 3, *edges]
    one, two, three = rows[1], rows[2], rows[3]
    assert one["amount"] == Decimal("12.5") and isinstance(one["amount"], Decimal)
    assert one["closedate"] == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert one["birthday"] == date(1990, 5, 17)
    assert one["is_vip"] is True and one["stage"] == "lead" and one["email"] == "a@b.c"
    assert one["_rejects"] is None and one["_extra_properties"] is None
    assert one["_created_at"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert one["_updated_at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert one["_synced_at"] is not None and one["_is_deleted"] is False
    assert one["_deleted_at"] is None and one["_deletion_kind"] is None and one["merged_into_id"] is None
    assert two["email"] == "nulbyte"
    assert two["amount"] is None and two["closedate"] is None and two["is_vip"] is None
    assert two["birthday"] is None
    assert two["_rejects"] == {
        "email": {"value": "nul\\u0000byte", "reason": "nul_byte"},
        "amount": {"value": "1;2", "reason": "invalid_number"},
        "closedate": {"value": "soon", "reason": "invalid_datetime"},
        "birthday": {"value": "0000-00-00", "reason": "invalid_date"},
        "is_vip": {"value": "yes", "reason": "invalid_boolean"},
    }
    assert two["stage"] == ""
    assert three["amount"] is None and three["email"] is None and three["_rejects"] is None
    assert three["birthday"] == date(2019, 10, 31)
    assert three["closedate"] == datetime(2019, 10, 31, tzinfo=UTC)
    assert three["is_vip"] is False and three["stage"] == "a;b"
    for rid, value in edges.items():
        if rid in out_of_range:
            assert rows[rid]["amount"] is None
            assert rows[rid]["_rejects"] == {"amount": {"value": value, "reason": "out_of_range"}}
        else:
            assert rows[rid]["amount"] == stored(dest, value) and rows[rid]["_rejects"] is None


def test_big_text_emoji_and_1e400(dest, write_part) -> None:
    dest.wh.ensure_object_table("contacts", PROPS)
    big = "🎉" + "x" * 1_000_000 + "\u00e9'\"`;"
    result = dest.wh.load_part("contacts", "p", write_part([record(7, email=big, amount="1e400")]))
    row = dest.rows("contact")[0]
    assert row["email"] == big
    if fits("1e400", dest.wh.d.numeric_limits):
        assert row["amount"] == Decimal("1" + "0" * 400) and result.rejects == 0
    else:
        assert row["amount"] is None and result.reject_reasons == {"out_of_range": 1}


def test_retried_part_is_skipped(dest, write_part) -> None:
    dest.wh.ensure_object_table("contacts", PROPS)
    part = write_part([record(1, email="a"), record(2, email="b")])
    first = dest.wh.load_part("contacts", "r/contacts/part-1", part)
    second = dest.wh.load_part("contacts", "r/contacts/part-1", part)
    assert not first.skipped and second.skipped
    assert (first.rows, first.upserted) == (2, 2) and (second.rows, second.upserted) == (0, 0)
    assert sorted(r["id"] for r in dest.rows("contact")) == [1, 2]
    marker = [(r["object_name"], r["part_id"], r["rows"]) for r in dest.rows("_hubspot_loaded_parts")]
    assert marker == [("contacts", "r/contacts/part-1", 2)]
    # The same part id for another object is a different part.
    dest.wh.ensure_object_table("companies", [prop("name")])
    assert not dest.wh.load_part("companies", "r/contacts/part-1", part).skipped
    assert len(dest.rows("_hubspot_loaded_parts")) == 2
    # Another worker sees the ledger too.
    assert dest.other().load_part("contacts", "r/contacts/part-1", part).skipped
    # No staging table is left behind.
    assert not [t for t in dest.tables() if "stage" in t]


def test_crash_between_merge_and_marker_is_safe(dest, write_part) -> None:
    """A part merged without its ledger row being recorded is re-applied with the same result."""
    dest.wh.ensure_object_table("contacts", PROPS)
    part = write_part([record(1, email="a", amount="x"), record(2, email="b")])
    dest.wh.load_part("contacts", "p", part)

    def stored() -> dict[int, dict]:
        return {r["id"]: {k: v for k, v in r.items() if k != "_synced_at"} for r in dest.rows("contact")}

    before = stored()
    assert before[1]["_rejects"] == {"amount": {"value": "x", "reason": "invalid_number"}}
    dest.execute("DELETE FROM {_hubspot_loaded_parts} WHERE part_id = @p", {"p": "p"})
    assert dest.rows("_hubspot_loaded_parts") == []
    again = dest.wh.load_part("contacts", "p", part)
    assert not again.skipped and again.rows == 2
    assert stored() == before
    assert [r["part_id"] for r in dest.rows("_hubspot_loaded_parts")] == ["p"]


def test_failed_load_leaves_no_marker(dest, write_part) -> None:
    dest.wh.ensure_object_table("contacts", PROPS)
    bad = write_part([record(1, email="fine"), {"id": "not-a-number", "properties": {}}])
    with pytest.raises(PartFormatError):
        dest.wh.load_part("contacts", "bad", bad)
    assert dest.rows("_hubspot_loaded_parts") == []
    assert dest.rows("contact") == []  # nothing of the part landed


@pytest.mark.parametrize("order", ["new_then_old", "old_then_new"])
def test_newer_updated_at_wins_regardless_of_order(dest, write_part, order) -> None:
    dest.wh.ensure_object_table("contacts", PROPS)
    old = write_part([record(5, updated="2024-01-01T00:00:00Z", email="old")])
    new = write_part([record(5, updated="2024-02-01T00:00:00Z", email="new")])
    parts = [new, old] if order == "new_then_old" else [old, new]
    results = [dest.wh.load_part("contacts", f"p{i}", part) for i, part in enumerate(parts)]
    rows = dest.rows("contact")
    assert [(r["id"], r["email"], r["_updated_at"]) for r in rows] == [
        (5, "new", datetime(2024, 2, 1, tzinfo=UTC))
    ]
    assert [r.upserted for r in results] == ([1, 0] if order == "new_then_old" else [1, 1])


def test_duplicates_in_one_part_newest_then_last_wins(dest, write_part) -> None:
    dest.wh.ensure_object_table("contacts", PROPS)
    part = write_part(
        [
            record(9, updated="2024-03-01T00:00:00Z", email="newest"),
            record(9, updated="2024-01-01T00:00:00Z", email="older"),
            record(8, email="first"),
            record(8, email="last"),
        ]
    )
    result = dest.wh.load_part("contacts", "dups", part)
    assert result.rows == 4 and result.upserted == 2
    rows = {r["id"]: (r["email"], r["_updated_at"]) for r in dest.rows("contact")}
    assert rows == {
        9: ("newest", datetime(2024, 3, 1, tzinfo=UTC)),
        8: ("last", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    }


def test_rejects_replaced_by_later_good_values(dest, write_part) -> None:
    dest.wh.ensure_object_table("contacts", PROPS)
    dest.wh.load_part(
        "contacts",
        "a",
        write_part([record(1, updated="2024-01-01T00:00:00Z", amount="x", is_vip="maybe", email="e")]),
    )
    first = dest.rows("contact")[0]
    assert set(first["_rejects"]) == {"amount", "is_vip"}
    dest.wh.load_part("contacts", "b", write_part([record(1, updated="2024-01-02T00:00:00Z", amount="5")]))
    row = dest.rows("contact")[0]
    assert row["amount"] == Decimal(5)
    assert row["email"] == "e"  # a part that does not carry a property leaves its column alone
    # ... and its reject: only the keys of the part's properties are replaced.
    assert row["_rejects"] == {"is_vip": {"value": "maybe", "reason": "invalid_boolean"}}
    dest.wh.load_part("contacts", "c", write_part([record(1, updated="2024-01-03T00:00:00Z", is_vip="true")]))
    row = dest.rows("contact")[0]
    assert row["_rejects"] is None and row["is_vip"] is True


def test_schema_evolution_add_and_widen(dest, write_part) -> None:
    wh = dest.wh
    wh.ensure_object_table(
        "deals", [prop("amount", "number"), prop("closedate", "datetime"), prop("won", "bool")]
    )
    wh.load_part(
        "deals",
        "p1",
        write_part([record(1, amount="10.50", closedate="2024-03-01T12:00:00.250Z", won="true")]),
    )
    summary = wh.ensure_object_table(
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
    cols = dest.column_types("deal")
    assert {c: cols[c] for c in ("amount", "closedate", "won", "new_field", "select")} == {
        "amount": "text",
        "closedate": "text",
        "won": "boolean",
        "new_field": "numeric",
        "select": "date",
    }
    row = by_id(dest.rows("deal"))[1]
    # the number's text: PostgreSQL keeps its scale, an emulator may pad it
    assert re.fullmatch(r"10\.50*", row["amount"]) and Decimal(row["amount"]) == Decimal("10.5")
    assert row["won"] is True and row["new_field"] is None and row["select"] is None
    wh.load_part(
        "deals",
        "p2",
        write_part([record(2, amount="about 12", closedate="tomorrow", new_field="3", select="2024-02-29")]),
    )
    row = by_id(dest.rows("deal"))[2]
    assert {k: row[k] for k in ("amount", "closedate", "new_field", "select", "_rejects")} == {
        "amount": "about 12",
        "closedate": "tomorrow",
        "new_field": Decimal(3),
        "select": date(2024, 2, 29),
        "_rejects": None,
    }
    changes = sorted(
        (c["property_name"], c["old_type"], c["new_type"])
        for c in dest.rows("_hubspot_schema_changes")
        if c["change"] == "column_widened"
    )
    assert changes == [
        ("amount", "numeric:number", "text:string"),
        ("closedate", "timestamp:datetime", "text:string"),
    ]
    # Narrowing back keeps the text column (never narrowed); another add after a widening works.
    back = wh.ensure_object_table("deals", [prop("amount", "number"), prop("later", "bool")])
    assert (back.widened, back.added) == (0, 1)
    cols = dest.column_types("deal")
    assert cols["amount"] == "text" and cols["later"] == "boolean"
    assert [r["later"] for r in dest.rows("deal")] == [None, None]
    spec = wh.column_specs("deals")["amount"]
    assert (spec.logical_type.value, spec.hubspot_type) == ("text", "number")
    assert sorted(r["id"] for r in dest.rows("deal")) == [1, 2]


def test_widened_timestamp_keeps_its_iso_text(dest, write_part) -> None:
    """A timestamp column widened to text holds ISO-8601 with milliseconds and ``Z``."""
    dest.wh.ensure_object_table("deals", [prop("closedate", "datetime")])
    dest.wh.load_part(
        "deals",
        "p1",
        write_part([record(1, closedate="2024-03-01T12:00:00.250Z"), record(2, closedate="2024-03-01")]),
    )
    dest.wh.ensure_object_table("deals", [prop("closedate", "string")])
    got = {r["id"]: r["closedate"] for r in dest.rows("deal")}
    assert got == {1: "2024-03-01T12:00:00.250Z", 2: "2024-03-01T00:00:00.000Z"}


def test_spill_over_beyond_column_cap(dest, write_part) -> None:
    wh = dest.other(max_property_columns=20)
    props = [prop(f"custom_property_{i:02d}", "number" if i % 2 else "string") for i in range(25)]
    props.append(prop("hs_object_id", "number", hubspotDefined=True))
    summary = wh.ensure_object_table("p42_widgets", props)
    assert summary.added == 20 and summary.spilled == 6 and summary.table == "widgets"
    cols = dest.column_types("widgets")
    assert len(cols) == 1 + 20 + len(SYSTEM)
    assert "hs_object_id" in cols  # HubSpot-defined properties get columns first
    assert "custom_property_24" not in cols
    values = {f"custom_property_{i:02d}": str(i) for i in range(25)}
    result = wh.load_part("p42_widgets", "w1", write_part([record(1, hs_object_id="1", **values)]))
    assert result.rejects == 0 and result.unmapped == 0
    spilled = {p for p, s in wh.column_specs("p42_widgets").items() if s.spilled}
    assert len(spilled) == 6 and "hs_object_id" not in spilled
    row = dest.rows("widgets")[0]
    assert row["custom_property_00"] == "0" and row["custom_property_01"] == Decimal(1)
    assert row["hs_object_id"] == Decimal(1)
    assert set(row["_extra_properties"]) == spilled
    # spilled values are kept as HubSpot sent them (text), whatever the property type
    assert row["_extra_properties"]["custom_property_24"] == "24"
    assert all(row["_extra_properties"][p] == p.removeprefix("custom_property_").lstrip("0") for p in spilled)
    assert sum(1 for r in dest.rows("_hubspot_column_map") if r["spilled"]) == 6
    # A second run with one more property: still spilled, existing columns untouched.
    again = wh.ensure_object_table("p42_widgets", [*props, prop("one_more")])
    assert (again.added, again.spilled) == (0, 1)
    assert dest.column_types("widgets") == cols


def test_default_column_cap_on_a_wide_row(dest, write_part) -> None:
    """The default cap (1,500 property columns) on 1,700 properties, one row with every value.

    The row is wider than a PostgreSQL page: where the dialect has a per-row byte budget
    (``row_bytes_budget``), values move from their columns into ``_extra_properties`` until it
    fits (overflow, not rejects); elsewhere every mapped value stays in its column. Either way
    every value can be found exactly once.
    """
    props = [prop(f"custom_property_{i:04d}", "number" if i % 2 else "string") for i in range(1700)]
    props.append(prop("hs_object_id", "number", hubspotDefined=True))
    summary = dest.wh.ensure_object_table("p42_widgets", props)
    assert summary.added == 1500 and summary.spilled == 201
    cols = dest.column_types("widgets")
    assert len(cols) == 1 + 1500 + len(SYSTEM) and cols["hs_object_id"] == "numeric"
    values = {f"custom_property_{i:04d}": str(i) if i % 2 else f"{i}-" + "x" * 16 for i in range(1700)}
    result = dest.wh.load_part("p42_widgets", "w1", write_part([record(1, hs_object_id="1", **values)]))
    assert result.rejects == 0 and result.unmapped == 0
    budget = dest.wh.d.row_bytes_budget
    if budget is None:
        assert (result.overflowed_rows, result.overflowed_values) == (0, 0)
    elif budget < 750 * 18:  # the string values alone exceed the budget
        assert result.overflowed_rows == 1 and result.overflowed_values > 0
    specs = dest.wh.column_specs("p42_widgets")
    spilled = {p for p, s in specs.items() if s.spilled}
    assert len(spilled) == 201 and "hs_object_id" not in spilled
    row = dest.rows("widgets")[0]
    extra = row["_extra_properties"]
    moved = set()
    for name, value in values.items():
        if name in spilled:
            assert extra[name] == value
            continue
        stored = row[specs[name].column_name.lower()]
        if stored is None:
            moved.add(name)
            assert extra[name] == value
        else:
            assert name not in extra
            assert stored == (Decimal(value) if cols[specs[name].column_name.lower()] == "numeric" else value)
    assert len(moved) == result.overflowed_values
    assert set(extra) == spilled | moved
    assert sum(1 for r in dest.rows("_hubspot_column_map") if r["spilled"]) == 201


def test_unmapped_properties_are_kept_in_extra(dest, write_part) -> None:
    dest.wh.ensure_object_table("contacts", [prop("email")])
    result = dest.wh.load_part("contacts", "u", write_part([record(1, email="e", surprise="x\x00y")]))
    assert result.unmapped == 1 and result.rejects == 1
    row = dest.rows("contact")[0]
    assert row["email"] == "e"
    assert row["_extra_properties"] == {"surprise": "xy"}
    assert row["_rejects"] == {"surprise": {"value": "x\\u0000y", "reason": "nul_byte"}}
    assert "surprise" not in dest.column_types("contact")


def test_hostile_property_names(dest, write_part) -> None:
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
    summary = dest.wh.ensure_object_table("contacts", [prop(n) for n in hostile] + [prop("n;um", "number")])
    assert summary.added == len(hostile) + 1
    assert summary.renamed >= 8
    values = {n: f"value of {n} '\"`;" for n in hostile}
    result = dest.wh.load_part("contacts", "h", write_part([record(1, **values, **{"n;um": "1;2"})]))
    assert result.rejects == 1
    mapping = {p: s.column_name for p, s in dest.wh.column_specs("contacts").items()}
    assert len({c.lower() for c in mapping.values()}) == len(mapping)
    cols = dest.column_types("contact")
    rows = dest.rows("contact")
    assert len(rows) == 1
    row = rows[0]
    for name in hostile:
        assert cols[mapping[name].lower()] == "text"
        assert row[mapping[name].lower()] == f"value of {name} '\"`;"
    assert cols[mapping["n;um"].lower()] == "numeric"
    assert row["_rejects"] == {"n;um": {"value": "1;2", "reason": "invalid_number"}}
    assert {"contact", "owner", *(t for t in dest.tables() if t.startswith("_hubspot"))} <= dest.tables()
    # A new hostile property on an existing table (the ALTER path) also lands intact.
    dest.wh.ensure_object_table("contacts", [prop("later; DROP TABLE contact")])
    col = dest.wh.column_specs("contacts")["later; DROP TABLE contact"].column_name.lower()
    dest.wh.load_part("contacts", "h2", write_part([record(2, **{"later; DROP TABLE contact": "ok"})]))
    rows = by_id(dest.rows("contact"))
    assert sorted(rows) == [1, 2]
    assert rows[2][col] == "ok" and rows[1][col] is None
    assert rows[2][mapping["select"].lower()] is None  # a part without the property leaves it alone
