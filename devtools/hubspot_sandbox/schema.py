"""Validation and normalisation of property definitions, property values and object types.

Used both by the fixture loader (errors carry the dotted key path, e.g.
``records.contacts[3].properties.email``) and by the mutation API (errors become 400s).
Values are normalised to HubSpot's wire format: datetimes ``2024-01-02T03:04:05.678Z``,
dates ``YYYY-MM-DD``, bools ``true``/``false``, multi-checkbox values ``a;b``.
"""

from __future__ import annotations

import re
from typing import Any

from ._util import FixtureError, date_str, iso_ms, parse_datetime_ms
from .catalog import (
    DEFAULT_FIELD_TYPE,
    FIELD_TYPES,
    PROPERTY_TYPES,
    SCOPE_CUSTOM,
    STANDARD_OBJECTS,
    STANDARD_PROPERTIES,
    system_properties,
)
from .model import ObjectType

PROPERTY_NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_\-]*$")
CUSTOM_TYPE_ID_RE = re.compile(r"^2-\d+$")
PROPERTY_KEYS = {
    "name",
    "label",
    "type",
    "fieldType",
    "groupName",
    "description",
    "options",
    "displayOrder",
    "hasUniqueValue",
    "hidden",
    "calculated",
    "calculationFormula",
    "externalOptions",
    "hubspotDefined",
    "formField",
    "referencedObjectType",
    "showCurrencySymbol",
    "currencyPropertyName",
    "numberDisplayHint",
    "textDisplayHint",
    "dateDisplayHint",
    "dataSensitivity",
    "sensitiveDataCategories",
    "modificationMetadata",
    "archived",
    "archivedAt",
    "createdAt",
    "updatedAt",
    "createdUserId",
    "updatedUserId",
    "readOnly",
}


def _fail(path: str, message: str) -> FixtureError:
    return FixtureError(path, message)


def _ts(value: Any, path: str) -> int:
    try:
        return parse_datetime_ms(value)
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"not a timestamp (ISO-8601 or ms epoch): {value!r}") from exc


def normalize_options(options: Any, path: str) -> list[dict[str, Any]]:
    """Normalise enumeration options; strings are accepted as shorthand for ``{value,label}``."""
    if options is None:
        return []
    if not isinstance(options, list):
        raise _fail(path, "must be a list")
    out = []
    for i, opt in enumerate(options):
        p = f"{path}[{i}]"
        if isinstance(opt, str):
            opt = {"value": opt, "label": opt}
        if not isinstance(opt, dict) or "value" not in opt:
            raise _fail(p, "option must be a string or an object with 'value'")
        value = str(opt["value"])
        out.append(
            {
                "label": str(opt.get("label", value)),
                "value": value,
                "description": str(opt.get("description", "")),
                "displayOrder": int(opt.get("displayOrder", i)),
                "hidden": bool(opt.get("hidden", False)),
            }
        )
    return out


