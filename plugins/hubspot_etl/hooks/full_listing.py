"""Full listings beyond the list endpoint's floor: list chains and search id ranges at once.

HubSpot's specs exempt search from the ten-secondly limit: search has its own budget (5
requests / s at 200 records a page), which a listing through the list endpoint alone (19
requests / s at 100 records) leaves unused. A :class:`FullListing` reads the lower part of
the id space through search, in ``search_concurrency`` id ranges, while the list endpoint's
cursor chains read the rest, the cut chosen so both finish at about the same time given the
hook's configured budgets (:func:`listing_rates`, :func:`split_id_space`).

Why the list chains keep the top of the id space: new records get the highest ids, and search
lags writes ("it may take a few moments for newly created or updated CRM objects to appear in
search results"), so the newest records, and every record created beyond the highest id
HubSpot reported, are read through the list endpoint (its last range is open).

What search-read records mean for exactness (the oracle stays exact):

* a record search returns may be older than the list endpoint's copy (the index lags a
  write by seconds). Any record written during the load has a modified date after the
  extract started, and the next incremental window starts at or before the full load's
  ``extract_started_at`` minus the lookback (:func:`hubspot_etl.sync.plan.next_watermark`,
  :func:`~hubspot_etl.sync.plan.choose_window`), so it is re-read then, by batch read from the
  primary store. A record written shortly *before* the load whose index entry still lags is
  the same case the incremental search already relies on: the lookback covers index lag;
* a record search does not return at all (not yet indexed) is never classified by its
  absence: purge classification trusts only complete listings. The id ranges read through
  search are recorded (:attr:`FullListing.search_ranges`, the manifest's ``search_ranges``)
  and reconcile confirms every purge candidate inside them by a batch read before marking it
  purged (see :mod:`hubspot_etl.sync.reconcile`);
* search never returns archived records; a full listing only lists live ones (the archived
  listing is the list endpoint's, always).

Search ranges page by key (``hs_object_id`` GTE the next id, LT the range's end, sorted by
``hs_object_id`` ascending, a fresh query each page), never by offset: no page is ever
beyond search's 10,000-result cap however many records a range holds, and a record archived
meanwhile cannot shift the pages (offset paging would skip the record after it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from hubspot_etl.hooks.crm import LIST_PAGE_MAX, SEARCH_PAGE_MAX, CrmEndpoints, next_after, unique
from hubspot_etl.hooks.id_cursor import split_id_range
from hubspot_etl.hooks.object_listing import ObjectListing
from hubspot_etl.hooks.partitioned_listing import Producer, concurrent_pages, list_chain
from hubspot_etl.hooks.settings import HubSpotSettings
from hubspot_etl.hooks.stats import HubSpotStats
from hubspot_etl.hooks.transport import GENERAL, SEARCH, budget_limits, budget_names

IdRange = tuple[int, int]
_ID_ASCENDING = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]


def listing_rates(
    settings: HubSpotSettings, list_calls_per_page: int, latency_s: float = 0.0
) -> tuple[float, float] | None:
    """``(list records / s, search records / s)`` the hook's budgets allow; None: list only.

    A budget's slot frees one interval after its call *completes* (:mod:`~hubspot_etl.hooks.pacing`),
    so ``max_calls`` per ``interval_s`` carry ``max_calls / (interval_s + latency_s)`` calls a
    second: at 0.3 s a call, search's 5 / s are 3.8 / s, the list's 190 / 10 s 18.4 / s.
    None when search in full loads is off or either budget is unpaced (no rate to balance).
    When search counts toward the general limit too, its calls are taken out of the list's
    share (a search call still carries 200 records, twice a list page, so it pays).
    """
    general_max, general_s = budget_limits(GENERAL, settings)
    search_max, search_s = budget_limits(SEARCH, settings)
    if not settings.full_load_search or not general_max or not search_max:
        return None
    general = general_max / (general_s + latency_s)
    search = search_max / (search_s + latency_s)
    if GENERAL in budget_names(SEARCH, settings):
        search = min(search, general / 2)
        general -= search
    return general * LIST_PAGE_MAX / max(1, list_calls_per_page), search * SEARCH_PAGE_MAX


def split_id_space(
    first: int, max_id: int, list_rate: float, search_rate: float, parts: int, list_head_start: int = 0
) -> tuple[list[IdRange], int]:
    """Split ids ``[first, max_id]``: ``(search ranges [lo, hi), first id of the list chains)``.

    Search takes the lower part of the span, in ``parts`` contiguous ranges (fewer if a range
    would hold less than one search page of ids), sized so that at uniform id density both
    finish together: the list reads ``list_head_start`` records at once (the free slots of its
    burst window) and then ``list_rate`` a second, search ``search_rate`` a second. No search
    range if its share is under one page.
    """
    span = max_id - first + 1
    if span <= 0 or search_rate <= 0:
        return [], first
    paced = max(0, span - list_head_start)
    cut = first + int(paced * search_rate / (list_rate + search_rate))
    parts = min(max(1, parts), (cut - first) // SEARCH_PAGE_MAX)
    if parts < 1:
        return [], first
    ranges = split_id_range(first, cut - 1, parts)
    return [(lo, hi if hi is not None else cut) for lo, hi in ranges], cut


def search_range_reader(
    crm: CrmEndpoints, object_type: str, props: Sequence[str], lo: int, hi: int
) -> Producer:
    """The producer that reads ids ``[lo, hi)`` through search, 200 a page, paging by key."""

    def read(put: Callable[[list[dict]], None]) -> None:
        start = lo
        while start < hi:
            filters = [
                {"propertyName": "hs_object_id", "operator": "GTE", "value": str(start)},
                {"propertyName": "hs_object_id", "operator": "LT", "value": str(hi)},
            ]
            data = crm.search_page(object_type, [{"filters": filters}], props, _ID_ASCENDING, SEARCH_PAGE_MAX)
            records = data.get("results") or []
            if records:
                put(records)
            if len(records) < SEARCH_PAGE_MAX or not next_after(data):
                return
            start = max(int(r["id"]) for r in records) + 1

    return read


class FullListing:
    """Every live record of one object type, through list chains and search ranges at once.

    Iterate it for pages (in no particular order; every record once). Once iteration has
    planned the split, :attr:`search_ranges` holds the id ranges read only through search
    (empty: a list-only listing, e.g. without an id cursor or with search not worth it).
    """

    def __init__(
        self,
        listing: ObjectListing,
        crm: CrmEndpoints,
        settings: HubSpotSettings,
        stats: HubSpotStats,
        object_type: str,
        properties: Sequence[str] | None,
        *,
        max_id: int | None,
        concurrency: int | None = None,
    ) -> None:
        self._listing, self._crm, self._settings, self._stats = listing, crm, settings, stats
        self.object_type = object_type
        self.props = unique(properties or [])
        self.max_id, self.concurrency = max_id, concurrency
        self.search_ranges: list[IdRange] = []

    def __iter__(self) -> Iterator[list[dict]]:
        listing = self._listing
        read_page = listing.page_reader(self.object_type, self.props, LIST_PAGE_MAX, False)
        started = time.monotonic()
        data, records = read_page(None)
        latency_s = time.monotonic() - started  # this page's calls, one after another
        yield records
        after = next_after(data)
        if not after:
            return
        codec = listing.detect_codec(records, after, self.max_id, self.concurrency)
        first = codec.start_of(after) if codec is not None else None
        if codec is None or first is None or self.max_id is None:
            yield from listing.iter_after(read_page, after, None, self.max_id, self.concurrency)
            return
        self.search_ranges, list_from = self._split(first, self.max_id, latency_s)
        if not self.search_ranges:
            yield from listing.iter_after(read_page, after, codec, self.max_id, self.concurrency)
            return
        workers = listing.workers(self.concurrency)
        list_ranges = (
            split_id_range(list_from, self.max_id, workers)
            if self.max_id >= list_from
            else [(list_from, None)]
        )
        producers = [list_chain(read_page, codec, lo, hi) for lo, hi in list_ranges]
        producers += [
            search_range_reader(self._crm, self.object_type, self.props, lo, hi)
            for lo, hi in self.search_ranges
        ]
        self._stats.add("list_partitions", len(list_ranges))
        self._stats.add("search_partitions", len(self.search_ranges))
        yield from concurrent_pages(producers)

    def _split(self, first: int, max_id: int, latency_s: float) -> tuple[list[IdRange], int]:
        if len(self.props) > self._settings.full_load_search_max_properties:
            return [], first
        calls = self._listing.calls_per_page(self.object_type, self.props, LIST_PAGE_MAX)
        rates = listing_rates(self._settings, calls, latency_s / calls)
        if rates is None:
            return [], first
        head_start = self._listing.free_list_calls() // calls * LIST_PAGE_MAX
        return split_id_space(first, max_id, *rates, self._settings.search_concurrency, head_start)
