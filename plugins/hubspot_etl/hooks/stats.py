"""Thread-safe request counters of a :class:`~hubspot_etl.hooks.hubspot.HubSpotHook`.

``calls`` counts every HTTP request actually sent (retries included, since that is what
HubSpot's rate limiter sees) keyed by logical endpoint name:
``objects.list``, ``objects.search``, ``objects.batch_read``, ``properties``, ``schemas``,
``pipelines``, ``owners``, ``associations.batch_read``, ``associations.labels``.

Scalar counters (see :data:`COUNTERS`):

* ``retries`` - requests re-sent after a retryable failure (``retries_by_reason`` breaks them down:
  ``http_429``, ``http_5xx``, ``http_423``, ``connection``, ``invalid_body``);
* ``http_429`` - 429 responses received;
* ``search_splits`` - time windows ``iter_modified`` bisected because ``total`` > 10,000;
* ``search_keyset_windows`` - unsplittable windows (>10,000 identical timestamps) paged by id only;
* ``batch_missing_ids`` - ids requested from batch read but not returned;
* ``association_errors`` - per-input errors in association 207 responses;
* ``property_chunked_pages`` / ``hydrated_pages`` - list pages read via property chunks / via
  ids + batch read (the 414-avoidance strategies of ``iter_objects``);
* ``list_partitions`` - id ranges a full listing read with parallel cursor chains (0: serial);
* ``pacing_wait_s`` - seconds spent blocked by the client-side budgets.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

COUNTERS = (
    "retries",
    "http_429",
    "search_splits",
    "search_keyset_windows",
    "batch_missing_ids",
    "association_errors",
    "property_chunked_pages",
    "hydrated_pages",
    "list_partitions",
)


class HubSpotStats:
    """Counters shared by all threads using one hook."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.retries_by_reason: Counter[str] = Counter()
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self.pacing_wait_s = 0.0

    def call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def retry(self, reason: str) -> None:
        with self._lock:
            self.counters["retries"] += 1
            self.retries_by_reason[reason] += 1

    def waited(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.pacing_wait_s += seconds

    def __getattr__(self, name: str) -> int:
        # stats.retries, stats.http_429, stats.search_splits ... read the counters
        if name in COUNTERS:
            with self.__dict__["_lock"]:
                return self.__dict__["counters"][name]
        raise AttributeError(name)

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable snapshot for run reports."""
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "total_calls": sum(self.calls.values()),
                **{name: self.counters[name] for name in COUNTERS},
                "retries_by_reason": dict(sorted(self.retries_by_reason.items())),
                "pacing_wait_s": round(self.pacing_wait_s, 3),
            }

    def __repr__(self) -> str:
        return f"HubSpotStats({self.as_dict()})"
