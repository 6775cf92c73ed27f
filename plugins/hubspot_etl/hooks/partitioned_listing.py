"""Partitioned listing: several cursor chains over disjoint id ranges, read at once in threads.

A serial listing makes one request per round trip. When the list cursor is a recognised id
position (:mod:`hubspot_etl.hooks.id_cursor`), the ids after the first page can be split into
ranges and each range read by its own chain, started at a cursor forged for its first id.
:func:`concurrent_pages` runs any such page producers (also the search readers of
:mod:`hubspot_etl.hooks.full_listing`) in threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hubspot_etl.hooks.crm import next_after
from hubspot_etl.hooks.errors import HubSpotError
from hubspot_etl.hooks.id_cursor import IdCursorCodec

#: ``read(after) -> (raw response, records)``: one page of a listing, from its cursor
PageReader = Callable[[str | None], tuple[dict, list[dict]]]


class _ListingStopped(Exception):
    """Raised inside a listing thread when the consumer has gone away."""


class _ChainFailed:
    """A listing thread's exception, passed to the consuming thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_CHAIN_DONE = object()


#: a producer runs in its own thread and hands each page to ``put``
Producer = Callable[[Callable[[list[dict]], None]], None]


def partitioned_pages(
    read_page: PageReader,
    codec: IdCursorCodec,
    first_after: str | None,
    ranges: list[tuple[int, int | None]],
) -> Iterator[list[dict]]:
    """Run one cursor chain per id range in threads; yield their pages as they arrive.

    The first range starts at ``first_after`` (the cursor HubSpot sent; None: a forged one like
    every other range's), every other one at a cursor ``codec`` writes for its first id. A
    chain keeps only ids inside its range and stops at the first id (or next cursor) past it,
    so ranges never overlap. A failing chain stops the others and its error is raised here.
    """
    chains = [
        list_chain(read_page, codec, lo, hi, first_after if index == 0 and first_after else None)
        for index, (lo, hi) in enumerate(ranges)
    ]
    yield from concurrent_pages(chains)


def list_chain(
    read_page: PageReader, codec: IdCursorCodec, lo: int, hi: int | None, cursor: str | None = None
) -> Producer:
    """The producer that lists ids ``[lo, hi)`` (``hi`` None: to the end) by one cursor chain."""

    def chain(put: Callable[[list[dict]], None]) -> None:
        after: str | None = cursor or codec.cursor_for(lo)
        checked = False
        while after:
            data, records = read_page(after)
            if not checked and any(int(r["id"]) < lo for r in records):
                raise HubSpotError(
                    f"the list cursor for id {lo} returned lower ids, so this portal's cursors are "
                    "not id positions; set the connection extra list_concurrency to 1",
                    endpoint="objects.list",
                )
            checked = True
            kept = records if hi is None else [r for r in records if int(r["id"]) < hi]
            put(kept)
            after = next_after(data)
            if hi is not None and (len(kept) < len(records) or _past(codec, after, hi)):
                return

    return chain


def concurrent_pages(producers: list[Producer]) -> Iterator[list[dict]]:
    """Run every producer in its own thread; yield the pages they put as they arrive.

    The bounded queue keeps memory flat when the consumer is slower than the producers; a
    failing producer stops the others and its error is raised here, as is the consumer
    going away (the producers stop at their next page).
    """
    pages: queue.Queue[Any] = queue.Queue(maxsize=2 * len(producers))
    stopping = threading.Event()

    def put(item: Any) -> None:
        while not stopping.is_set():
            try:
                pages.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _ListingStopped

    def run(producer: Producer) -> None:
        try:
            producer(put)
            put(_CHAIN_DONE)
        except _ListingStopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            try:
                put(_ChainFailed(exc))
            except _ListingStopped:
                pass

    pool = ThreadPoolExecutor(max_workers=len(producers), thread_name_prefix="hubspot-list")
    try:
        for producer in producers:
            pool.submit(run, producer)
        running = len(producers)
        while running:
            item = pages.get()
            if item is _CHAIN_DONE:
                running -= 1
            elif isinstance(item, _ChainFailed):
                raise item.error
            else:
                yield item
    finally:
        stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _past(codec: IdCursorCodec, cursor: str | None, hi: int) -> bool:
    """True if the chain's next page would start at or beyond ``hi`` (or there is none)."""
    if not cursor:
        return True
    next_id = codec.start_of(cursor)
    if next_id is None:
        raise HubSpotError(
            "the list cursor changed format during a partitioned listing", endpoint="objects.list"
        )
    return next_id >= hi
