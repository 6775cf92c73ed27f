"""Full listings beyond the list endpoint's floor: list chains and search id ranges at once.

HubSpot's specs exempt search from the ten-secondly limit: search has its own budget (5
requests / s at 200 records a page), which a listing through the list endpoint alone (19
requests / s at 100 records) leaves unused. A :class:`FullListing` reads the id space up to
the highest live id through ``search_concurrency`` search readers and ``list_concurrency``
list cursor chains at once, each pacing on its own budget: search readers claim slices of
about 2,000 records from the low end, list chains slices of about 4,000 from the high end
(:class:`IdFrontier`), until they meet. So both finish together whatever their real rates
(latency stretches the pacer's windows, the list's burst window starts full, ids are not
evenly dense), and what search read is one contiguous id range.

Why the list chains take the top of the id space: new records get the highest ids, and search
lags writes ("it may take a few moments for newly created or updated CRM objects to appear in
search results"), so the newest records, and every record created beyond the highest id
HubSpot reported (one more open chain), are read through the list endpoint.

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

Search slices page by key (``hs_object_id`` GTE the next id, LT the range's end, sorted by
``hs_object_id`` ascending, a fresh query each page), never by offset: no page is ever
beyond search's 10,000-result cap however many records a range holds, and a record archived
meanwhile cannot shift the pages (offset paging would skip the record after it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

from hubspot_etl.hooks.crm import LIST_PAGE_MAX, SEARCH_PAGE_MAX, CrmEndpoints, next_after, unique
from hubspot_etl.hooks.object_listing import ObjectListing
from hubspot_etl.hooks.partitioned_listing import Producer, concurrent_pages, list_chain
from hubspot_etl.hooks.settings import HubSpotSettings
from hubspot_etl.hooks.stats import HubSpotStats
from hubspot_etl.hooks.transport import GENERAL, SEARCH, budget_limits

IdRange = tuple[int, int]
_ID_ASCENDING = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]


def search_worth_it(settings: HubSpotSettings, properties: int) -> bool:
    """Whether a full listing reads through search beside the list endpoint.

    Only when search in full loads is on, both budgets are paced (with the general budget
    unpaced, the list alone is as fast as the network) and the object has at most
    ``full_load_search_max_properties`` properties. When search counts toward the general
    limit too, it still pays: a search call carries 200 records, twice a list page.
    """
    general_max, _ = budget_limits(GENERAL, settings)
    search_max, _ = budget_limits(SEARCH, settings)
    return (
        settings.full_load_search
        and bool(general_max)
        and bool(search_max)
        and properties <= settings.full_load_search_max_properties
    )


class IdFrontier:
    """The ids ``[lo, hi)`` no reader has claimed yet (thread-safe).

    Search readers claim slices from the low end, list chains from the high end, until the
    two meet: however their real rates compare (latency, the list's burst, id density), both
    run until the listing is done, and search's share is always the one contiguous range
    ``[start, meeting point)``.
    """

    def __init__(self, lo: int, hi: int) -> None:
        self.start, self.lo, self.hi = lo, lo, hi
        self._lock = threading.Lock()

    def low(self, size: int) -> IdRange | None:
        """Claim up to ``size`` ids from the low end (None: nothing left)."""
        with self._lock:
            if self.lo >= self.hi:
                return None
            claimed = (self.lo, min(self.hi, self.lo + max(1, size)))
            self.lo = claimed[1]
            return claimed

    def high(self, size: int) -> IdRange | None:
        """Claim up to ``size`` ids from the high end (None: nothing left)."""
        with self._lock:
            if self.lo >= self.hi:
                return None
            claimed = (max(self.lo, self.hi - max(1, size)), self.hi)
            self.hi = claimed[0]
            return claimed

    def searched(self) -> IdRange | None:
        """The range search claimed (None: none)."""
        with self._lock:
            return (self.start, self.lo) if self.lo > self.start else None


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
    ended, :attr:`search_ranges` holds the id range read only through search (empty: a
    list-only listing, e.g. without an id cursor or with search not worth it).
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
        live: int | None = None,
        concurrency: int | None = None,
    ) -> None:
        self._listing, self._crm, self._settings, self._stats = listing, crm, settings, stats
        self.object_type = object_type
        self.props = unique(properties or [])
        self.max_id, self.live, self.concurrency = max_id, live, concurrency
        self.search_ranges: list[IdRange] = []

    def __iter__(self) -> Iterator[list[dict]]:
        listing = self._listing
        read_page = listing.page_reader(self.object_type, self.props, LIST_PAGE_MAX, False)
        data, records = read_page(None)
        yield records
        after = next_after(data)
        if not after:
            return
        codec = listing.detect_codec(records, after, self.max_id, self.concurrency)
        first = codec.start_of(after) if codec is not None else None
        max_id = self.max_id
        if codec is None or first is None or max_id is None or max_id < first:
            yield from listing.iter_after(read_page, after, codec, max_id, self.concurrency)
            return
        if not search_worth_it(self._settings, len(self.props)):
            yield from listing.iter_after(read_page, after, codec, max_id, self.concurrency)
            return
        frontier = IdFrontier(first, max_id + 1)
        span = max_id + 1 - first
        records = min(self.live, span) if self.live else span
        ids_per_record = span / max(1, records)
        readers = listing.workers(self.concurrency) + max(1, self._settings.search_concurrency)
        # small listings get small slices, so every reader has some to claim
        fair = records // (4 * readers)
        list_slice = max(1, round(max(LIST_PAGE_MAX, min(LIST_SLICE_RECORDS, fair)) * ids_per_record))
        search_slice = max(1, round(max(SEARCH_PAGE_MAX, min(SEARCH_SLICE_RECORDS, fair)) * ids_per_record))
        # records created beyond max_id while the listing runs: the list endpoint's, always
        producers = [list_chain(read_page, codec, max_id + 1, None)]
        producers += [
            _claiming(frontier.high, list_slice, lambda lo, hi: list_chain(read_page, codec, lo, hi))
            for _ in range(listing.workers(self.concurrency))
        ]
        producers += [
            _claiming(
                frontier.low,
                search_slice,
                lambda lo, hi: search_range_reader(self._crm, self.object_type, self.props, lo, hi),
            )
            for _ in range(max(1, self._settings.search_concurrency))
        ]
        self._stats.add("list_partitions", listing.workers(self.concurrency))
        self._stats.add("search_partitions", max(1, self._settings.search_concurrency))
        yield from concurrent_pages(producers)
        searched = frontier.searched()
        self.search_ranges = [searched] if searched else []


#: records a list chain claims at once (40 pages: one partial page per slice is the cost)
LIST_SLICE_RECORDS = 4_000
#: records a search reader claims at once (10 pages)
SEARCH_SLICE_RECORDS = 2_000


def _claiming(
    claim: Callable[[int], IdRange | None], size: int, reader: Callable[[int, int], Producer]
) -> Producer:
    """A producer that keeps claiming slices with ``claim`` and reading them with ``reader``."""

    def run(put: Callable[[list[dict]], None]) -> None:
        while (claimed := claim(size)) is not None:
            reader(*claimed)(put)

    return run
