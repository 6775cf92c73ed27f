"""HTTP for the HubSpot hook: sessions, client-side pacing and retries.

:meth:`HubSpotTransport.request` sends one logical request: it refuses URLs longer than
``max_url_length``, takes a slot of the shared pacing budgets (:mod:`hubspot_etl.hooks.pacing`)
for every attempt, and retries as :mod:`hubspot_etl.hooks.retry_policy` decides. The token
travels only in the ``Authorization`` header of the sessions; no URL, log line, exception or repr
made here contains it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import requests

from hubspot_etl import fastjson
from hubspot_etl.hooks.errors import HubSpotTransportError, HubSpotUriTooLong
from hubspot_etl.hooks.pacing import RollingWindowBudget, get_budget, headers_to_limits
from hubspot_etl.hooks.retry_policy import RetryableFailure, failure_for_status, retrying
from hubspot_etl.hooks.settings import HubSpotSettings
from hubspot_etl.hooks.stats import HubSpotStats

#: what a dropped connection, a timeout or a broken transfer raises in ``requests``
_TRANSPORT_FAILURES = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class HubSpotTransport:
    """Paced, retried JSON requests to one HubSpot host with one token.

    Thread safety: one transport may be shared by a small thread pool. HTTP goes through one
    keep-alive ``requests.Session`` *per thread* (``threading.local``): ``requests`` does not
    promise that a Session is thread-safe (its cookie jar and adapter state are shared mutable
    objects), while a per-thread session keeps connection reuse and avoids any locking.
    Pacing budgets are shared by every transport and thread of the process for the same
    (host, token); ``stats`` is lock-protected.

    :param settings: returns the hook's settings; called on use, so the Airflow connection is
        only read when the first request is made.
    :param stats: the hook's counters (calls, retries, 429s, pacing waits).
    :param sleep: how retries wait (injectable for tests).
    """

    def __init__(
        self,
        settings: Callable[[], HubSpotSettings],
        stats: HubSpotStats,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._stats = stats
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @property
    def settings(self) -> HubSpotSettings:
        return self._settings()

    # ------------------------------------------------------------------ sessions
    def session(self) -> requests.Session:
        """The calling thread's keep-alive session (created on first use)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(
                {
                    "Authorization": f"Bearer {self.settings.token}",
                    "User-Agent": self.settings.user_agent,
                    "Accept": "application/json",
                }
            )
            session.trust_env = False
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every session opened by this transport."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    # ------------------------------------------------------------------ requests
    def build_url(self, path: str, params: dict[str, Any] | None = None) -> str:
        """Absolute URL; commas stay literal so property lists cost one character per separator."""
        url = self.settings.base_url + path
        if params:
            clean = {k: _param_value(v) for k, v in params.items() if v is not None}
            url += "?" + urlencode(clean, safe=",")
        return url

    def request(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        max_attempts: int | None = None,
    ) -> dict:
        """Send one logical request with pacing and retries; return the parsed JSON body.

        :param endpoint: logical endpoint name (``stats.calls`` key, error and log context); its
            :data:`CALL_KINDS` entry decides which rate limits the request counts against.
        :param max_attempts: attempts in all (default: ``max_retries + 1``).
        """
        settings = self.settings
        url = self.build_url(path, params)
        if len(url) > settings.max_url_length:
            raise HubSpotUriTooLong(
                f"request not sent: URL of {len(url)} characters exceeds max_url_length "
                f"{settings.max_url_length}",
                endpoint=endpoint,
            )
        attempts = max_attempts or settings.max_retries + 1
        retry = retrying(settings, endpoint=endpoint, attempts=attempts, stats=self._stats, sleep=self._sleep)
        return retry(self._attempt, endpoint, method, url, body)

    def budgets(self, endpoint: str) -> dict[str, RollingWindowBudget]:
        """The shared budgets a request to ``endpoint`` takes a slot of, by budget name."""
        s = self.settings
        return {
            name: get_budget(s.base_url, s.token, name, *budget_limits(name, s))
            for name in budget_names(call_kind(endpoint), s)
        }

    def _attempt(self, endpoint: str, method: str, url: str, body: Any) -> dict:
        """One paced HTTP exchange; raises :class:`RetryableFailure` for what may be retried."""
        settings = self.settings
        kind = call_kind(endpoint)
        named = self.budgets(endpoint)
        budgets = list(named.values())
        for budget in budgets:
            self._stats.waited(budget.acquire())
        try:
            self._stats.call(endpoint)
            response = self.session().request(
                method, url, json=body, timeout=(settings.connect_timeout, settings.read_timeout)
            )
            text = response.text  # reads the body: truncated transfers raise here
        except _TRANSPORT_FAILURES as exc:
            final = HubSpotTransportError(
                f"transport failure ({type(exc).__name__}) talking to {settings.base_url}",
                endpoint=endpoint,
            )
            raise RetryableFailure("connection", type(exc).__name__, None, final) from None
        finally:
            for budget in budgets:
                budget.release()
        if GENERAL in named:  # the rate-limit headers describe the ten-secondly window
            named[GENERAL].observe(*headers_to_limits(response.headers))
        status = response.status_code
        if 200 <= status < 300:
            return _json_body(endpoint, status, text)
        if status == 429:
            self._stats.add("http_429")
        raise failure_for_status(settings, endpoint, status, text, response.headers, kind == SEARCH)


