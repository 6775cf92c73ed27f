"""Builders for HubSpot-shaped test data, shared by the PostgreSQL and BigQuery adapter tests."""

from __future__ import annotations

from typing import Any


def record(
    rid: int | str,
    updated: str = "2024-05-01T10:00:00.000Z",
    archived: bool = False,
    **props: str | None,
) -> dict:
    """A HubSpot record as the v3 API returns it."""
    return {
        "id": str(rid),
        "properties": props,
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": updated,
        "archived": archived,
        "archivedAt": "2024-06-01T00:00:00Z" if archived else None,
    }


def prop(name: str, type_: str = "string", **extra: Any) -> dict:
    """A HubSpot property definition."""
    return {
        "name": name,
        "label": name.title(),
        "type": type_,
        "fieldType": "text",
        "groupName": "g",
        "description": "",
        "options": [],
        "hubspotDefined": False,
        **extra,
    }
