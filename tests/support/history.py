"""The history oracle: the sandbox's property history (and the stages computed from it, here,
independently of the product) against the warehouse's ``<table>_property_history`` and
``<table>_stage_history`` rows. Used by the e2e history and all-families tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Key = tuple[int, str, str]  # object_id, property, timestamp (ISO-8601, ms, Z)


def iso(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:  # a reader returning naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def readable(env, object_type: str) -> set[int]:
    """Ids the API still returns (live or archived; not merged away)."""
    return {int(r["id"]) for r in env.snapshot(object_type)["records"]}


def sandbox_history(env, object_type: str, properties: set[str], ids: set[int]) -> dict[Key, tuple]:
    out = {}
    for rid, by_property in env.admin("GET", f"history/{object_type}").items():
        if int(rid) not in ids:
            continue
        for prop, entries in by_property.items():
            if prop not in properties:
                continue
            for e in entries:
                out[(int(rid), prop, e["timestamp"])] = (
                    e["value"],
                    e["sourceType"],
                    e.get("sourceId"),
                    e.get("sourceLabel"),
                    e.get("updatedByUserId"),
                )
    return out


def warehouse_history(env, table: str) -> dict[Key, tuple]:
    rows = env.view.rows(table)
    out = {
        (int(r["object_id"]), r["property"], iso(r["timestamp"])): (
            r["value"],
            r["source_type"],
            r["source_id"],
            r["source_label"],
            None if r["updated_by_user_id"] is None else int(r["updated_by_user_id"]),
        )
        for r in rows
    }
    assert len(out) == len(rows), f"{table}: two rows share (object_id, property, timestamp)"
    return out


def expected_stages(history: dict[Key, tuple], stage_property: str) -> list[tuple]:
    """Stage rows from history, written independently of the product: per record, oldest
    write first, a new row whenever the value changes to a non-empty one."""
    by_record: dict[int, list[tuple[str, str]]] = {}
    for (rid, prop, at), (value, *_) in history.items():
        if prop == stage_property:
            by_record.setdefault(rid, []).append((at, value))
    rows = []
    for rid, writes in by_record.items():
        mine: list[list[Any]] = []
        last = None
        for at, value in sorted(writes):
            if (value or None) == last:
                continue
            last = value or None
            if mine and mine[-1][3] is None:
                mine[-1][3] = at
            if value:
                mine.append([rid, value, at, None])
        rows += [(*r, r[3] is None) for r in mine]
    return sorted(rows, key=_record_then_time)


def _record_then_time(row: tuple) -> tuple:
    return row[0], row[2]


def warehouse_stages(env, table: str) -> list[tuple]:
    return sorted(
        (
            (
                int(r["object_id"]),
                r["stage_id"],
                iso(r["entered_at"]),
                None if r["left_at"] is None else iso(r["left_at"]),
                bool(r["is_active"]),
            )
            for r in env.view.rows(table)
        ),
        key=_record_then_time,
    )
