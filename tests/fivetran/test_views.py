"""The views over a native schema written directly (no sync): hostile property names, a widened
column, a restore, and the refresh being a no-op when nothing changed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fivetran.conftest import KINDS, FivetranEnv

HOSTILE = ['we"ird', "x'; DROP TABLE contact; --", "Caps", "address2", "n" * 70]


def prop(name: str, type_: str = "string", field_type: str = "text", **extra) -> dict:
    return {"name": name, "label": name, "type": type_, "fieldType": field_type, **extra}


PROPS = [
    prop("email"),
    prop(
        "lifecyclestage",
        "enumeration",
        "select",
        options=[
            {"value": "lead", "label": "Lead", "displayOrder": 1, "hidden": False},
            {"value": "customer", "label": "Customer", "displayOrder": 2, "hidden": False},
        ],
    ),
    prop("score", "number", "number"),
    *(prop(n) for n in HOSTILE),
]


@pytest.mark.parametrize("warehouse_kind", KINDS, indirect=True)
def test_views_quote_hostile_names_and_follow_the_native_rows(
    ft: FivetranEnv, warehouse_kind, write_part
) -> None:
    wh = ft.warehouse()
    wh.ensure_schema()
    wh.ensure_object_table("contacts", PROPS)
    record = {
        "id": "7",
        "properties": {
            "email": "a@example.com",
            "score": "12",
            "lifecyclestage": "lead",
            **{n: f"v{i}" for i, n in enumerate(HOSTILE)},
        },
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-02T00:00:00Z",
    }
    wh.load_part("contacts", "p1", write_part([record]))
    assert wh.fivetran.publish(portal_id=99)["refreshed"] == 30
    assert wh.fivetran.publish()["refreshed"] == 0  # nothing changed

    row = ft.rows("contact")[0]
    assert row["id"] == 7 and row["property_email"] == "a@example.com" and row["_fivetran_deleted"] is False
    assert row["property_address_2"] == "v3"
    assert row["property_caps"] == "v2"
    if warehouse_kind == "bigquery":  # names BigQuery cannot carry are left out
        assert not [c for c in row if "weird" in c or "drop" in c]
    else:
        assert row['property_we"ird'] == "v0"
        assert row["property_x'; drop table contact; --"] == "v1"
    assert ("property_" + "n" * 70 in row) is (warehouse_kind != "postgres")  # 63 bytes on PostgreSQL
    assert ft.families("contact")["property_score"] == "numeric"
    options = {
        (r["property_id"], r["value"], r["label"], r["hubspot_object"]) for r in ft.rows("property_option")
    }
    assert options == {
        ("contacts.lifecyclestage", "lead", "Lead", "contact"),
        ("contacts.lifecyclestage", "customer", "Customer", "contact"),
    }

    wh.mark_deleted("contacts", [(7, "archived", None, None)])
    assert ft.rows("contact")[0]["_fivetran_deleted"] is True  # a view: no refresh needed
    wh.restore("contacts", [7])
    assert ft.rows("contact")[0]["_fivetran_deleted"] is False

    # a property that changes type: the column is widened to text (PostgreSQL drops and
    # re-creates the views reading it in the same step; elsewhere the next publish refreshes)
    wh.ensure_object_table("contacts", [p if p["name"] != "score" else prop("score") for p in PROPS])
    assert wh.fivetran.publish()["refreshed"] == (0 if warehouse_kind == "postgres" else 1)
    assert ft.families("contact")["property_score"] == "text"
    assert Decimal(ft.rows("contact")[0]["property_score"]) == 12


@pytest.mark.parametrize("warehouse_kind", ["postgres", "bigquery"], indirect=True)
def test_concurrent_publishes_do_not_race(ft: FivetranEnv, warehouse_kind) -> None:
    """Two syncs finishing at once: the lock serialises them; each view is replaced once."""
    from concurrent.futures import ThreadPoolExecutor

    wh = ft.warehouse()
    wh.ensure_schema()
    wh.ensure_object_table("contacts", PROPS[:3])
    workers = [ft.warehouse() for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda w: w.fivetran.publish(portal_id=5), workers))
    assert sorted(r["refreshed"] for r in results) == [0, 0, 30]
    assert len(ft.views()) == 30


def test_the_portal_id_comes_from_account_info(ft: FivetranEnv) -> None:
    hook = ft.hook()
    assert hook.get_portal_id() == 12345678
    assert hook.stats.as_dict()["calls"]["account.details"] == 1


def test_an_unreadable_portal_id_keeps_the_stored_one(ft: FivetranEnv) -> None:
    from hubspot_etl.hooks.errors import HubSpotNotFound
    from hubspot_etl.warehouse.fivetran import publish_views

    class NoAccountInfo:
        def get_portal_id(self) -> int:
            raise HubSpotNotFound("404 on /account-info/v3/details")

    wh = ft.warehouse()
    wh.ensure_schema()
    assert publish_views(wh, ft.hook)["refreshed"] == 30
    assert publish_views(wh, NoAccountInfo)["refreshed"] == 0  # portal_id kept: the views unchanged
    assert ft.query("SELECT value FROM {native._hubspot_settings} WHERE setting = 'portal_id'") == [
        {"value": "12345678"}
    ]
