"""Which failed requests the hook sends again, and how long it waits first (a tenacity policy).

Retried, up to ``max_retries`` times; when the last attempt fails too, the typed error named here
is raised (:mod:`hubspot_etl.hooks.errors`):

* 429 - :class:`HubSpotRateLimitExhausted`. The wait is ``Retry-After`` when HubSpot sends it;
  otherwise ``search_backoff_s`` for the per-second limits (a search, policy ``SECONDLY``) and
  ``rate_limit_backoff_s`` (default: the burst window's length) for the rolling burst limit,
  each stretched by up to 25 % of jitter. The 429's ``X-HubSpot-RateLimit-*`` headers have
  already filled the shared pacing budget (:meth:`RollingWindowBudget.observe`), so the next
  attempt also waits until the window HubSpot reports has room.
* the 5xx statuses of :data:`RETRYABLE_5XX` - :class:`HubSpotServerError`; 423 Locked likewise,
  after at least ``locked_backoff_s``.
* dropped connections, timeouts, truncated or undecodable transfers and 2xx bodies that are not
  JSON - :class:`HubSpotTransportError` (raised as :class:`RetryableFailure` by the transport).

5xx and transport failures wait exponentially with jitter: ``backoff_base_s * 2^(n-1)`` after
the n-th attempt, capped at ``backoff_max_s``, times a random factor in [0.5, 1).

Not retried: a 429 with policy ``DAILY`` (nothing helps before the daily reset), a
``Retry-After`` above ``max_retry_after_s``, and every other 4xx (400, 401, 403, 404, 414 ...).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, NoReturn

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base

from hubspot_etl.hooks.errors import (
    HubSpotError,
    HubSpotRateLimitExhausted,
    HubSpotServerError,
    error_for_status,
    parse_error_body,
)
from hubspot_etl.hooks.log import logger
from hubspot_etl.hooks.settings import HubSpotSettings
from hubspot_etl.hooks.stats import HubSpotStats

RETRYABLE_5XX = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})


class RetryableFailure(Exception):
    """One attempt failed in a way that may be retried.

    :param reason: key of ``stats.retries_by_reason`` (``http_429``, ``connection`` ...).
    :param detail: what went wrong, for the retry log line (never a URL or header).
    :param status: HTTP status, None for transport failures.
    :param final: the typed error raised if this was the last attempt.
    :param wait_s: the wait this failure calls for (Retry-After, a 429 policy); None: backoff.
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        status: int | None,
        final: HubSpotError,
        wait_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status, self.final, self.wait_s = reason, detail, status, final, wait_s


def failure_for_status(
    settings: HubSpotSettings, endpoint: str, status: int, text: str, headers: Any, search: bool
) -> HubSpotError | RetryableFailure:
    """The exception to raise for a non-2xx response: a retryable failure, or a final error."""
    if status == 429:
        return _rate_limited(settings, endpoint, text, headers, search)
    if status in RETRYABLE_5XX or status == 423:
        final = error_for_status(status, endpoint=endpoint, body_text=text, headers=headers)
        if not isinstance(final, HubSpotServerError):
            final = HubSpotServerError("resource locked (423)", endpoint=endpoint, status=status)
        reason = "http_423" if status == 423 else "http_5xx"
        return RetryableFailure(reason, f"server returned {status}", status, final)
    return error_for_status(status, endpoint=endpoint, body_text=text, headers=headers)


def _rate_limited(
    settings: HubSpotSettings, endpoint: str, text: str, headers: Any, search: bool
) -> HubSpotError | RetryableFailure:
    """Decide how long to wait after a 429, or fail at once if waiting makes no sense."""
    info = parse_error_body(text, headers)
    policy = (info["policy_name"] or "").upper()
    message = (info["message"] or "").lower()
    common = {
        "endpoint": endpoint,
        "status": 429,
        "correlation_id": info["correlation_id"],
        "hubspot_message": info["message"],
    }
    if policy == "DAILY" or "daily" in message:
        return HubSpotRateLimitExhausted(
            "daily API limit reached (policy DAILY); not retrying - resume after the daily reset", **common
        )
    retry_after = _retry_after_seconds(headers)
    if retry_after is not None:
        if retry_after > settings.max_retry_after_s:
            return HubSpotRateLimitExhausted(
                f"asked to retry after {retry_after:.0f}s (> max_retry_after_s); not retrying", **common
            )
        wait = retry_after
    elif search or policy in ("SECONDLY", "SEARCH") or "secondly limit" in message:
        wait = settings.search_backoff_s * (1 + random.random() / 4)  # noqa: S311 - jitter, not crypto
    else:
        base = settings.rate_limit_backoff_s
        base = settings.rate_limit_interval_ms / 1000 if base is None else base
        wait = base * (1 + random.random() / 4)  # noqa: S311
    final = HubSpotRateLimitExhausted(
        f"rate limit still hit after {settings.max_retries} retries (policy {policy or 'unknown'})", **common
    )
    return RetryableFailure("http_429", f"rate limited (policy {policy or 'unknown'})", 429, final, wait)


def _retry_after_seconds(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


class HubSpotWait(wait_base):
    """tenacity wait: what the failure calls for, else exponential backoff with jitter."""

    def __init__(self, settings: HubSpotSettings) -> None:
        self._settings = settings

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = _failure(retry_state)
        if failure.wait_s is not None:
            return failure.wait_s
        if failure.status == 423:
            return max(self._settings.locked_backoff_s, self.backoff(1))
        return self.backoff(retry_state.attempt_number)

    def backoff(self, attempt: int) -> float:
        """``backoff_base_s * 2^(attempt-1)``, capped at ``backoff_max_s``, times U[0.5, 1)."""
        s = self._settings
        raw = min(s.backoff_max_s, s.backoff_base_s * (2 ** (attempt - 1)))
        return raw * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


def retrying(
    settings: HubSpotSettings,
    *,
    endpoint: str,
    attempts: int,
    stats: HubSpotStats,
    sleep: Callable[[float], None],
) -> Retrying:
    """A tenacity controller for one logical request of ``endpoint`` (``attempts`` tries in all).

    Only :class:`RetryableFailure` is retried; any other exception passes through at once. Each
    retry is counted in ``stats`` and logged; after the last attempt the failure's typed error
    is raised.
    """

    def count_and_log(retry_state: RetryCallState) -> None:
        failure = _failure(retry_state)
        stats.retry(failure.reason)
        logger.warning(
            "HubSpot %s: %s (status %s); retry %d/%d in %.2fs",
            endpoint,
            failure.detail,
            failure.status if failure.status is not None else "-",
            retry_state.attempt_number,
            attempts - 1,
            retry_state.upcoming_sleep,
        )

    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=HubSpotWait(settings),
        retry=retry_if_exception_type(RetryableFailure),
        before_sleep=count_and_log,
        retry_error_callback=_raise_final,
        sleep=sleep,
    )


def _failure(retry_state: RetryCallState) -> RetryableFailure:
    """The failure of the attempt just made (tenacity only asks after a RetryableFailure)."""
    assert retry_state.outcome is not None
    failure = retry_state.outcome.exception()
    assert isinstance(failure, RetryableFailure)
    return failure


def _raise_final(retry_state: RetryCallState) -> NoReturn:
    """Every attempt failed: raise the typed error, without chaining the internal failure."""
    raise _failure(retry_state).final from None
