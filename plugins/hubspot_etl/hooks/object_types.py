"""Standard HubSpot object types (fact sheet §3) and per-type search conventions."""

from __future__ import annotations

STANDARD_OBJECT_TYPES: dict[str, str] = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "products": "0-7",
    "line_items": "0-8",
    "quotes": "0-14",
    "communications": "0-18",
    "feedback_submissions": "0-19",
    "tasks": "0-27",
    "notes": "0-46",
    "meetings": "0-47",
    "calls": "0-48",
    "emails": "0-49",
    "invoices": "0-53",
    "marketing_events": "0-54",
    "subscriptions": "0-69",
    "goals": "0-74",
    "discounts": "0-84",
    "fees": "0-85",
    "taxes": "0-86",
    "commerce_payments": "0-101",
    "users": "0-115",
    "postal_mail": "0-116",
    "orders": "0-123",
    "leads": "0-136",
    "carts": "0-142",
    "services": "0-162",
    "courses": "0-410",
    "listings": "0-420",
    "appointments": "0-421",
    "projects": "0-970",
}
STANDARD_BY_ID: dict[str, str] = {v: k for k, v in STANDARD_OBJECT_TYPES.items()}

#: standard objects that HubSpot's object library activates in a portal later, under a name an
#: existing custom object of that portal may already have: a bare name is ambiguous
LIBRARY_OBJECTS: frozenset[str] = frozenset({"services", "courses", "listings", "appointments"})

#: singular spellings accepted by :func:`standard_object_type`
_ALIASES: dict[str, str] = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
    "product": "products",
    "line_item": "line_items",
    "quote": "quotes",
    "task": "tasks",
    "note": "notes",
    "meeting": "meetings",
    "call": "calls",
    "email": "emails",
    "invoice": "invoices",
    "payments": "commerce_payments",
    "order": "orders",
    "lead": "leads",
    "cart": "carts",
}


def standard_object_type(name_or_id: str) -> dict | None:
    """Return ``{"name", "object_type_id", "fully_qualified_name", "custom": False}`` or None."""
    key = str(name_or_id).strip().lower()
    key = _ALIASES.get(key, key)
    if key in STANDARD_OBJECT_TYPES:
        name, type_id = key, STANDARD_OBJECT_TYPES[key]
    elif key in STANDARD_BY_ID:
        name, type_id = STANDARD_BY_ID[key], key
    else:
        return None
    return {"name": name, "object_type_id": type_id, "fully_qualified_name": name, "custom": False}


def ambiguity(name: str) -> str | None:
    """Why a bare configured name is ambiguous (None if it is not); names the standard id."""
    key = str(name).strip().lower()
    if key not in LIBRARY_OBJECTS:
        return None
    type_id = STANDARD_OBJECT_TYPES[key]
    return (
        f"{name!r} can mean HubSpot's {key} object ({type_id}) or a custom object named {key}: "
        f"write {type_id!r} for HubSpot's, or the custom object's fullyQualifiedName (p<portal id>_{key}) "
        "or objectTypeId (2-...) from Settings > Data model"
    )


def last_modified_property(object_type: str) -> str:
    """Contacts are searched on ``lastmodifieddate``; every other object on ``hs_lastmodifieddate``."""
    info = standard_object_type(object_type)
    return "lastmodifieddate" if info and info["name"] == "contacts" else "hs_lastmodifieddate"
