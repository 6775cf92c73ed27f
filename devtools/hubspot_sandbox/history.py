"""Property history: every write of a property value, as HubSpot's ``propertiesWithHistory``.

An entry is a compact tuple ``(timestamp ms, value, sourceType, sourceId, sourceLabel,
updatedByUserId)``; a record keeps its explicit writes per property oldest first
(``Record.writes``). Generated records additionally get a deterministic *base* history from
the generator (``ObjectType.lazy_history``), older than every explicit write, so 100k
generated records cost nothing until their history is read.

Invariants the portal keeps: entries of one property of one record are strictly increasing
in time (never two in one millisecond), and the newest entry holds the current value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._util import iso_ms, parse_datetime_ms

Entry = tuple[int, "str | None", str, "str | None", "str | None", "int | None"]
LazyHistory = Callable[[int, str], list[Entry]]

#: sourceType values the sandbox writes (HubSpot has more; any string is accepted)
SOURCE_TYPES = (
    "API",
    "BATCH_UPDATE",
    "CALCULATED",
    "CRM_UI",
    "IMPORT",
    "INTEGRATION",
    "MERGE_OBJECTS",
    "WORKFLOWS",
)
MAX_HISTORY_INPUTS = 50
HISTORY_BATCH_MESSAGE = (
    "The maximum number of inputs supported in a batch request for property histories is 50"
)


@dataclass(frozen=True)
class Source:
    """Who made a write: HubSpot's ``sourceType`` / ``sourceId`` / ``sourceLabel`` / ``updatedByUserId``."""

    type: str = "API"
    id: str | None = None
    label: str | None = None
    user_id: int | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any], default: Source) -> Source:
        """A source from an admin request body (``sourceType``, ``sourceId``, ``sourceLabel``,
        ``updatedByUserId``); missing keys fall back to ``default`` only when no sourceType is given."""
        stype = body.get("sourceType")
        if stype is None:
            return default
        if not isinstance(stype, str) or not stype:
            raise ValueError("sourceType must be a non-empty string")
        user = body.get("updatedByUserId")
        source_id = body.get("sourceId")
        if source_id is None and user is not None:
            source_id = f"userId:{int(user)}"
        return cls(
            stype,
            None if source_id is None else str(source_id),
            body.get("sourceLabel"),
            None if user is None else int(user),
        )

    def entry(self, ts: int, value: str | None) -> Entry:
        return (ts, value, self.type, self.id, self.label, self.user_id)


CALCULATED = Source("CALCULATED")
API = Source("API")
IMPORT = Source("IMPORT", "sandbox-fixture", "Sandbox fixture import")
MERGE = Source("MERGE_OBJECTS")


def wire(entry: Entry) -> dict[str, Any]:
    """HubSpot's ``ValueWithTimestamp``: absent keys for missing source details."""
    ts, value, stype, sid, label, user = entry
    out: dict[str, Any] = {
        "value": "" if value is None else value,
        "timestamp": iso_ms(ts),
        "sourceType": stype,
    }
    if sid is not None:
        out["sourceId"] = sid
    if label is not None:
        out["sourceLabel"] = label
    if user is not None:
        out["updatedByUserId"] = user
    return out


def parse_entry(raw: Any, path: str) -> Entry:
    """An entry from its wire (fixture) form. Raises ValueError naming what is wrong."""
    if not isinstance(raw, dict) or "timestamp" not in raw or "sourceType" not in raw:
        raise ValueError(f"{path}: history entries need timestamp and sourceType")
    try:
        ts = parse_datetime_ms(raw["timestamp"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}.timestamp: not a timestamp: {raw['timestamp']!r}") from exc
    value = raw.get("value")
    user = raw.get("updatedByUserId")
    return (
        ts,
        None if value is None else str(value),
        str(raw["sourceType"]),
        None if raw.get("sourceId") is None else str(raw["sourceId"]),
        raw.get("sourceLabel"),
        None if user is None else int(user),
    )


def next_ts(entries: list[Entry], wanted: int) -> int:
    """``wanted``, moved forward past the newest entry (one write per property per millisecond)."""
    if entries and entries[-1][0] >= wanted:
        return entries[-1][0] + 1
    return wanted
