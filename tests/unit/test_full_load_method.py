"""``full_load_method`` / ``export_threshold``: config validation, the list/export decision, and
the export trigger's stored kwargs (never the token, never a URL)."""

from __future__ import annotations

import json

import pytest
from hubspot_etl.config import ConfigError, parse_config
from hubspot_etl.sync.bulk_export import choose_full_load
from hubspot_etl.triggers.export import HubSpotExportTrigger


def contacts(**settings):
    return parse_config({"objects": {"contacts": settings}}).objects[0]


def test_defaults_list_with_a_two_million_threshold():
    cfg = contacts()
    assert (cfg.full_load_method, cfg.export_threshold) == ("list", 2_000_000)


def test_method_and_threshold_are_set_per_object_or_in_defaults():
    config = parse_config(
        {
            "defaults": {"full_load_method": "auto", "export_threshold": 500_000},
            "objects": {"contacts": {}, "deals": {"full_load_method": "export"}},
        }
    )
    assert [(o.full_load_method, o.export_threshold) for o in config.objects] == [
        ("auto", 500_000),
        ("export", 500_000),
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"full_load_method": "bulk"},
            "objects.contacts.full_load_method: 'bulk' is none of list, export, auto",
        ),
        (
            {"export_threshold": 0},
            "objects.contacts.export_threshold: Input should be greater than or equal to 1",
        ),
        ({"export_poll_seconds": 0}, "objects.contacts.export_poll_seconds"),
        ({"export_timeout_minutes": 0}, "objects.contacts.export_timeout_minutes"),
    ],
)
def test_invalid_settings_name_the_key(settings, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        contacts(**settings)


@pytest.mark.parametrize(
    ("method", "live", "expected"),
    [
        ("list", 10_000_000, "list"),
        ("export", None, "export"),
        ("export", 3, "export"),
        ("auto", 1_999_999, "list"),
        ("auto", 2_000_000, "export"),
        ("auto", 5_000_000, "export"),
        ("auto", None, "list"),  # the count failed: list, the path that needs no count
    ],
)
def test_auto_exports_from_the_threshold_on(method, live, expected):
    chosen, why = choose_full_load(method, 2_000_000, live)
    assert chosen == expected
    assert method in why


def test_trigger_kwargs_hold_the_connection_id_never_the_token():
    trigger = HubSpotExportTrigger(
        hubspot_conn_id="hubspot_default", export_id="40000001", poll_interval_s=30, deadline=1.8e9
    )
    path, kwargs = trigger.serialize()
    assert path == "hubspot_etl.triggers.export.HubSpotExportTrigger"
    assert kwargs == {
        "hubspot_conn_id": "hubspot_default",
        "export_id": "40000001",
        "poll_interval_s": 30.0,
        "deadline": 1.8e9,
    }
    assert HubSpotExportTrigger(**kwargs).serialize() == (path, kwargs)  # what the triggerer rebuilds
    assert "token" not in json.dumps(kwargs).lower() and "url" not in json.dumps(kwargs).lower()
