"""The single place that maps logical HubSpot endpoints to URL paths.

Two families are supported (fact sheet §0):

* ``"v3"`` - the semantic-version paths (``/crm/v3/...``, associations on ``/crm/v4/...``);
* date versions such as ``"2026-09"`` (or ``"2026-03"``) - ``/crm/objects/2026-09/...`` etc.

Logical endpoint names double as the keys of ``HubSpotHook.stats.calls``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

ENDPOINTS = (
    "objects.list",
    "objects.search",
    "objects.batch_read",
    "properties",
    "schemas",
    "pipelines",
    "owners",
    "associations.batch_read",
    "associations.labels",
    "exports.start",
    "exports.status",
    "exports.get",
)

_V3: dict[str, str] = {
    "objects.list": "/crm/v3/objects/{object_type}",
    "objects.search": "/crm/v3/objects/{object_type}/search",
    "objects.batch_read": "/crm/v3/objects/{object_type}/batch/read",
    "properties": "/crm/v3/properties/{object_type}",
    "schemas": "/crm-object-schemas/v3/schemas",
    "pipelines": "/crm/v3/pipelines/{object_type}",
    "owners": "/crm/v3/owners",
    "associations.batch_read": "/crm/v4/associations/{from_type}/{to_type}/batch/read",
    "associations.labels": "/crm/associations/v4/{from_type}/{to_type}/labels",
    "exports.start": "/crm/v3/exports/export/async",
    "exports.status": "/crm/v3/exports/export/async/tasks/{task_id}/status",
    "exports.get": "/crm/v3/exports/export/{export_id}",
}

_DATED: dict[str, str] = {
    "objects.list": "/crm/objects/{v}/{object_type}",
    "objects.search": "/crm/objects/{v}/{object_type}/search",
    "objects.batch_read": "/crm/objects/{v}/{object_type}/batch/read",
    "properties": "/crm/properties/{v}/{object_type}",
    "schemas": "/crm-object-schemas/{v}/schemas",
    "pipelines": "/crm/pipelines/{v}/{object_type}",
    "owners": "/crm/owners/{v}",
    "associations.batch_read": "/crm/associations/{v}/{from_type}/{to_type}/batch/read",
    "associations.labels": "/crm/associations/{v}/{from_type}/{to_type}/labels",
    "exports.start": "/crm/exports/{v}/export/async",
    "exports.status": "/crm/exports/{v}/export/async/tasks/{task_id}/status",
    "exports.get": "/crm/exports/{v}/export/{export_id}",
}

_DATE_VERSION = re.compile(r"^\d{4}-\d{2}$")


def validate_api_version(api_version: str) -> str:
    """Return the normalised version (``v3`` or ``YYYY-MM``) or raise ``ValueError``."""
    version = (api_version or "v3").strip().lower()
    if version in ("v3", "v4", "legacy"):
        return "v3"
    if _DATE_VERSION.match(version):
        return version
    raise ValueError(
        f"Unsupported HubSpot api_version {api_version!r}; use 'v3' or a date version like '2026-09'"
    )


def build_path(api_version: str, endpoint: str, **params: str) -> str:
    """Return the URL path for ``endpoint``; path parameters are percent-encoded.

    >>> build_path("2026-09", "objects.search", object_type="contacts")
    '/crm/objects/2026-09/contacts/search'
    """
    version = validate_api_version(api_version)
    table = _V3 if version == "v3" else _DATED
    try:
        template = table[endpoint]
    except KeyError:
        raise ValueError(f"Unknown HubSpot endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}") from None
    encoded = {key: quote(str(value), safe="") for key, value in params.items()}
    return template.format(v=version, **encoded)
