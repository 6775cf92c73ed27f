"""Records modified in a time window, past search's 10,000-result cap (``iter_modified``).

HubSpot search refuses offsets beyond 10,000. A window whose ``total`` exceeds that is split in
two at its median record's timestamp (``stats.search_splits``, see :func:`_split_point`) until
each slice fits. Inside a slice pages are read by keyset on ``hs_object_id`` (sorted ascending,
filter ``hs_object_id > last id``, offset always 0), so the offset cap is never reached and rows
leaving the result set during paging cannot shift pages. A slice that cannot be split (>10,000
records with one timestamp) is simply paged the same way (``stats.search_keyset_windows``).
Records are de-duplicated by id across the whole call (a record modified mid-run may move into a
later slice).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hubspot_etl.hooks.crm import SEARCH_CAP, SEARCH_PAGE_MAX, CrmEndpoints, next_after, page_limit
from hubspot_etl.hooks.object_types import last_modified_property
from hubspot_etl.hooks.stats import HubSpotStats


def to_epoch_ms(value: datetime | int | float) -> int:
    """Datetime (naive = UTC) or epoch milliseconds -> epoch milliseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    return int(value)


class ModifiedSearch:
    """``iter_modified`` of one hook, on top of its search endpoint."""

    def __init__(self, crm: CrmEndpoints, stats: HubSpotStats) -> None:
        self._crm = crm
        self._stats = stats

    def iter_modified(
        self,
        object_type: str,
        start: datetime | int,
        end: datetime | int,
        properties: Sequence[str] | None = None,
        page_size: int = 200,
    ) -> Iterator[list[dict]]:
        """Every record whose last-modified time is in ``[start, end)``, once, one list per page.

        ``start``/``end`` are datetimes (naive = UTC) or epoch milliseconds. Contacts filter on
        ``lastmodifieddate``, every other type on ``hs_lastmodifieddate``. However many records
        match, none is lost to search's 10,000 cap (:mod:`hubspot_etl.hooks.search_windows`).
        """
        prop = last_modified_property(object_type)
        query = _Query(self._crm, object_type, prop, properties, page_limit(page_size, SEARCH_PAGE_MAX))
        seen: set[str] = set()
        windows = [(to_epoch_ms(start), to_epoch_ms(end))]
        while windows:
            lo, hi = windows.pop()
            if lo >= hi:
                continue
            data = query.page(lo, hi, None)
            if int(data.get("total") or 0) > SEARCH_CAP:
                if hi - lo > 1:
                    mid = _split_point(query, lo, hi, int(data["total"]))
                    windows.extend([(mid, hi), (lo, mid)])  # LIFO: earlier half first
                    self._stats.add("search_splits")
                    continue
                self._stats.add("search_keyset_windows")
            yield from _keyset_pages(query, lo, hi, data, seen)


@dataclass(frozen=True)
class _Query:
    """What every request of one ``iter_modified`` call shares."""

    crm: CrmEndpoints
    object_type: str
    #: the last-modified property the windows filter on
    prop: str
    properties: Sequence[str] | None
    limit: int

    def window_filters(self, lo: int, hi: int) -> list[dict]:
        return [
            {"propertyName": self.prop, "operator": "GTE", "value": str(lo)},
            {"propertyName": self.prop, "operator": "LT", "value": str(hi)},
        ]

    def page(self, lo: int, hi: int, after_id: int | None) -> dict:
        """One keyset page of ``[lo, hi)``: ids above ``after_id``, ascending, offset 0."""
        filters = self.window_filters(lo, hi)
        if after_id is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)})
        sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        return self.crm.search_page(
            self.object_type, [{"filters": filters}], self.properties, sorts, self.limit
        )


def _split_point(query: _Query, lo: int, hi: int, total: int) -> int:
    """Timestamp that splits ``[lo, hi)`` near its median record (one probe request).

    The probe sorts the window by the last-modified property and reads the record at offset
    ``min(total // 2, 9999)``; its timestamp becomes the split point (moved to ``lo + 1`` if it
    equals ``lo``, which isolates a crowded first millisecond). A median split converges in a few
    levels even when most records share one timestamp, where a time-midpoint bisection would need
    ~40. Falls back to the time midpoint if the probe yields nothing usable.
    """
    offset = min(total // 2, SEARCH_CAP - 1)
    prop = query.prop
    sorts = [{"propertyName": prop, "direction": "ASCENDING"}]
    groups = [{"filters": query.window_filters(lo, hi)}]
    data = query.crm.search_page(query.object_type, groups, [prop], sorts, 1, offset)
    results = data.get("results") or []
    stamp = _parse_ms((results[0].get("properties") or {}).get(prop)) if results else None
    if stamp is None or not lo <= stamp < hi:
        return (lo + hi) // 2
    return stamp if stamp > lo else lo + 1


def _keyset_pages(query: _Query, lo: int, hi: int, data: dict, seen: set[str]) -> Iterator[list[dict]]:
    """The pages of ``[lo, hi)`` from its first response ``data`` on, ids not yet ``seen``."""
    while True:
        results = data.get("results", [])
        fresh = [r for r in results if str(r["id"]) not in seen]
        seen.update(str(r["id"]) for r in fresh)
        if fresh:
            yield fresh
        if not results or not next_after(data):
            return
        last_id = max(int(r["id"]) for r in results)
        data = query.page(lo, hi, last_id)


def _parse_ms(value: Any) -> int | None:
    """Epoch ms from HubSpot's datetime wire formats (ISO-8601 or ms digits); None if unparseable."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return to_epoch_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None