#: kinds of call, each with its own HubSpot rate limit
GENERAL, SEARCH, ASSOCIATIONS = "general", "search", "associations"
#: endpoint -> kind of call; every endpoint not listed is ``general`` (the ten-secondly window).
#: HubSpot's specs exempt search and association batch reads from the ten-secondly limit
#: (``x-hubspot-rate-limit-exemptions: ["ten-secondly"]``); search has its own 5 / s.
CALL_KINDS: dict[str, str] = {"objects.search": SEARCH, "associations.batch_read": ASSOCIATIONS}


def call_kind(endpoint: str) -> str:
    """The kind of call a request to ``endpoint`` is (see :data:`CALL_KINDS`)."""
    return CALL_KINDS.get(endpoint, GENERAL)


def budget_names(kind: str, settings: HubSpotSettings) -> tuple[str, ...]:
    """The budgets a call of ``kind`` takes a slot of: its own, and the general one unless the
    settings say it is exempt (``search_counts_toward_rate_limit``,
    ``associations_count_toward_rate_limit``)."""
    counts_toward_general = {
        GENERAL: True,
        SEARCH: settings.search_counts_toward_rate_limit,
        ASSOCIATIONS: settings.associations_count_toward_rate_limit,
    }[kind]
    own = () if kind == GENERAL else (kind,)
    return (*own, GENERAL) if counts_toward_general else own


def budget_limits(name: str, settings: HubSpotSettings) -> tuple[int, float]:
    """``(max_calls, interval_s)`` of the budget ``name`` under ``settings``."""
    interval_s = settings.rate_limit_interval_ms / 1000
    return {
        GENERAL: (settings.rate_limit_max, interval_s),
        SEARCH: (settings.search_per_second, 1.0),
        ASSOCIATIONS: (settings.association_rate_limit_max, interval_s),
    }[name]


def _json_body(endpoint: str, status: int, text: str) -> dict:
    """The parsed body of a 2xx response (``{}`` when empty; a bare list becomes ``results``)."""
    if status == 204 or not text.strip():
        return {}
    try:
        data = fastjson.loads(text)
    except ValueError:
        final = HubSpotTransportError("returned an unparseable (truncated?) JSON body", endpoint=endpoint)
        raise RetryableFailure("invalid_body", "invalid JSON body", status, final) from None
    return data if isinstance(data, dict) else {"results": data}


def _param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
