"""The HubSpot connection form: declarative ``conn-fields`` and ``ui-field-behaviour``.

Every extra the README documents has a field. None has a ``default`` in its schema: the form
would write it into the connection's extra on save, freezing today's default into every
connection. An empty field stays unset and the hook's default applies (named in the field's
description and placeholder).

Kept free of Airflow and ``requests`` imports: Airflow's ProvidersManager calls
``hubspot_etl.get_provider_info()`` while it may itself be importing the hook module, so
the provider metadata must not import the hook.
"""

from __future__ import annotations

from typing import Any

DEFAULT_HOST = "https://api.hubapi.com"
CONN_TYPE = "hubspot"
HOOK_CLASS = "hubspot_etl.hooks.hubspot.HubSpotHook"
HOOK_NAME = "HubSpot"

#: extra -> (label, JSON type, description, the hook's default shown as placeholder)
EXTRA_FIELDS: dict[str, tuple[str, str, str, str]] = {
    "api_version": (
        "API version",
        "string",
        "'v3' (the /crm/v3 paths) or a date version such as '2026-09'. Empty: v3.",
        "v3",
    ),
    "rate_limit_max": (
        "Requests per interval",
        "integer",
        "Client-side budget per rate-limit interval, below HubSpot's limit (190 per 10 s). Empty: 180.",
        "180",
    ),
    "rate_limit_interval_ms": (
        "Rate-limit interval (ms)",
        "integer",
        "Length of that interval. Empty: 10000.",
        "10000",
    ),
    "search_per_second": (
        "Search requests per second",
        "integer",
        "Search API budget (HubSpot allows 5 per second). Empty: 4.",
        "4",
    ),
    "list_concurrency": (
        "Listing concurrency",
        "integer",
        "Cursor chains a full listing runs at once over id ranges; 1 lists serially. Empty: 4.",
        "4",
    ),
    "max_retries": (
        "Max retries per request",
        "integer",
        "Retries of one HTTP request on 429, 5xx and dropped connections. Empty: 8.",
        "8",
    ),
    "connect_timeout": ("Connect timeout (s)", "number", "Empty: 10.", "10"),
    "read_timeout": ("Read timeout (s)", "number", "Empty: 120.", "120"),
}


def conn_fields() -> dict[str, dict]:
    """Airflow >= 3.2 declarative ``conn-fields`` (no defaults: see the module docstring)."""
    return {
        name: {"label": label, "description": description, "schema": {"type": [kind, "null"]}}
        for name, (label, kind, description, _) in EXTRA_FIELDS.items()
    }


def ui_field_behaviour() -> dict[str, Any]:
    """Airflow >= 3.2 declarative ``ui-field-behaviour`` (kebab-case keys)."""
    return {
        "hidden-fields": ["login", "schema", "port"],
        "relabeling": {"password": "Private app / service key token", "host": "API host"},
        "placeholders": {
            "host": DEFAULT_HOST,
            **{name: placeholder for name, (_, _, _, placeholder) in EXTRA_FIELDS.items()},
        },
    }


def connection_type_info() -> dict[str, Any]:
    """Complete ``connection-types`` entry for ``get_provider_info()``."""
    return {
        "connection-type": CONN_TYPE,
        "hook-class-name": HOOK_CLASS,
        "hook-name": HOOK_NAME,
        "ui-field-behaviour": ui_field_behaviour(),
        "conn-fields": conn_fields(),
    }
