"""Paging cursors of the CRM list endpoint that wrap a record id, and id-range partitions.

HubSpot documents the list endpoint's ``after`` as opaque. What it sends is a record id,
base64-encoded: the spec's own example ``NTI1Cg%3D%3D`` is ``"525\\n"``, padded and
percent-encoded. The spec calls it the cursor "of the last successfully read resource", so it
may name the last id read (the next page starts after it) or the next id (the page starts at
it); both are recognised. Knowing that lets a full listing run several cursor chains at once,
each over its own id range, instead of one serial chain whose speed is one request per round trip.

Nothing here trusts the format blindly. :meth:`IdCursorCodec.detect` accepts a codec only if it
decodes the cursor HubSpot actually sent to the last id of the page just read or an id beyond
it, *and* re-encodes that id to exactly the same string. Otherwise the caller pages serially.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from itertools import product
from urllib.parse import quote, unquote


@dataclass(frozen=True)
class IdCursorCodec:
    """One way of writing a record id as a cursor (alphabet, padding, quoting, newline)."""

    plain: bool = False  # the id itself, as digits
    urlsafe: bool = True
    padded: bool = False
    percent_encoded: bool = False
    newline: bool = False
    #: the cursor names the last id read, and the next page starts after it
    exclusive: bool = False

    def encode(self, record_id: int) -> str:
        """The cursor that starts a listing at ``record_id``."""
        text = f"{record_id}\n" if self.newline else str(record_id)
        if self.plain:
            return text
        encoder = base64.urlsafe_b64encode if self.urlsafe else base64.b64encode
        token = encoder(text.encode()).decode()
        if not self.padded:
            token = token.rstrip("=")
        return quote(token, safe="") if self.percent_encoded else token

    def decode(self, cursor: str) -> int | None:
        """The id in ``cursor``, or None if this codec did not write it."""
        token = unquote(cursor) if self.percent_encoded else cursor
        if self.plain:
            text = token
        else:
            try:
                padded = token + "=" * (-len(token) % 4)
                decoder = base64.urlsafe_b64decode if self.urlsafe else base64.b64decode
                text = decoder(padded.encode()).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
        if self.newline:
            if not text.endswith("\n"):
                return None
            text = text[:-1]
        return int(text) if text.isascii() and text.isdigit() else None

    def cursor_for(self, start_id: int) -> str:
        """The cursor whose page starts at the first record with an id >= ``start_id``."""
        return self.encode(start_id - 1 if self.exclusive else start_id)

    def start_of(self, cursor: str) -> int | None:
        """The lowest id the page behind ``cursor`` can start at (None: not this codec's cursor)."""
        record_id = self.decode(cursor)
        if record_id is None:
            return None
        return record_id + 1 if self.exclusive else record_id

    @classmethod
    def detect(cls, cursor: str, last_id: int) -> IdCursorCodec | None:
        """The codec that wrote ``cursor``, if it wraps ``last_id`` or a greater id.

        ``last_id`` is the highest id on the page that came with the cursor: a cursor naming it
        is exclusive, one naming a greater id inclusive. A codec is only returned if it
        round-trips: ``encode(decode(cursor)) == cursor``.
        """
        for codec in _CANDIDATES:
            record_id = codec.decode(cursor)
            if record_id is None or record_id < last_id or codec.encode(record_id) != cursor:
                continue
            return replace(codec, exclusive=record_id == last_id)
        return None


_CANDIDATES: tuple[IdCursorCodec, ...] = (
    IdCursorCodec(plain=True),
    IdCursorCodec(plain=True, newline=True),
    *(
        IdCursorCodec(urlsafe=u, padded=p, percent_encoded=q, newline=n)
        for u, p, q, n in product((True, False), repeat=4)
    ),
)


def split_id_range(start: int, stop: int, parts: int) -> list[tuple[int, int | None]]:
    """Split ids ``[start, stop]`` into ``parts`` contiguous ranges ``[lo, hi)``.

    The last range is open (``hi`` is None) so records created beyond ``stop`` while the
    listing runs, or missing from a lagging search index that reported ``stop``, are still read.
    """
    parts = max(1, parts)
    width = max(1, (stop - start + 1) // parts)
    bounds = [start + i * width for i in range(parts) if start + i * width <= stop] or [start]
    return [(lo, bounds[i + 1] if i + 1 < len(bounds) else None) for i, lo in enumerate(bounds)]
