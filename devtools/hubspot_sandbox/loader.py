"""Fixture loading/validation (``load_portal``) and serialisation (``dump_portal``).

The fixture format is documented in ``docs/sandbox.md``. Validation errors are
:class:`FixtureError` whose message and ``key`` attribute name the offending key with a
dotted path such as ``records.contacts[2].properties.lifecyclestage``.
"""

from __future__ import annotations

from typing import Any

from ._util import iso_ms
from .catalog import DEFAULT_ASSOCIATION_TYPES, DEFAULT_PIPELINES, PIPELINE_PROPERTIES, STANDARD_OBJECTS
from .families import FAMILY_LABELLED_TYPES
from .history import IMPORT, MERGE, parse_entry
from .history import wire as history_wire
from .model import ObjectType, Record
from .portal import ACCOUNT_DEFAULTS, DEFAULT_PORTAL_ID, Portal
from .schema import (
    _fail,
    _ts,
    custom_object_type,
    normalize_options,
    normalize_property,
    normalize_value,
    standard_object_type,
)

TOP_LEVEL_KEYS = {
    "portalId",
    "owners",
    "objectTypes",
    "properties",
    "pipelines",
    "records",
    "associations",
    "associationLabels",
    "merges",
    "objectLibrary",
    "account",
}
DEFAULT_TIMESTAMP = "2024-01-01T00:00:00.000Z"
OWNER_KEYS = {
    "id",
    "email",
    "firstName",
    "lastName",
    "userId",
    "userIdIncludingInactive",
    "type",
    "teams",
    "archived",
    "createdAt",
    "updatedAt",
}


