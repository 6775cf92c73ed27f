"""Hostile input end to end: property names and values HubSpot (or a broken integration) can send,
through the real DAG, the real HTTP hook and a real PostgreSQL.

Every hostile value is either loaded exactly or quarantined in ``_rejects`` with a reason; the
warehouse still equals the sandbox (oracle); no name can inject SQL; no record is dropped.

Decisions asserted here:

* An enumeration value that is not one of the property's options is **loaded as-is** (text).
  HubSpot itself stores such values (imports, integrations, options deleted later), and the
  warehouse column of an enumeration is text, so there is nothing to reject: the value is the
  truth HubSpot returns.
* ``""`` is NULL for typed columns and not a reject; ``1e400`` fits PostgreSQL ``numeric`` and
  is loaded exactly; ``NaN``, ``1;2``, ``0000-00-00`` and ``yes`` (for a bool) are rejects with
  the NULL column; a NUL byte in text is removed from the stored value and recorded as a
  ``nul_byte`` reject (the run report counts it).

The sandbox validates property names like HubSpot does (``[a-z0-9_-]``), so hostile names are
planted behind its API (``ObjectType.properties``) and invalid values straight into a record's
``overrides``: this is exactly what a misbehaving API response would carry.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hubspot_etl.warehouse.naming import RESERVED_COLUMNS

from tests.support.oracle import check_object

HOSTILE_NAMES = [
    "it's",
    'say "hi"',
    "semi;colon",
    "with space",
    "UPPERCASE",
    "MixedCase",
    "prénom_客户",
    "客户",
    "select",
    "from",
    "table",
    "user",
    "order",
    '"; DROP TABLE contact; --',
    "'; DROP TABLE contact; --",
    "`backtick`",
    "id",
    "merged_into_id",
    "_rejects",
    "_is_deleted",
    "1st",
    "x" * 200,
    "First Name",
    "first_name",
    "FIRST-NAME",
]
COLLIDING = ["First Name", "first_name", "FIRST-NAME"]
VALID_COLUMN = re.compile(r"^[a-z][a-z0-9_]*$")
ONE_MB = "ß🙂" * 100_000 + "x" * (1_000_000 - 300_000)  # 1,000,000 characters, ~1.5 MB UTF-8


def plant_property(portal: Any, object_type: str, name: str, ptype: str, **definition: Any) -> None:
    """Define a property under any name (bypassing the sandbox's name check)."""
    placeholder = f"zz_placeholder_{abs(hash(name))}"
    with portal.lock:
        prop = portal.add_property(object_type, {"name": placeholder, "type": ptype, **definition})
        ot = portal.object_type(object_type)
        del ot.properties[placeholder]
        ot.properties[name] = {**prop, "name": name, "label": name}


def plant_values(portal: Any, object_type: str, record_id: int, values: dict[str, str]) -> None:
    """Set raw wire values on a record (bypassing the sandbox's value validation)."""
    with portal.lock:
        record = portal.object_type(object_type).records[record_id]
        record.overrides = {**(record.overrides or {}), **values}


def schema_tables(env) -> dict[str, set[str]]:
    """Tables of every user schema, to prove nothing was created or dropped by a name."""
    with psycopg.connect(env.pg.uri) as conn:
        rows = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    tables: dict[str, set[str]] = {}
    for schema, table in rows:
        tables.setdefault(schema, set()).add(table)
    return tables


def live_ids(env, object_type: str) -> list[int]:
    return sorted(int(r["id"]) for r in env.snapshot(object_type)["records"] if not r.get("archived"))


def rejects_of(row: dict[str, Any]) -> dict[str, Any]:
    value = row.get("_rejects") or {}
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.portal(contacts=40, companies=5, deals=5, tickets=3, custom=3, extra_properties=2)
def test_hostile_names_and_values_load_or_quarantine(sync_env):
    env, portal = sync_env, sync_env.sandbox.portal
    env.write_config({"contacts": {}})
    first = env.report(env.run("hubspot_contacts"))
    assert first["rejects"] == 0, "the generated portal itself must be clean"
    before = schema_tables(env)
    assert "contact" in before[env.schema]

    # ---- hostile property names, each with a distinctive text value on one record
    for name in HOSTILE_NAMES:
        plant_property(portal, "contacts", name, "string")
    ids = live_ids(env, "contacts")
    named_record = ids[0]
    plant_values(portal, "contacts", named_record, {n: f"v<{n}>" for n in HOSTILE_NAMES})

    # ---- hostile values: typed properties, one record per case
    plant_property(portal, "contacts", "h_text", "string")
    plant_property(portal, "contacts", "h_number", "number")
    plant_property(portal, "contacts", "h_date", "date")
    plant_property(portal, "contacts", "h_bool", "bool")
    plant_property(
        portal,
        "contacts",
        "h_enum",
        "enumeration",
        fieldType="select",
        options=[{"value": "red", "label": "Red"}, {"value": "blue", "label": "Blue"}],
    )
    # (record index, property, raw value, expected column value, reject reason or None)
    cases = [
        (1, "h_text", "nul\x00in\x00text", "nulintext", "nul_byte"),
        (2, "h_text", "emoji 😀🎉👩‍👩‍👧 ok", "emoji 😀🎉👩‍👩‍👧 ok", None),
        (3, "h_text", ONE_MB, ONE_MB, None),
        (4, "h_text", "'); DROP TABLE contact; --", "'); DROP TABLE contact; --", None),
        (1, "h_number", "1;2", None, "invalid_number"),
        (2, "h_number", "1e400", Decimal("1e400"), None),
        (3, "h_number", "NaN", None, "invalid_number"),
        (4, "h_number", "-0.000000000000000000000000000001", Decimal("-1e-30"), None),
        (1, "h_date", "0000-00-00", None, "invalid_date"),
        (2, "h_date", "", None, None),
        (3, "h_date", "2024-02-29", date(2024, 2, 29), None),
        (1, "h_bool", "yes", None, "invalid_boolean"),
        (2, "h_bool", "TRUE", True, None),
        (1, "h_enum", "purple", "purple", None),  # not an option: kept as text (see docstring)
        (2, "h_enum", "red", "red", None),
    ]
    for index, prop, raw, _, _ in cases:
        plant_values(portal, "contacts", ids[index], {prop: raw})
    planted_rejects = sum(1 for *_, reason in cases if reason is not None)

    report = env.report(env.run("hubspot_contacts", full_load=True))

    # ---- nothing injected: the same tables in every schema, contact intact, no record dropped
    after = schema_tables(env)
    assert after == before, f"tables changed: {before} -> {after}"
    rows = {int(r["id"]): r for r in env.view.rows("contact")}
    live = set(live_ids(env, "contacts"))
    assert {i for i, r in rows.items() if not r["_is_deleted"]} == live
    assert report["records_fetched"] == len(live)

    # ---- the column map: every hostile name has its own valid column
    mapping = env.view.column_map("contacts")
    columns = {n: mapping[n]["column_name"] for n in HOSTILE_NAMES}
    assert not any(mapping[n]["spilled"] for n in HOSTILE_NAMES)
    assert len(set(columns.values())) == len(HOSTILE_NAMES), f"hostile names share columns: {columns}"
    all_columns = [spec["column_name"] for spec in mapping.values() if not spec["spilled"]]
    assert len(set(all_columns)) == len(all_columns), "two properties share a column"
    for name, column in columns.items():
        assert VALID_COLUMN.match(column), f"{name!r} -> invalid column {column!r}"
        assert len(column.encode()) <= 63 and column not in RESERVED_COLUMNS, (name, column)
    assert columns["first_name"] == "first_name", "the exact name wins over names that collide with it"
    assert len({columns[n] for n in COLLIDING}) == 3
    row = rows[named_record]
    for name, column in columns.items():
        assert row[column] == f"v<{name}>", f"{name!r} -> {column}: {row[column]!r}"
    assert not rejects_of(row)

    # ---- each hostile value: loaded exactly, or NULL + _rejects with the reason
    for index, prop, raw, expected, reason in cases:
        row = rows[ids[index]]
        actual = row[mapping[prop]["column_name"]]
        assert actual == expected and type(actual) is type(expected), (prop, raw[:40], str(actual)[:40])
        rejected = rejects_of(row).get(prop)
        if reason is None:
            assert rejected is None, (prop, raw[:40], rejected)
        else:
            assert rejected == {"value": raw.replace("\x00", "\\u0000"), "reason": reason}, (prop, rejected)

    # ---- the run report counts exactly the planted rejects
    assert report["rejects"] == planted_rejects
    assert report["status"] == "with_errors"

    # ---- and the warehouse equals the sandbox
    problems = check_object(env.view, env.snapshot("contacts"), "contact", "contacts")
    assert problems == [], "\n".join(problems)


@pytest.mark.portal(contacts=5, companies=5, deals=40, tickets=3, custom=3, extra_properties=0)
def test_object_with_2000_properties(sync_env):
    """2,000 custom properties (over PostgreSQL's 1,600-column limit) of every type, some
    populated on a few records: the run succeeds, no value is lost (column, spill or per-row
    overflow), no reject is invented, and the warehouse equals the sandbox."""
    env, portal = sync_env, sync_env.sandbox.portal
    types = ["string", "number", "date", "datetime", "bool"]
    names = [f"wide_{i:04d}_{types[i % 5]}" for i in range(2000)]
    for i, name in enumerate(names):
        portal.add_property("deals", {"name": name, "type": types[i % 5]})
    samples = {"string": "s", "number": "12.5", "date": "2024-05-06", "datetime": "2024-05-06T07:08:09.123Z",
               "bool": "true"}  # fmt: skip
    ids = live_ids(env, "deals")
    for n, record_id in enumerate(ids[:4]):
        populated = names if n == 0 else names[n::7]
        portal.update("deals", record_id, {p: samples[p.rsplit("_", 1)[1]] for p in populated})
    env.write_config({"deals": {}})

    report = env.report(env.run("hubspot_deals"))

    assert report["rejects"] == 0 and report["status"] == "healthy"
    assert report["columns_spilled"] > 0
    rows = env.view.rows("deal")
    assert {int(r["id"]) for r in rows if not r["_is_deleted"]} == set(live_ids(env, "deals"))
    mapping = env.view.column_map("deals")
    assert set(names) <= set(mapping)
    columns = [spec["column_name"] for spec in mapping.values() if not spec["spilled"]]
    assert len(set(columns)) == len(columns)
    problems = check_object(env.view, env.snapshot("deals"), "deal", "deals")
    assert problems == [], "\n".join(problems)


@pytest.mark.portal(contacts=10, companies=3, deals=3, tickets=2, custom=2, extra_properties=0)
def test_lone_surrogate_value_is_quarantined_not_fatal(sync_env):
    """HubSpot's JSON can carry a lone UTF-16 surrogate (``"\\ud83d"``: an emoji cut in half by a
    length limit). It must not fail the run: the text is stored with U+FFFD in its place and an
    ``invalid_unicode`` note in ``_rejects`` (the rule of ``warehouse/types.py``)."""
    env, portal = sync_env, sync_env.sandbox.portal
    env.write_config({"contacts": {}})
    plant_property(portal, "contacts", "h_text", "string")
    record_id = live_ids(env, "contacts")[0]
    plant_values(portal, "contacts", record_id, {"h_text": "cut \ud83d emoji"})

    report = env.report(env.run("hubspot_contacts"))

    column = env.view.column_map("contacts")["h_text"]["column_name"]
    row = next(r for r in env.view.rows("contact") if int(r["id"]) == record_id)
    assert row[column] == "cut \ufffd emoji"
    assert rejects_of(row)["h_text"] == {"value": "cut \ufffd emoji", "reason": "invalid_unicode"}
    assert report["rejects"] == 1 and report["status"] == "with_errors"