def normalize_property(
    defn: Any, path: str, group: str, hubspot_defined: bool = False, created_at: int = 0
) -> dict[str, Any]:
    """Validate a property definition and fill HubSpot's defaults. Raises FixtureError."""
    if not isinstance(defn, dict):
        raise _fail(path, "property definition must be an object")
    for key in defn:
        if key not in PROPERTY_KEYS:
            raise _fail(f"{path}.{key}", "unknown property definition key")
    name = defn.get("name")
    if not isinstance(name, str) or not PROPERTY_NAME_RE.match(name):
        raise _fail(f"{path}.name", f"required lower-case property name, got {name!r}")
    ptype = defn.get("type")
    if ptype not in PROPERTY_TYPES:
        raise _fail(f"{path}.type", f"must be one of {', '.join(PROPERTY_TYPES)}; got {ptype!r}")
    field_type = defn.get("fieldType", DEFAULT_FIELD_TYPE[ptype])
    if field_type not in FIELD_TYPES:
        raise _fail(f"{path}.fieldType", f"must be one of {', '.join(FIELD_TYPES)}; got {field_type!r}")
    if field_type == "checkbox" and ptype != "enumeration":
        raise _fail(f"{path}.fieldType", "'checkbox' (multi-select) requires type 'enumeration'")
    options = normalize_options(defn.get("options"), f"{path}.options")
    if options and ptype not in ("enumeration", "bool"):
        raise _fail(f"{path}.options", f"options are only valid for enumeration/bool, not {ptype}")
    if ptype == "bool" and not options:
        options = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False, "description": ""},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False, "description": ""},
        ]
    read_only = bool(defn.get("readOnly", False))
    ts_created = _ts(defn["createdAt"], f"{path}.createdAt") if "createdAt" in defn else created_at
    ts_updated = _ts(defn["updatedAt"], f"{path}.updatedAt") if "updatedAt" in defn else ts_created
    out: dict[str, Any] = {
        "name": name,
        "label": str(defn.get("label", name)),
        "type": ptype,
        "fieldType": field_type,
        "groupName": str(defn.get("groupName", group)),
        "description": str(defn.get("description", "")),
        "options": options,
        "displayOrder": int(defn.get("displayOrder", -1)),
        "calculated": bool(defn.get("calculated", False)),
        "externalOptions": bool(defn.get("externalOptions", False)),
        "hasUniqueValue": bool(defn.get("hasUniqueValue", False)),
        "hidden": bool(defn.get("hidden", False)),
        "hubspotDefined": bool(defn.get("hubspotDefined", hubspot_defined)),
        "formField": bool(defn.get("formField", not read_only)),
        "dataSensitivity": str(defn.get("dataSensitivity", "non_sensitive")),
        "modificationMetadata": defn.get(
            "modificationMetadata",
            {
                "archivable": not hubspot_defined,
                "readOnlyDefinition": hubspot_defined,
                "readOnlyValue": read_only,
            },
        ),
        "archived": bool(defn.get("archived", False)),
        "createdAt": iso_ms(ts_created),
        "updatedAt": iso_ms(ts_updated),
    }
    for key in (
        "calculationFormula",
        "referencedObjectType",
        "showCurrencySymbol",
        "currencyPropertyName",
        "numberDisplayHint",
        "textDisplayHint",
        "dateDisplayHint",
        "sensitiveDataCategories",
        "createdUserId",
        "updatedUserId",
    ):
        if key in defn:
            out[key] = defn[key]
    if out["archived"]:
        out["archivedAt"] = iso_ms(_ts(defn.get("archivedAt", ts_updated), f"{path}.archivedAt"))
    return out


def normalize_value(prop: dict[str, Any], value: Any, path: str) -> str | None:
    """Normalise one property value to its wire string. Raises FixtureError."""
    if value is None:
        return None
    ptype = prop["type"]
    if isinstance(value, list):
        if prop.get("fieldType") != "checkbox":
            raise _fail(path, "lists are only allowed for multi-select (fieldType checkbox) properties")
        value = ";".join(str(v) for v in value)
    elif isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float):
        if ptype in ("datetime", "date"):
            value = str(int(value))
        else:
            value = str(value)
    elif not isinstance(value, str):
        raise _fail(path, f"value must be a string, number, bool, list or null; got {type(value).__name__}")
    if value == "":
        return ""
    if ptype == "number":
        try:
            float(value)
        except ValueError as exc:
            raise _fail(path, f"not a number: {value!r}") from exc
        return value
    if ptype == "bool":
        low = value.lower()
        if low not in ("true", "false"):
            raise _fail(path, f"bool must be 'true' or 'false'; got {value!r}")
        return low
    if ptype == "datetime":
        return iso_ms(_ts(value, path))
    if ptype == "date":
        return date_str(_ts(value, path))
    if ptype == "enumeration" and prop.get("options") and not prop.get("externalOptions"):
        allowed = {o["value"] for o in prop["options"]}
        parts = value.split(";") if prop.get("fieldType") == "checkbox" else [value]
        for part in parts:
            if part not in allowed:
                raise _fail(
                    path, f"{part!r} is not an option of {prop['name']} ({', '.join(sorted(allowed))})"
                )
    return value


