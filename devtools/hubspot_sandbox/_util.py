"""Small shared helpers for the HubSpot sandbox: time formats, opaque cursors and errors.

Everything here is pure and dependency free. Timestamps are kept internally as integer
milliseconds since the Unix epoch (UTC) and rendered the way HubSpot renders them on the
wire: ``2024-01-02T03:04:05.678Z`` for datetimes and ``2024-01-02`` for dates.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

DAY_MS = 86_400_000


class PortalError(Exception):
    """A HubSpot-style API error raised by the portal model and turned into a JSON error body.

    ``status`` is the HTTP status, ``category`` the HubSpot error category
    (``VALIDATION_ERROR``, ``OBJECT_NOT_FOUND`` ...), ``context`` the optional context map.
    """

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context


class FixtureError(ValueError):
    """Raised when a portal fixture is invalid; ``key`` is the dotted path of the bad key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def now_ms() -> int:
    """Current wall-clock time in integer epoch milliseconds."""
    return int(time.time() * 1000)


def iso_ms(ms: int) -> str:
    """Render epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    secs, rem = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem:03d}Z"


def date_str(ms: int) -> str:
    """Render epoch milliseconds as a ``YYYY-MM-DD`` date (UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(int(ms) // 1000))


def _digits(text: str) -> bool:
    return text.lstrip("-").isdigit()


def parse_datetime_ms(value: Any) -> int:
    """Parse ms-epoch (int or digit string) or an ISO-8601 datetime/date into epoch ms.

    Raises ``ValueError`` for anything else. Naive ISO strings are taken as UTC.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a datetime: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a datetime: {value!r}")
    text = value.strip()
    if _digits(text):
        return int(text)
    if len(text) == 10:
        d = date.fromisoformat(text)
        return calendar.timegm(d.timetuple()) * 1000
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(round(parsed.timestamp() * 1000))


def parse_date_ms(value: Any) -> int:
    """Parse a ``YYYY-MM-DD`` date or ms-epoch into epoch ms at UTC midnight."""
    ms = parse_datetime_ms(value)
    return ms - (ms % DAY_MS)


def encode_cursor(value: int | str) -> str:
    """Opaque paging cursor: unpadded url-safe base64 of the text value."""
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> str:
    """Inverse of :func:`encode_cursor`; tolerates percent-encoding and padding. Raises ValueError."""
    text = token.strip()
    for _ in range(3):
        if "%" not in text:
            break
        text = unquote(text)
    text = text.replace("+", "-").replace("/", "_")
    text += "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(text.encode()).decode().strip()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid cursor {token!r}") from exc


def decode_id_cursor(token: str) -> int:
    """Decode a cursor that wraps a numeric id. Raises ValueError."""
    text = decode_cursor(token)
    if not text.isdigit():
        raise ValueError(f"invalid cursor {token!r}")
    return int(text)


def correlation_id() -> str:
    """A fresh correlation id (uuid4 string), as on every HubSpot error body."""
    return str(uuid.uuid4())


def error_body(
    message: str,
    category: str | None = None,
    context: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build a HubSpot-style error body ``{"status":"error","message",...,"correlationId"}``."""
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation_id()}
    if category:
        body["category"] = category
    if context:
        body["context"] = context
    body.update(extra)
    return body


def as_bool(value: Any) -> bool:
    """Interpret query-string style booleans ("true"/"1"/"yes")."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes", "on"}
