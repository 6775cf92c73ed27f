"""The sync config: overlays, defaults and errors that name the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hubspot_etl.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid_for_every_environment():
    base = load_config(REPO / "dags" / "hubspot_sync.yaml", env="")
    on = [o.key for o in base.objects if o.enabled]
    off = [o.key for o in base.objects if not o.enabled]
    assert on == ["contacts", "companies", "deals", "tickets", "services"] + [
        "calls",
        "emails",
        "meetings",
        "notes",
        "tasks",
        "communications",
        "line_items",
    ]
    assert set(off) == {
        "hubspot_services",
        "products",
        "quotes",
        "invoices",
        "leads",
        "goals",
        "appointments",
        "courses",
        "listings",
    }
    assert base.object("deals").history == ("dealstage", "amount", "closedate")
    assert base.object("appointments").object_type == "0-421"
    for env in ("dev", "staging", "prod"):
        assert load_config(REPO / "dags" / "hubspot_sync.yaml", env=env).environment == env


def test_environment_overlay_changes_only_what_it_names(tmp_path):
    path = tmp_path / "sync.yaml"
    path.write_text(
        textwrap.dedent(
            """
            defaults:
              destination: {type: postgres, conn_id: wh, schema: crm}
              lookback_minutes: 5
            objects:
              deals: {associations: [companies]}
              contacts: {}
            environments:
              prod:
                defaults: {destination: {schema: crm_prod}}
                objects: {deals: {destination: {type: bigquery, conn_id: gcp, project: p1}}}
            """
        )
    )
    base = load_config(path, env="")
    prod = load_config(path, env="prod")
    assert base.object("deals").destination.schema_name == "crm"
    assert prod.object("contacts").destination.schema_name == "crm_prod"
    assert prod.object("contacts").destination.conn_id == "wh"
    deals = prod.object("deals").destination
    assert (deals.type, deals.conn_id, deals.project, deals.schema_name) == (
        "bigquery",
        "gcp",
        "p1",
        "crm_prod",
    )
    assert prod.object("deals").associations == ("companies",)
    assert prod.object("deals").lookback_minutes == 5


@pytest.mark.parametrize(
    ("document", "env", "expected"),
    [
        (
            {"objects": {"deals": {"destination": {"type": "redshift"}}}},
            None,
            "objects.deals.destination.type",
        ),
        ({"objects": {"deals": {"shedule": "0 * * * *"}}}, None, "objects.deals.shedule"),
        ({"objects": {"deals": {"schedule": "every day"}}}, None, "objects.deals.schedule"),
        ({"objects": {"deals": {"lookback_minutes": -1}}}, None, "objects.deals.lookback_minutes"),
        ({"objects": {"Bad-Key": {}}}, None, "objects.Bad-Key"),
        (
            {"objects": {"deals": {"destination": {"schema": "a;b"}}}},
            None,
            "objects.deals.destination.schema",
        ),
        ({"defaults": {"retries": "many"}, "objects": {"deals": {}}}, None, "objects.deals.retries"),
        ({"objects": {"deals": {}}, "environments": {"dev": {}}}, "prod", "environments.prod"),
        (
            {"objects": {"deals": {}}, "environments": {"dev": {"objects": {"tickets": {}}}}},
            "dev",
            "environments.dev.objects.tickets",
        ),
        (
            {"objects": {"a": {"object_type": "deals"}, "b": {"object_type": "deals"}}},
            None,
            "objects.b.object_type",
        ),
        ({"objekts": {}}, None, "objekts"),
        ({"objects": ["deals"]}, None, "objects: must be a mapping"),
    ],
)
def test_bad_config_names_the_key(document, env, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(document, env=env, source="sync.yaml")
    assert expected in str(error.value)
    assert "sync.yaml" in str(error.value)


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("objects: {deals: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize(
    ("document", "key", "standard_id"),
    [
        ({"objects": {"services": {}}}, "objects.services.object_type", "0-162"),
        ({"objects": {"mine": {"object_type": "Listings"}}}, "objects.mine.object_type", "0-420"),
        (
            {"objects": {"contacts": {"associations": ["appointments"]}}},
            "objects.contacts.associations",
            "0-421",
        ),
    ],
)
def test_a_name_that_can_mean_two_objects_fails_naming_the_standard_id(document, key, standard_id):
    with pytest.raises(ConfigError) as error:
        parse_config(document, source="sync.yaml")
    text = str(error.value)
    assert key in text and standard_id in text and "fullyQualifiedName" in text and "objectTypeId" in text


def test_unambiguous_spellings_are_accepted_and_tables_never_collide():
    config = parse_config(
        {
            "objects": {
                "services": {"object_type": "p12345678_services"},
                "hs_services": {"object_type": "0-162"},
            }
        }
    )
    assert [o.planned_table for o in config.objects] == ["services", "service"]
    with pytest.raises(ConfigError, match="its table 'contact' in hubspot is also that of objects.people"):
        parse_config({"objects": {"people": {"object_type": "0-1"}, "contacts": {}}})
    # another schema: no collision
    parse_config(
        {"objects": {"people": {"object_type": "0-1", "destination": {"schema": "other"}}, "contacts": {}}}
    )
