"""Full listings of an object type (``iter_objects``): every record, every requested property.

Two problems are solved here. Long property lists must never put a URL over ``max_url_length``
(HubSpot answers 414 at ~16,000 characters), so each page is read in one of two ways, the
cheaper chosen per listing: properties split into URL-sized chunks (k list calls per page,
merged by id) when there are at most two chunks, otherwise the ids alone plus one batch read
with the properties in the JSON body (2 calls per page). And a serial listing is one request
per round trip, so with a known highest id the rest of the listing runs as parallel cursor
chains (:mod:`hubspot_etl.hooks.partitioned_listing`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import urlencode

from hubspot_etl.hooks.crm import LIST_PAGE_MAX, CrmEndpoints, next_after, page_limit, unique
from hubspot_etl.hooks.id_cursor import IdCursorCodec, split_id_range
from hubspot_etl.hooks.partitioned_listing import PageReader, partitioned_pages
from hubspot_etl.hooks.stats import HubSpotStats
from hubspot_etl.hooks.transport import HubSpotTransport

_AFTER_RESERVE = 256  # URL characters reserved for the ``after`` cursor when planning property chunks


class ObjectListing:
    """``iter_objects`` of one hook, on top of its CRM endpoints."""

    def __init__(self, crm: CrmEndpoints, transport: HubSpotTransport, stats: HubSpotStats) -> None:
        self._crm = crm
        self._transport = transport
        self._stats = stats

    def iter_objects(
        self,
        object_type: str,
        properties: Sequence[str] | None = None,
        archived: bool = False,
        page_size: int = 100,
        *,
        max_id: int | None = None,
        concurrency: int | None = None,
    ) -> Iterator[list[dict]]:
        """All records of ``object_type`` (``archived=True``: only archived ones), one list per page.

        Long property lists never put a URL over ``max_url_length`` (414 protection): pages are
        read with the properties in URL-sized chunks, or as ids plus a batch read, whichever
        takes fewer calls (see :mod:`hubspot_etl.hooks.object_listing`).

        Parallel listing: given ``max_id`` (the highest id HubSpot knows, e.g. from ``id_span``)
        and ``concurrency`` > 1 (default ``list_concurrency``), the ids after the first page are
        split into ranges read by separate cursor chains at once. Pages then arrive in no
        particular order; every record still comes exactly once. Without a recognised id cursor
        it pages serially.
        """
        page_size = page_limit(page_size, LIST_PAGE_MAX)
        props = unique(properties or [])
        read_page = self.page_reader(object_type, props, page_size, archived)
        data, records = read_page(None)
        yield records
        after = next_after(data)
        if not after:
            return
        codec = self.detect_codec(records, after, max_id, concurrency)
        yield from self.iter_after(read_page, after, codec, max_id, concurrency)

    def iter_after(
        self,
        read_page: PageReader,
        after: str,
        codec: IdCursorCodec | None,
        max_id: int | None,
        concurrency: int | None,
    ) -> Iterator[list[dict]]:
        """The pages after the first (whose cursor is ``after``): cursor chains over id ranges
        up to ``max_id`` when ``codec`` knows the cursor, else one serial chain."""
        first = codec.start_of(after) if codec is not None else None
        if codec is None or first is None or max_id is None:
            yield from _serial_pages(read_page, after)
            return
        workers = self.workers(concurrency)
        ranges = split_id_range(first, max_id, workers) if max_id >= first else [(first, None)]
        self._stats.add("list_partitions", len(ranges))
        yield from partitioned_pages(read_page, codec, after, ranges)

    def workers(self, concurrency: int | None) -> int:
        """Cursor chains a listing runs at once (``concurrency``, default ``list_concurrency``)."""
        return self._transport.settings.list_concurrency if concurrency is None else concurrency

    def detect_codec(
        self, records: list[dict], after: str, max_id: int | None, concurrency: int | None
    ) -> IdCursorCodec | None:
        """The id codec of the first page's cursor, if a parallel listing is possible at all."""
        if self.workers(concurrency) <= 1 or max_id is None or not records:
            return None
        return IdCursorCodec.detect(after, max(int(r["id"]) for r in records))

    def page_reader(self, object_type: str, props: list[str], page_size: int, archived: bool) -> PageReader:
        """``read(after) -> (raw first response, records with every property)`` for one listing."""
        path = self._crm.path("objects.list", object_type=object_type)
        chunks = self.property_chunks(path, props, page_size, archived)
        if chunks is not None and len(chunks) <= 2:
            return lambda after: self._list_chunked(path, chunks, page_size, archived, after)

        def read_and_hydrate(after: str | None) -> tuple[dict, list[dict]]:
            data = self._crm.list_page(path, ["hs_object_id"], page_size, archived, after)
            records = self._hydrate(object_type, data.get("results", []), props, archived)
            self._stats.add("hydrated_pages")
            return data, records

        return read_and_hydrate

    def property_chunks(
        self, path: str, props: list[str], page_size: int, archived: bool
    ) -> list[list[str]] | None:
        """Split ``props`` so each list URL stays within budget; None if one name alone is too long."""
        if not props:
            return [[]]
        probe = {"limit": page_size, "archived": archived, "after": "x" * _AFTER_RESERVE}
        room = (
            self._transport.settings.max_url_length
            - len(self._transport.build_url(path, probe))
            - len("&properties=")
        )
        chunks: list[list[str]] = [[]]
        used = 0
        for name in props:
            cost = len(urlencode({"p": name})) - 2  # encoded length of the name
            if cost > room:
                return None
            extra = cost if not chunks[-1] else cost + 1
            if used + extra > room:
                chunks.append([name])
                used = cost
            else:
                chunks[-1].append(name)
                used += extra
        return chunks

    def _list_chunked(
        self, path: str, chunks: list[list[str]], page_size: int, archived: bool, after: str | None
    ) -> tuple[dict, list[dict]]:
        """Read one page once per property chunk (same cursor) and merge properties by id."""
        first = self._crm.list_page(path, chunks[0], page_size, archived, after)
        records = [dict(r, properties=dict(r.get("properties") or {})) for r in first.get("results", [])]
        if len(chunks) > 1:
            self._stats.add("property_chunked_pages")
            by_id = {str(r["id"]): r for r in records}
            for chunk in chunks[1:]:
                page = self._crm.list_page(path, chunk, page_size, archived, after)
                for rec in page.get("results", []):
                    target = by_id.get(str(rec["id"]))
                    if target is None:  # appeared between chunk calls: keep what we have
                        target = by_id[str(rec["id"])] = dict(rec, properties={})
                        records.append(target)
                    target["properties"].update(rec.get("properties") or {})
        return first, records

    def _hydrate(self, object_type: str, listed: list[dict], props: list[str], archived: bool) -> list[dict]:
        """Batch-read listed ids with all ``props``; keep list order; fall back to the listed row."""
        if not listed:
            return []
        full = self._crm.batch_read(object_type, [r["id"] for r in listed], props, archived=archived)
        by_id = {str(r["id"]): r for r in full}
        return [by_id.get(str(r["id"]), r) for r in listed]


def _serial_pages(read_page: PageReader, after: str | None) -> Iterator[list[dict]]:
    while after:
        data, records = read_page(after)
        yield records
        after = next_after(data)