def standard_object_type(name: str) -> ObjectType:
    """A standard object type (contacts, calls, line_items, ...) with its catalog properties.
    Object-library objects start inactive (the portal has not activated them)."""
    spec = STANDARD_OBJECTS[name]
    ot = ObjectType(
        object_type_id=spec["objectTypeId"],
        name=name,
        singular=spec["singular"],
        plural=spec["plural"],
        scope=spec["scope"],
        created_property=spec["createdProperty"],
        modified_property=spec["modifiedProperty"],
        default_properties=list(spec["defaultProperties"]),
        primary_display_property=spec["primaryDisplayProperty"],
        searchable_properties=list(spec["searchable"]),
        aliases=tuple(spec.get("aliases", ())),
        library=bool(spec.get("library", False)),
        active=not spec.get("library", False),
    )
    group = f"{spec['singular'].lower().replace(' ', '_')}information"
    for i, defn in enumerate(system_properties(ot.created_property, ot.modified_property)):
        ot.properties[defn["name"]] = normalize_property(defn, f"catalog.{name}[{i}]", group, True)
    for i, defn in enumerate(STANDARD_PROPERTIES[name]):
        ot.properties[defn["name"]] = normalize_property(defn, f"catalog.{name}[{i}]", group, True)
    return ot


def standard_object_names(include_library: bool = True) -> list[str]:
    """Every standard object the sandbox models (catalog order)."""
    return [n for n, s in STANDARD_OBJECTS.items() if include_library or not s.get("library")]


def custom_object_type(spec: Any, path: str, portal_id: int) -> ObjectType:
    """A custom object type from a fixture ``objectTypes`` entry. Raises FixtureError."""
    if not isinstance(spec, dict):
        raise _fail(path, "object type must be an object")
    allowed = {
        "objectTypeId",
        "name",
        "fullyQualifiedName",
        "labels",
        "primaryDisplayProperty",
        "secondaryDisplayProperties",
        "requiredProperties",
        "searchableProperties",
        "description",
        "createdAt",
        "updatedAt",
    }
    for key in spec:
        if key not in allowed:
            raise _fail(f"{path}.{key}", "unknown object type key")
    type_id = spec.get("objectTypeId")
    if not isinstance(type_id, str) or not CUSTOM_TYPE_ID_RE.match(type_id):
        raise _fail(
            f"{path}.objectTypeId", f"custom objects need an objectTypeId like '2-1001'; got {type_id!r}"
        )
    name = spec.get("name")
    if not isinstance(name, str) or not PROPERTY_NAME_RE.match(name):
        raise _fail(f"{path}.name", f"required lower-case name; got {name!r}")
    labels = spec.get("labels") or {}
    if not isinstance(labels, dict):
        raise _fail(f"{path}.labels", "must be an object {singular, plural}")
    singular = str(labels.get("singular", name.rstrip("s").title()))
    plural = str(labels.get("plural", name.title()))
    created = _ts(spec.get("createdAt", "2024-01-01T00:00:00Z"), f"{path}.createdAt")
    ot = ObjectType(
        object_type_id=type_id,
        name=name,
        singular=singular,
        plural=plural,
        scope=SCOPE_CUSTOM,
        created_property="hs_createdate",
        modified_property="hs_lastmodifieddate",
        default_properties=[],
        is_custom=True,
        fully_qualified_name=str(spec.get("fullyQualifiedName", f"p{portal_id}_{name}")),
        primary_display_property=spec.get("primaryDisplayProperty"),
        secondary_display_properties=list(spec.get("secondaryDisplayProperties", [])),
        required_properties=list(spec.get("requiredProperties", [])),
        searchable_properties=list(spec.get("searchableProperties", [])),
        description=spec.get("description"),
        created_at=created,
        updated_at=_ts(spec.get("updatedAt", created), f"{path}.updatedAt"),
    )
    if ot.primary_display_property:
        ot.default_properties = [ot.primary_display_property]
    group = f"{name}_information"
    for i, defn in enumerate(system_properties(ot.created_property, ot.modified_property)):
        ot.properties[defn["name"]] = normalize_property(defn, f"catalog.{name}[{i}]", group, True, created)
    return ot
