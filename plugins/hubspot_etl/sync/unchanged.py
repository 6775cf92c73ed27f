"""Which search hits an incremental run must batch-read: those the warehouse does not already hold.

Search returns each hit's last-modified value (``lastmodifieddate`` for contacts,
``hs_lastmodifieddate`` otherwise: the plan's ``modified_property``). A hit whose value equals
the warehouse's stored value, to the millisecond in UTC, was loaded as it is and is skipped.

Why this stays exact:

- HubSpot bumps the modified date on every property write (merges and restores included), so an
  equal date means the values the warehouse holds are HubSpot's current ones.
- Search lags writes. A stale hit (the index still shows the older date the warehouse holds) is
  skipped, as a hit the index has not caught up with at all would be missed: both are read by a
  later run once the index shows the new date, which the lookback is there for.
- Everything else is read: an id the warehouse lacks, holds as deleted or with a NULL date (the
  warehouse leaves those out), a hit without a parseable date, a row synced before the object's
  last schema change (it may lack a new column's value; also left out by the warehouse), and any
  date that differs, newer or older.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hubspot_etl.warehouse.types import convert_datetime

#: ``ids -> {id: stored last-modified value}`` (``Warehouse.stored_modified`` bound to an object)
StoredModified = Callable[[Sequence[int]], Mapping[int, Any]]


def to_ms(value: Any) -> int | None:
    """A datetime, ISO-8601 string or millisecond epoch as UTC epoch milliseconds (None: unreadable).

    Both sides of the comparison go through this, so a warehouse that keeps microseconds, or
    returns naive UTC or another time zone, compares equal to HubSpot's millisecond value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        parsed, _ = convert_datetime(str(value))
    if parsed is None:
        return None
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def hit_modified(hit: Mapping[str, Any], modified_property: str) -> Any:
    """The last-modified value search returned for a hit (the property it filters on)."""
    return (hit.get("properties") or {}).get(modified_property)


def ids_to_read(
    hits: Sequence[Mapping[str, Any]], stored: Mapping[int, Any], modified_property: str
) -> list[int]:
    """The ids of ``hits`` whose modified value differs from the stored one (or either is unknown)."""
    wanted = []
    for hit in hits:
        record_id = int(hit["id"])
        found = to_ms(hit_modified(hit, modified_property))
        if found is None or found != to_ms(stored.get(record_id)):
            wanted.append(record_id)
    return wanted