def _list(data: dict[str, Any], key: str, path: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _fail(path, "must be a list")
    return value


def _dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object")
    return value


def _check_keys(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in obj:
        if key not in allowed and not key.startswith("_"):
            raise _fail(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _type(portal: Portal, ref: Any, path: str) -> ObjectType:
    if not isinstance(ref, str):
        raise _fail(path, f"object type must be a string, got {ref!r}")
    found = portal.find_type(ref)
    if found is not None:
        return found
    raise _fail(
        path,
        f"unknown object type {ref!r} (declare it in objectTypes; object-library objects need objectLibrary)",
    )


def _id(value: Any, path: str) -> int:
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or int(text) <= 0:
        raise _fail(path, f"ids must be positive integers (or digit strings); got {value!r}")
    return int(text)


# ------------------------------------------------------------------ owners
def normalize_owner(owner: Any, path: str, default_ts: int) -> dict[str, Any]:
    """Validate one owner and fill defaults (PublicOwner wire shape)."""
    owner = _dict(owner, path)
    _check_keys(owner, OWNER_KEYS, path)
    if "id" not in owner:
        raise _fail(f"{path}.id", "required")
    oid = _id(owner["id"], f"{path}.id")
    otype = owner.get("type", "PERSON")
    if otype not in ("PERSON", "QUEUE"):
        raise _fail(f"{path}.type", f"must be PERSON or QUEUE; got {otype!r}")
    teams = owner.get("teams", [])
    if not isinstance(teams, list):
        raise _fail(f"{path}.teams", "must be a list")
    norm_teams = []
    for i, team in enumerate(teams):
        team = _dict(team, f"{path}.teams[{i}]")
        if "id" not in team or "name" not in team:
            raise _fail(f"{path}.teams[{i}]", "teams need 'id' and 'name'")
        norm_teams.append(
            {"id": str(team["id"]), "name": str(team["name"]), "primary": bool(team.get("primary", i == 0))}
        )
    created = _ts(owner.get("createdAt", default_ts), f"{path}.createdAt")
    user_id = owner.get("userId")
    out: dict[str, Any] = {
        "id": str(oid),
        "email": owner.get("email"),
        "firstName": owner.get("firstName", ""),
        "lastName": owner.get("lastName", ""),
        "userId": int(user_id) if user_id is not None else None,
        "userIdIncludingInactive": int(owner.get("userIdIncludingInactive", user_id))
        if owner.get("userIdIncludingInactive", user_id) is not None
        else None,
        "type": otype,
        "teams": norm_teams,
        "archived": bool(owner.get("archived", False)),
        "createdAt": iso_ms(created),
        "updatedAt": iso_ms(_ts(owner.get("updatedAt", created), f"{path}.updatedAt")),
    }
    if otype == "QUEUE":  # HubSpot's queue owners have no email or user: the keys are absent
        for key in ("email", "userId", "userIdIncludingInactive"):
            if out[key] is None:
                del out[key]
    return out


# --------------------------------------------------------------- pipelines
def _stage(stage: Any, path: str, object_name: str, pipe_ts: int) -> dict[str, Any]:
    stage = _dict(stage, path)
    _check_keys(
        stage,
        {
            "id",
            "label",
            "displayOrder",
            "metadata",
            "archived",
            "archivedAt",
            "createdAt",
            "updatedAt",
            "writePermissions",
        },
        path,
    )
    if "id" not in stage:
        raise _fail(f"{path}.id", "required")
    metadata = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in _dict(stage.get("metadata", {}), f"{path}.metadata").items()
    }
    if object_name == "deals":
        if "probability" not in metadata:
            raise _fail(f"{path}.metadata.probability", "deal stages require a probability (string 0.0-1.0)")
        try:
            prob = float(metadata["probability"])
        except ValueError as exc:
            raise _fail(f"{path}.metadata.probability", f"not a number: {metadata['probability']!r}") from exc
        if not 0.0 <= prob <= 1.0:
            raise _fail(f"{path}.metadata.probability", "must be between 0.0 and 1.0")
        metadata.setdefault("isClosed", "true" if prob in (0.0, 1.0) else "false")
    if object_name == "tickets" and metadata.get("ticketState", "OPEN") not in ("OPEN", "CLOSED"):
        raise _fail(f"{path}.metadata.ticketState", "must be OPEN or CLOSED")
    if object_name == "tickets":
        metadata.setdefault("ticketState", "OPEN")
    created = _ts(stage.get("createdAt", pipe_ts), f"{path}.createdAt")
    out: dict[str, Any] = {
        "id": str(stage["id"]),
        "label": str(stage.get("label", stage["id"])),
        "displayOrder": int(stage.get("displayOrder", 0)),
        "metadata": metadata,
        "archived": bool(stage.get("archived", False)),
        "createdAt": iso_ms(created),
        "updatedAt": iso_ms(_ts(stage.get("updatedAt", created), f"{path}.updatedAt")),
        "writePermissions": stage.get("writePermissions", "CRM_PERMISSIONS_ENFORCEMENT"),
    }
    if out["archived"]:
        out["archivedAt"] = iso_ms(_ts(stage.get("archivedAt", created), f"{path}.archivedAt"))
    return out


def normalize_pipeline(pipe: Any, path: str, object_name: str) -> dict[str, Any]:
    """Validate one pipeline (with stages) and fill defaults."""
    pipe = _dict(pipe, path)
    _check_keys(
        pipe,
        {"id", "label", "displayOrder", "archived", "archivedAt", "createdAt", "updatedAt", "stages"},
        path,
    )
    if "id" not in pipe:
        raise _fail(f"{path}.id", "required")
    created = _ts(pipe.get("createdAt", 0), f"{path}.createdAt")
    stages = [
        _stage(s, f"{path}.stages[{i}]", object_name, created)
        for i, s in enumerate(_list(pipe, "stages", f"{path}.stages"))
    ]
    if len({s["id"] for s in stages}) != len(stages):
        raise _fail(f"{path}.stages", "duplicate stage id")
    out: dict[str, Any] = {
        "id": str(pipe["id"]),
        "label": str(pipe.get("label", pipe["id"])),
        "displayOrder": int(pipe.get("displayOrder", 0)),
        "archived": bool(pipe.get("archived", False)),
        "createdAt": iso_ms(created),
        "updatedAt": iso_ms(_ts(pipe.get("updatedAt", created), f"{path}.updatedAt")),
        "stages": stages,
    }
    if out["archived"]:
        out["archivedAt"] = iso_ms(_ts(pipe.get("archivedAt", created), f"{path}.archivedAt"))
    return out


def _pipeline_options(portal: Portal) -> None:
    """Fill enumeration options of pipeline/stage properties from the pipelines."""
    for name, (pipe_prop, stage_prop) in PIPELINE_PROPERTIES.items():
        ot = next((o for o in portal.types.values() if o.name == name), None)
        if ot is None:
            continue
        pipes = portal.pipelines.get(ot.object_type_id, [])
        if pipe_prop in ot.properties and not ot.properties[pipe_prop]["options"]:
            ot.properties[pipe_prop]["options"] = normalize_options(
                [{"value": p["id"], "label": p["label"], "hidden": p["archived"]} for p in pipes], "pipelines"
            )
        if stage_prop in ot.properties and not ot.properties[stage_prop]["options"]:
            ot.properties[stage_prop]["options"] = normalize_options(
                [
                    {
                        "value": s["id"],
                        "label": f"{s['label']} ({p['label']})",
                        "hidden": s["archived"] or p["archived"],
                    }
                    for p in pipes
                    for s in p["stages"]
                ],
                "pipelines",
            )


# ---------------------------------------------------------------- records
def _record(portal: Portal, ot: ObjectType, raw: Any, path: str) -> Record:
    raw = _dict(raw, path)
    _check_keys(
        raw, {"id", "properties", "createdAt", "updatedAt", "archived", "archivedAt", "history"}, path
    )
    if "id" not in raw:
        raise _fail(f"{path}.id", "required")
    rid = _id(raw["id"], f"{path}.id")
    props = _dict(raw.get("properties", {}), f"{path}.properties")
    overrides: dict[str, str | None] = {}
    created_raw = raw.get("createdAt", props.get(ot.created_property, DEFAULT_TIMESTAMP))
    created = _ts(created_raw, f"{path}.createdAt")
    updated = _ts(raw.get("updatedAt", props.get(ot.modified_property, created)), f"{path}.updatedAt")
    for name, value in props.items():
        ppath = f"{path}.properties.{name}"
        prop = ot.properties.get(name)
        if prop is None:
            raise _fail(
                ppath, f"property {name!r} is not defined on {ot.name} (add it under properties.{ot.name})"
            )
        if name == "hs_object_id":
            if str(value) != str(rid):
                raise _fail(ppath, f"must equal the record id {rid}")
            continue
        if name in (ot.created_property, ot.modified_property):
            continue
        overrides[name] = normalize_value(prop, value, ppath)
    archived = bool(raw.get("archived", False))
    archived_at = _ts(raw.get("archivedAt", updated), f"{path}.archivedAt") if archived else None
    rec = Record(
        rid, created, updated, archived=archived, archived_at=archived_at, overrides=overrides or None
    )
    given = _history(ot, raw["history"], f"{path}.history") if "history" in raw else {}
    rec.writes = given or None
    # a fixture record was imported: values without a given history were written at creation
    Portal.record_creation(ot, rec, IMPORT, frozenset(given))
    _check_current(ot, rec, given, f"{path}.history")
    return rec


def _check_current(ot: ObjectType, rec: Record, given: dict[str, list[Any]], path: str) -> None:
    """A given history must end with the record's current value."""
    for name, entries in given.items():
        if entries and entries[-1][1] != ot.value(rec, name):
            raise _fail(
                f"{path}.{name}", f"the newest entry must hold the current value {ot.value(rec, name)!r}"
            )


def _history(ot: ObjectType, raw: Any, path: str) -> dict[str, list[Any]]:
    """A record's full property history from its fixture form ``{property: [entries newest first]}``."""
    raw = _dict(raw, path)
    out: dict[str, list[Any]] = {}
    for name, entries in raw.items():
        if name not in ot.properties:
            raise _fail(f"{path}.{name}", f"property {name!r} is not defined on {ot.name}")
        if not isinstance(entries, list):
            raise _fail(f"{path}.{name}", "must be a list of entries (newest first)")
        try:
            parsed = sorted(parse_entry(e, f"{path}.{name}[{i}]") for i, e in enumerate(entries))
        except ValueError as exc:
            raise _fail(f"{path}.{name}", str(exc)) from exc
        if len({e[0] for e in parsed}) != len(parsed):
            raise _fail(f"{path}.{name}", "two entries share a timestamp")
        out[name] = parsed
    return out


def _associations(portal: Portal, items: list[Any]) -> None:
    for i, raw in enumerate(items):
        path = f"associations[{i}]"
        raw = _dict(raw, path)
        _check_keys(raw, {"fromType", "fromId", "toType", "toId", "typeId", "category", "label"}, path)
        fot = _type(portal, raw.get("fromType"), f"{path}.fromType")
        tot = _type(portal, raw.get("toType"), f"{path}.toType")
        fid = _id(raw.get("fromId"), f"{path}.fromId")
        tid = _id(raw.get("toId"), f"{path}.toId")
        if fid not in fot.records:
            raise _fail(f"{path}.fromId", f"no {fot.name} record with id {fid}")
        if tid not in tot.records:
            raise _fail(f"{path}.toId", f"no {tot.name} record with id {tid}")
        f, t = fot.object_type_id, tot.object_type_id
        try:
            chosen = portal._find_label(f, t, raw.get("typeId"), raw.get("label"), raw.get("category"))
        except Exception as exc:  # PortalError -> fixture error naming the key
            raise _fail(f"{path}.typeId", str(exc)) from exc
        default = portal.default_label(f, t)
        portal.link(f, fid, t, tid, tuple(sorted({default.type_id, chosen.type_id})))
        portal.link(t, tid, f, fid, tuple(sorted({default.inverse_type_id, chosen.inverse_type_id})))


def _labels(portal: Portal, items: list[Any]) -> None:
    for i, raw in enumerate(items):
        path = f"associationLabels[{i}]"
        raw = _dict(raw, path)
        _check_keys(
            raw, {"fromType", "toType", "typeId", "inverseTypeId", "category", "label", "inverseLabel"}, path
        )
        fot = _type(portal, raw.get("fromType"), f"{path}.fromType")
        tot = _type(portal, raw.get("toType"), f"{path}.toType")
        for key in ("typeId", "inverseTypeId"):
            if not isinstance(raw.get(key), int) or isinstance(raw.get(key), bool):
                raise _fail(f"{path}.{key}", "required integer")
        label = raw.get("label")
        category = raw.get("category", "HUBSPOT_DEFINED" if label is None else "USER_DEFINED")
        if category not in ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED", "WORK"):
            raise _fail(f"{path}.category", f"unknown category {category!r}")
        portal.add_label_pair(
            fot.object_type_id,
            tot.object_type_id,
            raw["typeId"],
            raw["inverseTypeId"],
            category,
            label,
            raw.get("inverseLabel", label),
        )


def add_default_labels(portal: Portal) -> None:
    """HubSpot-defined unlabeled association types between standard objects."""
    names = {ot.name: ot.object_type_id for ot in portal.types.values() if not ot.is_custom}
    for (a, b), (fwd, inv) in DEFAULT_ASSOCIATION_TYPES.items():
        defs = portal.labels.get((names.get(a, ""), names.get(b, "")), {}).values()
        has_default = any(d.category == "HUBSPOT_DEFINED" and d.label is None for d in defs)
        if a in names and b in names and not has_default:
            portal.add_label_pair(names[a], names[b], fwd, inv)
    for a, b, fwd, inv, label, inverse in FAMILY_LABELLED_TYPES:
        if a in names and b in names and fwd not in portal.labels.get((names[a], names[b]), {}):
            portal.add_label_pair(names[a], names[b], fwd, inv, "HUBSPOT_DEFINED", label, inverse)


def _merges(portal: Portal, items: list[Any]) -> None:
    for i, raw in enumerate(items):
        path = f"merges[{i}]"
        raw = _dict(raw, path)
        _check_keys(raw, {"objectType", "survivorId", "mergedIds"}, path)
        ot = _type(portal, raw.get("objectType"), f"{path}.objectType")
        sid = _id(raw.get("survivorId"), f"{path}.survivorId")
        survivor = ot.records.get(sid)
        if survivor is None:
            raise _fail(f"{path}.survivorId", f"no {ot.name} record with id {sid}")
        ids = [p for p in (ot.value(survivor, "hs_merged_object_ids") or "").split(";") if p]
        for j, mid_raw in enumerate(_list(raw, "mergedIds", f"{path}.mergedIds")):
            mid = _id(mid_raw, f"{path}.mergedIds[{j}]")
            merged = ot.records.get(mid)
            if merged is None or mid == sid:
                raise _fail(f"{path}.mergedIds[{j}]", f"no other {ot.name} record with id {mid}")
            merged.merged_into = sid
            portal._move_associations(ot.object_type_id, mid, sid)
            if str(mid) not in ids:
                ids.append(str(mid))
        joined = ";".join(ids)
        survivor.overrides = {**(survivor.overrides or {}), "hs_merged_object_ids": joined}
        written = ot.history(survivor, "hs_merged_object_ids")
        if not written or written[-1][1] != joined:
            ot.write(survivor, "hs_merged_object_ids", joined, MERGE, survivor.updated_at)


# ------------------------------------------------------------------- main
def _standard_name(spec: Any) -> str | None:
    """The catalog name a fixture ``objectTypes`` entry means (None: a custom object)."""
    name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
    if isinstance(spec, dict) and not set(spec) <= {"name", "objectTypeId"}:
        return None
    if isinstance(name, str):
        for key, catalog in STANDARD_OBJECTS.items():
            if name.lower() in (key, *catalog.get("aliases", ())):
                return key
    return None


def _object_types(portal: Portal, data: dict[str, Any]) -> None:
    """Declared types (default: every standard object), then the object-library objects the
    fixture did not declare, present but not activated."""
    specs = data.get("objectTypes")
    if specs is None:
        specs = [n for n, s in STANDARD_OBJECTS.items() if not s.get("library")]
    if not isinstance(specs, list):
        raise _fail("objectTypes", "must be a list")
    for i, spec in enumerate(specs):
        path = f"objectTypes[{i}]"
        name = _standard_name(spec)
        if name is not None:
            ot = standard_object_type(name)
            ot.active = True  # declaring an object-library object activates it
        elif isinstance(spec, str):
            raise _fail(
                path, f"unknown standard object {spec!r}; custom objects need an object with objectTypeId"
            )
        else:
            ot = custom_object_type(spec, path, portal.portal_id)
        clash = any(o.name == ot.name and o.is_custom == ot.is_custom for o in portal.types.values())
        if ot.object_type_id in portal.types or clash:
            raise _fail(path, f"duplicate object type {ot.name} / {ot.object_type_id}")
        portal.add_type(ot)
    for name, catalog in STANDARD_OBJECTS.items():
        if catalog.get("library") and catalog["objectTypeId"] not in portal.types:
            portal.add_type(standard_object_type(name))
    library = _list(data, "objectLibrary", "objectLibrary")
    for i, ref in enumerate(library):
        try:
            portal.set_library_object(str(ref), True)
        except Exception as exc:  # PortalError -> fixture error naming the key
            raise _fail(f"objectLibrary[{i}]", f"{ref!r} is not an object-library object") from exc


def _account(portal: Portal, data: dict[str, Any]) -> None:
    account = _dict(data.get("account", {}), "account")
    _check_keys(account, set(ACCOUNT_DEFAULTS), "account")
    portal.account.update(account)


def _properties(portal: Portal, data: dict[str, Any]) -> None:
    props = _dict(data.get("properties", {}), "properties")
    for ref, defs in props.items():
        ot = _type(portal, ref, f"properties.{ref}")
        if not isinstance(defs, list):
            raise _fail(f"properties.{ref}", "must be a list of property definitions")
        for i, defn in enumerate(defs):
            norm = normalize_property(
                defn, f"properties.{ref}[{i}]", f"{ot.singular.lower()}information", False, ot.created_at
            )
            if norm["name"] in ot.computed:
                raise _fail(f"properties.{ref}[{i}].name", f"{norm['name']} is a built-in computed property")
            ot.properties[norm["name"]] = norm


def _pipelines(portal: Portal, data: dict[str, Any]) -> None:
    raw = data.get("pipelines")
    if raw is None:
        raw = {n: p for n, p in DEFAULT_PIPELINES.items() if any(o.name == n for o in portal.types.values())}
    raw = _dict(raw, "pipelines")
    for ref, pipes in raw.items():
        ot = _type(portal, ref, f"pipelines.{ref}")
        if not isinstance(pipes, list):
            raise _fail(f"pipelines.{ref}", "must be a list")
        norm = [normalize_pipeline(p, f"pipelines.{ref}[{i}]", ot.name) for i, p in enumerate(pipes)]
        if len({p["id"] for p in norm}) != len(norm):
            raise _fail(f"pipelines.{ref}", "duplicate pipeline id")
        portal.pipelines[ot.object_type_id] = norm
    _pipeline_options(portal)


def _records(portal: Portal, data: dict[str, Any]) -> None:
    recs = _dict(data.get("records", {}), "records")
    for ref, items in recs.items():
        ot = _type(portal, ref, f"records.{ref}")
        if not isinstance(items, list):
            raise _fail(f"records.{ref}", "must be a list")
        for i, raw in enumerate(items):
            rec = _record(portal, ot, raw, f"records.{ref}[{i}]")
            if rec.id in ot.records:
                raise _fail(f"records.{ref}[{i}].id", f"duplicate id {rec.id}")
            ot.add_record(rec)


def load_portal(data: Any) -> Portal:
    """Validate a fixture dict and build a :class:`Portal`."""
    data = _dict(data, "portal")
    _check_keys(data, TOP_LEVEL_KEYS, "portal")
    pid = data.get("portalId", DEFAULT_PORTAL_ID)
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise _fail("portal.portalId", f"must be a positive integer; got {pid!r}")
    portal = Portal(pid)
    default_ts = _ts(DEFAULT_TIMESTAMP, "default")
    owners = [
        normalize_owner(o, f"owners[{i}]", default_ts) for i, o in enumerate(_list(data, "owners", "owners"))
    ]
    if len({o["id"] for o in owners}) != len(owners):
        raise _fail("owners", "duplicate owner id")
    portal.owners = sorted(owners, key=lambda o: int(o["id"]))
    _object_types(portal, data)
    _account(portal, data)
    _properties(portal, data)
    _pipelines(portal, data)
    _records(portal, data)
    _labels(portal, _list(data, "associationLabels", "associationLabels"))
    add_default_labels(portal)
    _associations(portal, _list(data, "associations", "associations"))
    _merges(portal, _list(data, "merges", "merges"))
    return portal


# ------------------------------------------------------------------- dump
def dump_portal(portal: Portal) -> dict[str, Any]:
    """Serialise a portal to the fixture format (round-trips through :func:`load_portal`)."""
    active = [ot for ot in portal.types.values() if ot.active]

    def key(ot: ObjectType) -> str:
        """The type's name, or its objectTypeId while another active type has the same name
        (a custom ``services`` next to HubSpot's activated Services)."""
        return ot.object_type_id if sum(o.name == ot.name for o in active) > 1 else ot.name

    object_types: list[Any] = []
    properties: dict[str, list[dict[str, Any]]] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    merges: list[dict[str, Any]] = []
    for ot in portal.types.values():
        if not ot.active:
            continue  # an object-library object the portal has not activated
        if ot.is_custom:
            object_types.append(
                {
                    "objectTypeId": ot.object_type_id,
                    "name": ot.name,
                    "fullyQualifiedName": ot.fully_qualified_name,
                    "labels": {"singular": ot.singular, "plural": ot.plural},
                    "primaryDisplayProperty": ot.primary_display_property,
                    "secondaryDisplayProperties": ot.secondary_display_properties,
                    "requiredProperties": ot.required_properties,
                    "searchableProperties": ot.searchable_properties,
                    "createdAt": iso_ms(ot.created_at),
                    "updatedAt": iso_ms(ot.updated_at),
                }
            )
        else:
            object_types.append(ot.name)
        properties[key(ot)] = [
            {k: v for k, v in p.items() if k != "readOnly"}
            for p in ot.properties.values()
            if p["name"] not in ot.computed
        ]
        survivors: dict[int, list[int]] = {}
        rows = []
        for rid in ot.ids:
            rec = ot.records[rid]
            row: dict[str, Any] = {
                "id": str(rid),
                "properties": {k: v for k, v in ot.all_values(rec).items() if k not in ot.computed},
                "createdAt": iso_ms(rec.created_at),
                "updatedAt": iso_ms(rec.updated_at),
            }
            if rec.archived:
                row["archived"] = True
                row["archivedAt"] = iso_ms(rec.archived_at or rec.updated_at)
            row["history"] = {
                name: [history_wire(e) for e in reversed(entries)]
                for name in ot.properties
                if (entries := ot.history(rec, name))
            }
            if rec.merged_into is not None:
                survivors.setdefault(rec.merged_into, []).append(rid)
            rows.append(row)
        records[key(ot)] = rows
        for sid, mids in sorted(survivors.items()):
            merges.append(
                {"objectType": key(ot), "survivorId": str(sid), "mergedIds": [str(m) for m in mids]}
            )
    labels = []
    seen: set[tuple[str, str, int]] = set()
    for (f, t), defs in portal.labels.items():
        if not (portal.types[f].active and portal.types[t].active):
            continue  # re-created with the object-library object when it is activated
        for d in defs.values():
            if (t, f, d.inverse_type_id) in seen:
                continue
            seen.add((f, t, d.type_id))
            inverse = portal.labels[(t, f)][d.inverse_type_id]
            labels.append(
                {
                    "fromType": key(portal.types[f]),
                    "toType": key(portal.types[t]),
                    "typeId": d.type_id,
                    "inverseTypeId": d.inverse_type_id,
                    "category": d.category,
                    "label": d.label,
                    "inverseLabel": inverse.label,
                }
            )
    associations = []
    for (f, t), fmap in portal.assoc.items():
        for fid in sorted(fmap):
            for tid, types in sorted(fmap[fid].items()):
                if (f, fid) > (t, tid):
                    continue  # the inverse direction is implied
                for type_id in types:
                    associations.append(
                        {
                            "fromType": key(portal.types[f]),
                            "fromId": str(fid),
                            "toType": key(portal.types[t]),
                            "toId": str(tid),
                            "typeId": type_id,
                        }
                    )
    pipelines = {key(portal.types[t]): [dict(p) for p in pipes] for t, pipes in portal.pipelines.items()}
    return {
        "portalId": portal.portal_id,
        "account": dict(portal.account),
        "owners": [dict(o) for o in portal.owners],
        "objectTypes": object_types,
        "properties": properties,
        "pipelines": pipelines,
        "records": records,
        "associationLabels": labels,
        "associations": associations,
        "merges": merges,
    }
