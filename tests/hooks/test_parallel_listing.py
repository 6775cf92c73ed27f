"""Parallel (id-partitioned) listing: the cursor codec, the id ranges, and the hook over HTTP.

The integration tests compare the partitioned listing with a serial one against the sandbox:
the same records, each exactly once, with the same property values, for a few extra calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot_etl.hooks.errors import HubSpotError, HubSpotServerError
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_etl.hooks.id_cursor import IdCursorCodec, split_id_range
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal

TOKEN = "listing-token"
PROPS = ["firstname", "lastname", "email", "hs_object_id", "lastmodifieddate"]


# ------------------------------------------------------------------ cursor codec
def test_codec_reads_hubspots_documented_cursor() -> None:
    """The spec's example ``NTI1Cg%3D%3D`` is padded, percent-encoded base64 of "525\\n"."""
    codec = IdCursorCodec.detect("NTI1Cg%3D%3D", last_id=524)
    assert codec is not None
    assert codec.decode("NTI1Cg%3D%3D") == 525
    assert codec.encode(525) == "NTI1Cg%3D%3D"
    assert codec.encode(1001) != codec.encode(1000)
    assert codec.decode(codec.encode(98_765_432_101)) == 98_765_432_101


def test_a_cursor_naming_the_last_id_read_is_exclusive() -> None:
    codec = IdCursorCodec.detect("NTI1Cg%3D%3D", last_id=525)
    assert codec is not None and codec.exclusive
    assert codec.start_of("NTI1Cg%3D%3D") == 526
    assert codec.cursor_for(526) == "NTI1Cg%3D%3D"
    inclusive = IdCursorCodec.detect("NTI1Cg%3D%3D", last_id=524)
    assert inclusive is not None and not inclusive.exclusive and inclusive.start_of("NTI1Cg%3D%3D") == 525


def test_codec_reads_the_sandbox_cursor_and_plain_ids() -> None:
    from hubspot_sandbox._util import encode_cursor

    sandbox_cursor = encode_cursor(4711)
    codec = IdCursorCodec.detect(sandbox_cursor, last_id=4700)
    assert codec is not None and codec.decode(sandbox_cursor) == 4711
    assert codec.encode(4711) == sandbox_cursor
    plain = IdCursorCodec.detect("4711", last_id=4700)
    assert plain is not None and plain.plain and plain.encode(12) == "12"


@pytest.mark.parametrize(
    "cursor, last_id",
    [
        ("MC0yLTE1OTc0MDA2NTg%3D", 1),  # an association cursor: "0-2-1597400658", not an id
        ("not a cursor!", 1),
        ("NTI1Cg%3D%3D", 526),  # wraps 525, below the last id of the page just read
        ("", 0),
    ],
)
def test_codec_refuses_cursors_that_are_not_next_ids(cursor: str, last_id: int) -> None:
    assert IdCursorCodec.detect(cursor, last_id) is None


def test_split_id_range_is_contiguous_and_open_ended() -> None:
    ranges = split_id_range(101, 1000, 4)
    assert len(ranges) == 4
    assert ranges[0][0] == 101 and ranges[-1][1] is None
    for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False):
        assert hi == lo  # no gap, no overlap
    assert split_id_range(5, 6, 4) == [(5, 6), (6, None)]
    assert split_id_range(7, 7, 4) == [(7, None)]


# ------------------------------------------------------------------ threads, without HTTP
def _pages_of(ids: list[int], size: int, codec: IdCursorCodec):
    """A list endpoint over ``ids`` whose cursors ``codec`` writes (next id, or last id read)."""

    def read_page(after: str | None) -> tuple[dict, list[dict]]:
        start = 0 if after is None else next(i for i, v in enumerate(ids) if v >= codec.start_of(after))
        page = [{"id": str(v)} for v in ids[start : start + size]]
        data: dict[str, Any] = {"results": page}
        if start + size < len(ids):
            named = ids[start + size - 1] if codec.exclusive else ids[start + size]
            data["paging"] = {"next": {"after": codec.encode(named)}}
        return data, page

    return read_page


