"""The oracle: does the warehouse equal the sandbox's state?

It compares, independently of the sync code, every record and property value, deletes by
kind, merges, associations, pipelines, stages and owners. Values are typed here with its
own small parsers (not the warehouse's converters), so a conversion bug in the product
shows up as a mismatch instead of agreeing with itself.

Every ``check_*`` function returns a list of human-readable mismatches; the tests assert
that list is empty, so a failure says exactly which record, property and value differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hubspot_devtools.views import (  # noqa: F401 (re-exported for tests)
    BigQueryView,
    SnowflakeView,
    WarehouseView,
)

MAX_REPORTED = 25


def _parse_expected(raw: str | None, logical_type: str) -> tuple[Any, bool]:
    """``(typed value, is_reject)`` for one HubSpot wire value, the oracle's own way."""
    if raw is None:
        return None, False
    if logical_type == "text":
        # NULs are stripped; a lone UTF-16 surrogate becomes U+FFFD; both are noted as rejects
        cleaned = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in raw.replace("\x00", ""))
        return cleaned, cleaned != raw
    if raw.strip() == "":
        return None, False
    try:
        if logical_type == "numeric":
            value = Decimal(raw.strip())
            if not value.is_finite():
                return None, True
            return value, False
        if logical_type == "boolean":
            lowered = raw.strip().lower()
            if lowered not in ("true", "false"):
                return None, True
            return lowered == "true", False
        if logical_type == "timestamp":
            text = raw.strip()
            if text.isdigit():
                return datetime.fromtimestamp(int(text) / 1000, tz=UTC), False
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), False
        if logical_type == "date":
            text = raw.strip()
            if text.isdigit():
                return datetime.fromtimestamp(int(text) / 1000, tz=UTC).date(), False
            return date.fromisoformat(text[:10]), False
    except (InvalidOperation, ValueError, OverflowError):
        return None, True
    return raw, False


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Decimal) and actual is not None:
        return Decimal(actual) == expected
    if isinstance(expected, datetime) and isinstance(actual, datetime):
        return expected == actual
    return expected == actual


def check_object(view: WarehouseView, snapshot: dict[str, Any], table: str, object_name: str) -> list[str]:
    """Every record, property value, delete kind and merge of one object."""
    problems: list[str] = []
    columns = view.column_map(object_name)
    rows = {int(row["id"]): row for row in view.rows(table)}
    known = set()
    for record in snapshot["records"]:
        record_id = int(record["id"])
        known.add(record_id)
        row = rows.get(record_id)
        if row is None:
            problems.append(f"{table} {record_id}: missing from the warehouse")
            continue
        if record.get("archived"):
            if not row["_is_deleted"] or row["_deletion_kind"] != "archived":
                problems.append(
                    f"{table} {record_id}: archived in HubSpot, warehouse has {row['_deletion_kind']!r}"
                )
        elif row["_is_deleted"]:
            problems.append(
                f"{table} {record_id}: live in HubSpot, warehouse says deleted ({row['_deletion_kind']})"
            )
        problems.extend(_check_values(table, record_id, record.get("properties") or {}, row, columns))
    for merged_id, survivor in snapshot["merged"].items():
        known.add(int(merged_id))
        row = rows.get(int(merged_id))
        if row is None:
            continue  # merged away before it was ever synced
        if (
            row["_deletion_kind"] != "merged"
            or row["merged_into_id"] != int(survivor)
            or not row["_is_deleted"]
        ):
            problems.append(
                f"{table} {merged_id}: merged into {survivor} in HubSpot, warehouse has "
                f"kind={row['_deletion_kind']!r} merged_into_id={row['merged_into_id']}"
            )
    for record_id in sorted(set(rows) - known):
        row = rows[record_id]
        if row["_deletion_kind"] != "purged" or not row["_is_deleted"]:
            problems.append(
                f"{table} {record_id}: unknown to HubSpot but not marked purged ({row['_deletion_kind']})"
            )
    return problems[:MAX_REPORTED]


def _check_values(
    table: str,
    record_id: int,
    properties: dict[str, Any],
    row: dict[str, Any],
    columns: dict[str, dict[str, Any]],
) -> Iterable[str]:
    rejects = row.get("_rejects") or {}
    extra = row.get("_extra_properties") or {}
    if isinstance(rejects, str):
        rejects = json.loads(rejects)
    if isinstance(extra, str):
        extra = json.loads(extra)
    for name, spec in columns.items():
        raw = properties.get(name)
        if spec["spilled"]:
            if extra.get(name) != raw:
                yield f"{table} {record_id}.{name} (spilled): expected {raw!r}, got {extra.get(name)!r}"
            continue
        expected, is_reject = _parse_expected(raw, spec["logical_type"])
        actual = row.get(spec["column_name"])
        if actual is None and name in extra:
            # a row too wide for a PostgreSQL page keeps some values in _extra_properties
            if extra[name] != raw:
                yield f"{table} {record_id}.{name} (overflowed): expected {raw!r}, got {extra[name]!r}"
            continue
        if not _same(expected, actual):
            yield f"{table} {record_id}.{name} -> {spec['column_name']}: expected {expected!r} (from {raw!r}), got {actual!r}"
        if is_reject and name not in rejects:
            yield f"{table} {record_id}.{name}: {raw!r} does not parse as {spec['logical_type']} but is not in _rejects"


