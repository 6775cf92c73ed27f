"""Client-side pacing so HubSpot never has to answer 429.

HubSpot enforces a rolling burst window per app (e.g. 190 requests / 10 s, announced in the
``X-HubSpot-RateLimit-Max`` / ``-Interval-Milliseconds`` headers) and a separate per-second limit for
the CRM search endpoints (5/s, no headers); search and association batch reads are exempt from the
burst window. :class:`RollingWindowBudget` models one such window.

How a slot is accounted (this is what makes "budget == server limit" safe):

* :meth:`RollingWindowBudget.acquire` blocks until ``in_flight + completed_in_window < max_calls`` and
  then counts the request as *in flight*;
* :meth:`RollingWindowBudget.release` moves it to the completed list stamped with the *completion*
  time. The server stamped the request when it arrived, which is earlier, so our copy of the window
  always expires later than the server's: locally "free" implies free on the server too.
* :meth:`RollingWindowBudget.observe` adapts to response headers. If the server reports more
  usage (``Max - Remaining``) than we account for (another process or app shares the token),
  phantom entries stamped "now" fill the difference; a smaller server ``Max`` or a longer interval
  lowers the local budget. Budgets never adapt upwards beyond their configuration.

Budgets are shared process-wide per key ``(base_url, token fingerprint, kind)`` through
:func:`get_budget`, so every hook instance and thread using the same token paces together.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

Clock = Callable[[], float]


class RollingWindowBudget:
    """At most ``max_calls`` requests in any rolling ``interval_s`` window (thread-safe).

    :param max_calls: requests allowed per window; ``0`` or ``None`` disables pacing.
    :param interval_s: window length in seconds.
    :param clock: monotonic clock (injectable for unit tests).
    """

    def __init__(self, max_calls: int | None, interval_s: float, clock: Clock = time.monotonic) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self.max_calls = int(max_calls or 0)
        self.interval_s = float(interval_s)
        self._done: deque[float] = deque()
        self._in_flight = 0
        self.waited_s = 0.0

    @property
    def enabled(self) -> bool:
        return self.max_calls > 0

    def configure(self, max_calls: int | None, interval_s: float) -> None:
        """Change the budget (used when a hook with new settings joins a shared budget)."""
        with self._cond:
            self.max_calls = int(max_calls or 0)
            self.interval_s = float(interval_s)
            self._cond.notify_all()

    def _purge(self, now: float) -> None:
        while self._done and self._done[0] + self.interval_s <= now:
            self._done.popleft()

    def used(self) -> int:
        """Requests in flight plus requests completed within the current window."""
        with self._cond:
            self._purge(self._clock())
            return self._in_flight + len(self._done)

    def delay_needed(self) -> float | None:
        """Seconds until a slot frees (0 if one is free now, None if only in-flight calls block)."""
        with self._cond:
            return self._delay_locked(self._clock())

    def _delay_locked(self, now: float) -> float | None:
        self._purge(now)
        if self._in_flight + len(self._done) < self.max_calls:
            return 0.0
        if not self._done:
            return None
        return max(0.0, self._done[0] + self.interval_s - now)

    def acquire(self) -> float:
        """Block until a slot is free, take it, and return the seconds spent waiting."""
        if not self.enabled:
            return 0.0
        start = self._clock()
        with self._cond:
            while True:
                delay = self._delay_locked(self._clock())
                if delay == 0.0:
                    self._in_flight += 1
                    waited = self._clock() - start
                    self.waited_s += waited
                    return waited
                # None: every slot is in flight; a release() will notify us.
                self._cond.wait(timeout=delay if delay is not None else 1.0)

    def release(self) -> None:
        """Mark one acquired request as completed now."""
        if not self.enabled:
            return
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._done.append(self._clock())
            self._cond.notify_all()

    def observe(self, remaining: int | None, maximum: int | None, interval_ms: int | None) -> None:
        """Adapt to ``X-HubSpot-RateLimit-*`` values reported by the server."""
        if not self.enabled:
            return
        with self._cond:
            now = self._clock()
            if maximum and 0 < maximum < self.max_calls:
                self.max_calls = maximum
            if interval_ms and interval_ms / 1000.0 > self.interval_s:
                self.interval_s = interval_ms / 1000.0
            if remaining is None or maximum is None:
                return
            self._purge(now)
            server_used = maximum - remaining
            local_used = self._in_flight + len(self._done)
            phantoms = min(server_used - local_used, self.max_calls - local_used)
            for _ in range(max(0, phantoms)):
                self._done.append(now)

    def block_for(self, seconds: float) -> None:
        """Treat the whole window as used for ``seconds`` (e.g. after a server-side 429)."""
        if not self.enabled or seconds <= 0:
            return
        with self._cond:
            stamp = self._clock() + seconds - self.interval_s
            self._purge(self._clock())
            missing = self.max_calls - self._in_flight - len(self._done)
            # entries stamped so that they expire exactly `seconds` from now
            for _ in range(max(0, missing)):
                self._done.append(stamp)
            if self._done and stamp > self._done[0]:
                self._done = deque(sorted(self._done))


def headers_to_limits(headers: Mapping[str, str]) -> tuple[int | None, int | None, int | None]:
    """Parse ``(remaining, max, interval_ms)`` from HubSpot rate-limit headers (missing -> None)."""

    def _int(name: str) -> int | None:
        value = headers.get(name)
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return (
        _int("X-HubSpot-RateLimit-Remaining"),
        _int("X-HubSpot-RateLimit-Max"),
        _int("X-HubSpot-RateLimit-Interval-Milliseconds"),
    )


def token_fingerprint(token: str) -> str:
    """Non-reversible short id of a token, usable in registry keys and logs."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


_REGISTRY: dict[tuple[str, str, str], RollingWindowBudget] = {}
_REGISTRY_LOCK = threading.Lock()


def get_budget(
    base_url: str, token: str, kind: str, max_calls: int | None, interval_s: float
) -> RollingWindowBudget:
    """Return the process-wide budget for ``(base_url, token, kind)``, creating or reconfiguring it.

    ``kind`` names the limit (``"general"``, ``"search"``, ``"associations"``: which calls take
    which is declared once, in :data:`hubspot_etl.hooks.transport.CALL_KINDS`). A hook joining an existing budget applies its own
    ``max_calls``/``interval_s`` (the last configuration wins), so hooks for the same token should
    use the same settings.
    """
    key = (base_url.rstrip("/"), token_fingerprint(token), kind)
    with _REGISTRY_LOCK:
        budget = _REGISTRY.get(key)
        if budget is None:
            budget = _REGISTRY[key] = RollingWindowBudget(max_calls, interval_s)
        elif (budget.max_calls, budget.interval_s) != (int(max_calls or 0), float(interval_s)):
            budget.configure(max_calls, interval_s)
        return budget
