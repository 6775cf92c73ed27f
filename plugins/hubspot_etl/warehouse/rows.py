"""HubSpot JSON -> warehouse rows, once for every dialect.

Rows are dicts keyed by column name holding Python values (``int``, ``str``, ``bool``,
``Decimal``, aware ``datetime``; documents as ``dict``/``list``); each dialect encodes them
for its bulk path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hubspot_etl.warehouse.base import DELETION_KINDS, ColumnSpec, DeletedId, SchemaChange
from hubspot_etl.warehouse.tables import RUN_REPORT, RUN_REPORT_COLUMNS
from hubspot_etl.warehouse.types import LogicalType, NumericLimits, convert, convert_boolean, convert_datetime


def ts(value: Any) -> datetime | None:
    """HubSpot timestamp (ISO string, ms epoch string/int, datetime) -> aware datetime or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed, _ = convert_datetime(str(value))
    return parsed


def int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value).strip())


def _lifecycle(item: Mapping) -> dict[str, Any]:
    """Archive, time and delete columns of a pipeline or stage (archived ones are flagged deleted)."""
    archived = bool(item.get("archived", False))
    archived_at = ts(item.get("archivedAt"))
    return {
        "archived": archived,
        "archived_at": archived_at,
        "created_at": ts(item.get("createdAt")),
        "updated_at": ts(item.get("updatedAt")),
        "_is_deleted": archived,
        "_deleted_at": (archived_at or datetime.now(UTC)) if archived else None,
    }


def pipeline_row(p: Mapping) -> dict[str, Any]:
    head = {"id": str(p["id"]), "label": p.get("label"), "display_order": int_or_none(p.get("displayOrder"))}
    return head | _lifecycle(p)


def stage_row(p: Mapping, s: Mapping, limits: NumericLimits) -> dict[str, Any]:
    metadata = dict(s.get("metadata") or {})
    raw = metadata.get("probability")
    probability, _ = convert(None if raw is None else str(raw), LogicalType.NUMERIC, limits)
    is_closed = None
    if metadata.get("isClosed") is not None:
        is_closed, _ = convert_boolean(str(metadata["isClosed"]))
    return {
        "pipeline_id": str(p["id"]),
        "id": str(s["id"]),
        "label": s.get("label"),
        "display_order": int_or_none(s.get("displayOrder")),
        "probability": probability,
        "is_closed": is_closed,
        "ticket_state": metadata.get("ticketState"),
        "metadata": metadata,
        "write_permissions": s.get("writePermissions"),
    } | _lifecycle(s)


def owner_row(o: Mapping) -> dict[str, Any]:
    return {
        "id": int(o["id"]),
        "email": o.get("email"),
        "first_name": o.get("firstName"),
        "last_name": o.get("lastName"),
        "user_id": int_or_none(o.get("userId")),
        "user_id_including_inactive": int_or_none(o.get("userIdIncludingInactive")),
        "type": o.get("type"),
        "teams": o.get("teams") or [],
        "archived": bool(o.get("archived", False)),
        "created_at": ts(o.get("createdAt")),
        "updated_at": ts(o.get("updatedAt")),
    }


def property_definition_row(object_name: str, p: Mapping) -> dict[str, Any]:
    return {
        "object_name": object_name,
        "name": str(p["name"]),
        "label": p.get("label"),
        "type": p.get("type"),
        "field_type": p.get("fieldType"),
        "group_name": p.get("groupName"),
        "description": p.get("description"),
        "options": p.get("options") or [],
        "hubspot_defined": p.get("hubspotDefined"),
        "archived": bool(p.get("archived", False)),
        "calculated": p.get("calculated"),
        "show_currency_symbol": p.get("showCurrencySymbol"),
        "created_at": ts(p.get("createdAt")),
        "updated_at": ts(p.get("updatedAt")),
    }


