"""The HubSpot connection form: declarative ``conn-fields`` and ``ui-field-behaviour``.

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


def conn_fields() -> dict[str, dict]:
    """Airflow >= 3.2 declarative ``conn-fields``."""
    return {
        "api_version": {
            "label": "API version",
            "description": "'v3' (legacy /crm/v3 paths) or a date version such as '2026-09'.",
            "schema": {"type": ["string", "null"], "default": "v3"},
        },
        "rate_limit_max": {
            "label": "Requests per interval",
            "description": "Client-side burst budget; keep below HubSpot's limit (190 per 10 s).",
            "schema": {"type": ["integer", "null"], "default": 180},
        },
        "rate_limit_interval_ms": {
            "label": "Rate-limit interval (ms)",
            "schema": {"type": ["integer", "null"], "default": 10000},
        },
        "search_per_second": {
            "label": "Search requests per second",
            "schema": {"type": ["integer", "null"], "default": 4},
        },
        "max_retries": {
            "label": "Max retries per request",
            "schema": {"type": ["integer", "null"], "default": 8},
        },
        "read_timeout": {
            "label": "Read timeout (s)",
            "schema": {"type": ["number", "null"], "default": 120},
        },
    }


def ui_field_behaviour() -> dict[str, Any]:
    """Airflow >= 3.2 declarative ``ui-field-behaviour`` (kebab-case keys)."""
    return {
        "hidden-fields": ["login", "schema", "port"],
        "relabeling": {"password": "Private app / service key token", "host": "API host"},
        "placeholders": {"host": DEFAULT_HOST, "api_version": "v3"},
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
