"""Naming: table names, identifier sanitising, stable collision-free column mapping."""

from __future__ import annotations

import re

import pytest
from hubspot_etl.warehouse.naming import (
    ColumnMapper,
    association_table_name,
    pipeline_table_names,
    sanitize_identifier,
    table_name_for_object,
)

VALID = re.compile(r"[a-z][a-z0-9_]*")


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("contacts", "contact"),
        ("companies", "company"),
        ("deals", "deal"),
        ("tickets", "ticket"),
        ("services", "service"),
        ("line_items", "line_item"),
        ("p123_meters", "meters"),
        ("P4567_Fancy Things", "fancy_things"),
    ],
)
def test_table_name_for_object(name: str, table: str) -> None:
    assert table_name_for_object(name) == table


def test_association_and_pipeline_tables() -> None:
    assert association_table_name("contacts", "companies") == "contact_company"
    assert pipeline_table_names("deals") == ("deal_pipeline", "deal_pipeline_stage")


@pytest.mark.parametrize(
    "name",
    [
        'we"ird',
        "a;b",
        '"; DROP TABLE x; --',
        "With Spaces",
        "UPPER",
        "名前",
        "émoji 🎉",
        "123abc",
        "_private",
        "select",
        "x" * 200,
        "",
    ],
)
def test_sanitize_identifier_is_safe(name: str) -> None:
    out = sanitize_identifier(name)
    assert VALID.fullmatch(out), out
    assert len(out.encode()) <= 63


def test_sanitize_bigquery_parameters() -> None:
    out = sanitize_identifier("Mixed Case" + "y" * 400, max_bytes=300, allowed="A-Za-z0-9_", lowercase=False)
    assert out.startswith("Mixed_Case")
    assert len(out) <= 300


def test_truncation_collisions_get_distinct_names() -> None:
    prefix = "a" * 70
    names = [prefix + "_first_suffix", prefix + "_second_suffix"]
    mapping = ColumnMapper().assign(names)
    cols = list(mapping.values())
    assert len(set(cols)) == 2
    assert all(len(c.encode()) <= 63 and VALID.fullmatch(c) for c in cols)
    assert all(c.startswith("a" * 40) for c in cols)


def test_unicode_multibyte_truncation_fits_bytes() -> None:
    # NFKD folding drops non-ASCII; a name of only multi-byte letters still gets a valid name.
    mapping = ColumnMapper().assign(["é" * 100, "ü" * 100, "名" * 80])
    assert len(set(mapping.values())) == 3
    assert all(len(c.encode()) <= 63 for c in mapping.values())


def test_reserved_and_system_names_never_used() -> None:
    mapping = ColumnMapper().assign(["id", "ID", "merged_into_id", "_is_deleted", "_rejects", "hs_object_id"])
    assert mapping["hs_object_id"] == "hs_object_id"
    taken = set(mapping.values())
    assert len(taken) == 6
    assert not taken & {"id", "merged_into_id"}
    assert not any(c.startswith("_") for c in taken)


def test_case_variants_exact_name_wins_regardless_of_order() -> None:
    first = ColumnMapper().assign(["Email", "email"])
    second = ColumnMapper().assign(["email", "Email"])
    assert first == second
    assert first["email"] == "email"
    assert first["Email"] != "email"


def test_mapping_is_stable_across_runs_and_new_names_never_steal() -> None:
    run1 = ColumnMapper().assign(["Deal Name", "amount", "select"])
    assert run1["Deal Name"] == "deal_name"
    # Run 2: a new property that sanitizes to an existing column, plus the old ones.
    mapper = ColumnMapper(run1)
    run2 = mapper.assign(["deal_name", "Deal Name", "amount", "select", "new_one"])
    for name, column in run1.items():
        assert run2[name] == column
    assert run2["deal_name"] != "deal_name"
    assert run2["new_one"] == "new_one"
    # Deterministic: the same inputs give the same names.
    assert ColumnMapper(run1).assign(["new_one", "deal_name"]) == {
        "new_one": run2["new_one"],
        "deal_name": run2["deal_name"],
    }


def test_many_colliding_names_stay_unique() -> None:
    names = [f"{'x' * 80}{i}" for i in range(300)] + ["a b", "a-b", "a_b", "A_B", "a__b"]
    mapping = ColumnMapper().assign(names)
    assert len(set(mapping.values())) == len(names)