@pytest.mark.parametrize("exclusive", [False, True], ids=["next-id", "last-id"])
def test_partitioned_pages_returns_every_id_once_on_skewed_ids(exclusive: bool) -> None:
    codec = IdCursorCodec(urlsafe=False, padded=True, percent_encoded=True, newline=True, exclusive=exclusive)
    ids = list(range(1, 400)) + list(range(10_000, 10_050)) + [999_999]
    read_page = _pages_of(ids, 7, codec)
    hook = HubSpotHook.from_params("unused-token", host="http://127.0.0.1:9")
    first, page = read_page(None)
    after = first["paging"]["next"]["after"]
    detected = IdCursorCodec.detect(after, max(int(r["id"]) for r in page))
    assert detected is not None and detected.exclusive == exclusive
    assert detected.cursor_for(10_000) == codec.cursor_for(10_000)
    ranges = split_id_range(codec.start_of(after), 10_049, 4)  # the index does not know 999,999 yet
    rows = page + [r for p in hook._partitioned_pages(read_page, codec, after, ranges) for r in p]
    assert sorted(int(r["id"]) for r in rows) == ids


def test_a_cursor_that_is_not_an_id_position_fails_with_a_named_cause() -> None:
    codec = IdCursorCodec(urlsafe=True)
    ids = list(range(1, 200))
    honest = _pages_of(ids, 10, codec)

    def read_page(after: str | None) -> tuple[dict, list[dict]]:
        data, page = honest(after)
        if after is not None and codec.start_of(after) > 100:
            return honest(None)  # a server that ignores the forged cursor and starts over
        return data, page

    hook = HubSpotHook.from_params("unused-token", host="http://127.0.0.1:9")
    first, _ = read_page(None)
    after = first["paging"]["next"]["after"]
    with pytest.raises(HubSpotError, match="list_concurrency"):
        list(hook._partitioned_pages(read_page, codec, after, split_id_range(11, 199, 4)))


def test_a_failing_chain_raises_and_stops_the_others() -> None:
    codec = IdCursorCodec(urlsafe=True)
    honest = _pages_of(list(range(1, 2000)), 5, codec)
    ranges = split_id_range(6, 1999, 2)
    broken = ranges[1][0] + 50  # the second chain fails on its 11th page
    calls: list[str | None] = []
    lock = threading.Lock()

    def read_page(after: str | None) -> tuple[dict, list[dict]]:
        with lock:
            calls.append(after)
        if after is not None and codec.start_of(after) == broken:
            raise HubSpotServerError("server returned 503", endpoint="objects.list", status=503)
        return honest(after)

    hook = HubSpotHook.from_params("unused-token", host="http://127.0.0.1:9")
    with pytest.raises(HubSpotServerError, match="503"):
        list(hook._partitioned_pages(read_page, codec, codec.encode(6), ranges))
    assert len(calls) < 400  # the healthy chain did not read its whole range after the failure


# ------------------------------------------------------------------ over HTTP
@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    portal = generate_portal(seed=3, contacts=2500, companies=50, deals=10, tickets=10, custom=10)
    config = SandboxConfig(
        tokens={TOKEN: list(ALL_SCOPES)},
        rate_limit_max=100_000,
        search_per_second=1000,
        latency_ms=0,
        seed=3,
    )
    with SandboxServer(portal, config) as server:
        yield server


def hook_for(srv: SandboxServer) -> HubSpotHook:
    return HubSpotHook.from_params(
        TOKEN, host=srv.url, rate_limit_max=100_000, search_per_second=1000, list_concurrency=4
    )


def listing(hook: HubSpotHook, **kw: Any) -> dict[str, dict]:
    rows = [r for page in hook.iter_objects("contacts", properties=PROPS, **kw) for r in page]
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows), "a record came twice"
    return by_id


def test_partitioned_listing_equals_the_serial_listing(srv: SandboxServer) -> None:
    serial_hook, parallel_hook = hook_for(srv), hook_for(srv)
    serial = listing(serial_hook, concurrency=1)
    total, max_id = parallel_hook.id_span("contacts")
    assert total == len(serial) and max_id == max(int(i) for i in serial)
    parallel = listing(parallel_hook, max_id=max_id)
    assert parallel == serial  # same ids, same property values
    stats = parallel_hook.stats.as_dict()
    assert stats["list_partitions"] == 4
    serial_calls = serial_hook.stats.as_dict()["calls"]["objects.list"]
    assert serial_calls <= stats["calls"]["objects.list"] <= serial_calls + 3  # one partial page per range


def test_records_beyond_a_stale_max_id_are_still_listed(srv: SandboxServer) -> None:
    expected = listing(hook_for(srv), concurrency=1)
    stale_max = sorted(int(i) for i in expected)[len(expected) // 3]
    assert listing(hook_for(srv), max_id=stale_max) == expected


def test_without_a_max_id_the_listing_is_serial(srv: SandboxServer) -> None:
    hook = hook_for(srv)
    listing(hook)
    assert hook.stats.as_dict()["list_partitions"] == 0