def property_option_rows(object_name: str, p: Mapping) -> list[dict[str, Any]]:
    """The options of one property definition (enumerations), one row per value."""
    rows = {}
    for option in p.get("options") or []:
        if not isinstance(option, Mapping) or option.get("value") is None:
            continue
        value = str(option["value"])
        rows[value] = {
            "object_name": object_name,
            "property_name": str(p["name"]),
            "value": value,
            "label": option.get("label"),
            "display_order": int_or_none(option.get("displayOrder")),
            "hidden": option.get("hidden"),
        }
    return list(rows.values())


def column_spec_row(object_name: str, s: ColumnSpec) -> dict[str, Any]:
    return {
        "object_name": object_name,
        "property_name": s.property_name,
        "column_name": s.column_name,
        "logical_type": s.logical_type.value,
        "hubspot_type": s.hubspot_type,
        "spilled": s.spilled,
    }


def column_spec(row: Mapping[str, Any]) -> ColumnSpec:
    return ColumnSpec(
        row["property_name"],
        row["column_name"],
        LogicalType(row["logical_type"]),
        row["hubspot_type"] or "",
        bool(row["spilled"]),
    )


def schema_change_row(object_name: str, c: SchemaChange) -> dict[str, Any]:
    return {
        "object_name": object_name,
        "change": c.change,
        "property_name": c.property_name,
        "column_name": c.column_name,
        "old_type": c.old_type,
        "new_type": c.new_type,
    }


def association_row(row: Mapping) -> dict[str, Any]:
    return {
        "from_id": int(row["from_id"]),
        "to_id": int(row["to_id"]),
        "type_id": int(row["type_id"]),
        "category": row.get("category"),
        "label": row.get("label"),
    }


def deletion_rows(ids_with_kind: Sequence[DeletedId]) -> list[dict[str, Any]]:
    """One row per id (the last entry wins), kinds checked."""
    latest: dict[int, dict[str, Any]] = {}
    for rid, kind, deleted_at, merged in ids_with_kind:
        if kind not in DELETION_KINDS:
            raise ValueError(f"deletion kind must be one of {DELETION_KINDS}, got {kind!r}")
        latest[int(rid)] = {
            "id": int(rid),
            "_deletion_kind": kind,
            "_deleted_at": ts(deleted_at),
            "merged_into_id": int_or_none(merged),
        }
    return list(latest.values())


def report_row(report: Mapping[str, Any]) -> dict[str, Any]:
    """A report dict on the run-report columns: unknown keys merged into ``details``, values typed."""
    if not report.get("run_id") or not report.get("object_name"):
        raise ValueError("a run report needs run_id and object_name")
    row: dict[str, Any] = {c: report.get(c) for c in RUN_REPORT_COLUMNS}
    extra = {k: v for k, v in report.items() if k not in RUN_REPORT_COLUMNS}
    if extra:
        row["details"] = {**(row["details"] or {}), **extra}
    row["started_at"], row["finished_at"] = ts(row["started_at"]), ts(row["finished_at"])
    started, finished = row["started_at"], row["finished_at"]
    if row["duration_s"] is None and started is not None and finished is not None:
        row["duration_s"] = (finished - started).total_seconds()
    casts = {"json": lambda v: json.loads(json.dumps(v, default=str)), "double": float, "text": str}
    for col, type_ in RUN_REPORT.types.items():
        if row[col] is not None and type_ in ("bigint", "integer"):
            row[col] = int(row[col])
        elif row[col] is not None and type_ in casts:
            row[col] = casts[type_](row[col])
    return row


def as_document(value: Any) -> Any:
    """A JSON column value as a Python object (drivers return parsed JSON or JSON text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def merge_document(old: Any, new_text: str | None, replaced: set[str]) -> str | None:
    """``(old - replaced keys) | new`` as JSON text, None when empty (PostgreSQL's ``-``/``||``)."""
    new = json.loads(new_text) if new_text else {}
    kept = {k: v for k, v in old.items() if k not in replaced} if isinstance(old, dict) else {}
    merged = {**kept, **new}
    return json.dumps(merged, ensure_ascii=False) if merged else None


def json_default(value: Any) -> Any:
    """``json.dumps`` default for bulk-load files: exact decimals, ISO-8601 times (UTC if naive)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")