def check_associations(
    view: WarehouseView,
    snapshot: dict[str, Any],
    table: str,
    to_type: str,
    live_ids: set[int],
    to_live_ids: set[int],
) -> list[str]:
    """Associations between live records equal HubSpot's (id pairs, type ids, categories, labels)."""
    expected = set()
    for assoc in snapshot["associations"]:
        if assoc["toType"] != to_type:
            continue
        from_id, to_id = int(assoc["fromId"]), int(assoc["toId"])
        if from_id not in live_ids or to_id not in to_live_ids:
            continue
        for kind in assoc["associationTypes"]:
            expected.add((from_id, to_id, int(kind["typeId"]), kind["category"], kind.get("label")))
    actual = set()
    if view.table_exists(table):
        for row in view.rows(table):
            if row["from_id"] in live_ids and row["to_id"] in to_live_ids:
                actual.add((row["from_id"], row["to_id"], row["type_id"], row["category"], row["label"]))
    problems = [f"{table}: missing {item}" for item in sorted(expected - actual, key=str)]
    problems += [f"{table}: unexpected {item}" for item in sorted(actual - expected, key=str)]
    return problems[:MAX_REPORTED]


def check_pipelines(view: WarehouseView, pipelines: list[dict[str, Any]], object_table: str) -> list[str]:
    """Every pipeline and stage HubSpot has or had (pass ``?archived=true``'s listing), with its
    label, order, probability and ``archived`` / ``archived_at`` as HubSpot says."""
    problems = []
    stages = {(r["pipeline_id"], r["id"]): r for r in view.rows(f"{object_table}_pipeline_stage")}
    heads = {r["id"]: r for r in view.rows(f"{object_table}_pipeline")}
    for pipeline in pipelines:
        head = heads.get(pipeline["id"])
        if head is None or head["label"] != pipeline["label"]:
            problems.append(
                f"{object_table}_pipeline {pipeline['id']}: expected {pipeline['label']!r}, got {head}"
            )
            continue
        problems += _archived_problems(f"{object_table}_pipeline {pipeline['id']}", pipeline, head)
        for stage in pipeline["stages"]:
            row = stages.get((pipeline["id"], stage["id"]))
            if row is None:
                problems.append(f"{object_table}_pipeline_stage {pipeline['id']}/{stage['id']}: missing")
                continue
            probability = (stage.get("metadata") or {}).get("probability")
            if row["label"] != stage["label"] or row["display_order"] != stage["displayOrder"]:
                problems.append(f"stage {stage['id']}: label/order {row['label']!r}/{row['display_order']}")
            if probability is not None and Decimal(row["probability"]) != Decimal(probability):
                problems.append(f"stage {stage['id']}: probability {row['probability']} != {probability}")
            problems += _archived_problems(f"stage {pipeline['id']}/{stage['id']}", stage, row)
    return problems


def _archived_problems(what: str, expected: dict[str, Any], row: dict[str, Any]) -> list[str]:
    archived = bool(expected.get("archived"))
    at = expected.get("archivedAt")
    at = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
    if row["archived"] != archived or row["archived_at"] != at or (archived and not row["_is_deleted"]):
        return [
            f"{what}: archived {archived} at {at} in HubSpot, warehouse archived={row['archived']} "
            f"archived_at={row['archived_at']} _is_deleted={row['_is_deleted']}"
        ]
    return []


def check_owners(view: WarehouseView, owners: list[dict[str, Any]]) -> list[str]:
    rows = {row["id"]: row for row in view.rows("owner")}
    problems = []
    for owner in owners:
        row = rows.get(int(owner["id"]))
        if row is None:
            problems.append(f"owner {owner['id']}: missing")
        elif row["archived"] != bool(owner.get("archived")) or row["email"] != owner.get("email"):
            problems.append(f"owner {owner['id']}: archived/email {row['archived']}/{row['email']!r}")
    if len(rows) != len(owners):
        problems.append(f"owner: {len(rows)} rows, HubSpot has {len(owners)} owners")
    return problems


def _named(object_type: str) -> str:
    """A standard object's name for its objectTypeId (``0-421`` -> ``appointments``)."""
    from hubspot_etl.hooks.object_types import STANDARD_BY_ID

    return STANDARD_BY_ID.get(object_type, object_type)


def warehouse_problems(env: Any, owners: bool = True) -> list[str]:
    """Every mismatch between an e2e ``SyncEnv``'s warehouse and its sandbox, over the
    configured objects: records and values, deletes, merges, associations, pipelines, and
    (``owners``, when the test syncs them) owners."""
    from hubspot_etl.warehouse.naming import association_table_name, table_name_for_object

    problems: list[str] = []
    view = env.view
    snapshots = {name: env.snapshot(env.objects[name].get("object_type", name)) for name in env.objects}
    live = {
        name: {int(r["id"]) for r in snap["records"] if not r.get("archived")}
        for name, snap in snapshots.items()
    }
    for name, snap in snapshots.items():
        object_type = _named(env.objects[name].get("object_type", name))  # a custom object's: its own name
        table = table_name_for_object(object_type)
        problems += check_object(view, snap, table, object_type)
        for target in env.objects[name].get("associations", []):
            if target not in live:
                continue  # the target object is not synced here: nothing to compare
            problems += check_associations(
                view, snap, association_table_name(object_type, target), target, live[name], live[target]
            )
    for name in sorted({"deals", "tickets"} & set(env.objects)):
        pipelines = env.api(f"/crm/v3/pipelines/{name}?archived=true")["results"]  # also the archived
        problems += check_pipelines(view, pipelines, table_name_for_object(name))
    if owners:
        owners_in_hubspot = (
            env.api("/crm/v3/owners?limit=500")["results"]
            + env.api("/crm/v3/owners?limit=500&archived=true")["results"]
        )
        problems += check_owners(view, owners_in_hubspot)
    return problems
