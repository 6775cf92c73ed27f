"""Airflow hook for the HubSpot CRM API (read side of the HubSpot -> warehouse sync).

Connection (``conn_type="hubspot"``, default id ``hubspot_default``)::

    AIRFLOW_CONN_HUBSPOT_DEFAULT='{"conn_type": "hubspot", "host": "https://api.hubapi.com",
        "password": "<private app / service key token>",
        "extra": {"api_version": "v3", "rate_limit_max": 180, "search_per_second": 4}}'

* ``password`` - bearer token (legacy private-app token, service key or OAuth access token);
* ``host`` - API host, with or without scheme (``https`` assumed; ``http`` allowed, e.g. the sandbox);
  default ``https://api.hubapi.com``;
* ``extra`` - any field of :class:`HubSpotSettings` (``api_version``, ``rate_limit_max``,
  ``rate_limit_interval_ms``, ``search_per_second``, ``max_retries``, ``connect_timeout``, ...).

Without Airflow (tests, benchmarks): ``HubSpotHook.from_params(token=..., host=..., api_version=...)``.

All network access happens lazily in the public methods; ``__init__`` only stores arguments.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from hubspot_etl import fastjson
from hubspot_etl.compat import BaseHook
from hubspot_etl.hooks import connection_form
from hubspot_etl.hooks.errors import (
    HubSpotAuthError,
    HubSpotError,
    HubSpotObjectTypeError,
    HubSpotRateLimitExhausted,
    HubSpotScopeError,
    HubSpotSearchCapError,
    HubSpotServerError,
    HubSpotTransportError,
    HubSpotUriTooLong,
    RedactingFilter,
    error_for_status,
    parse_error_body,
    redact,
    register_secret,
)
from hubspot_etl.hooks.id_cursor import IdCursorCodec, split_id_range
from hubspot_etl.hooks.object_types import last_modified_property, standard_object_type
from hubspot_etl.hooks.pacing import RollingWindowBudget, get_budget, headers_to_limits, token_fingerprint
from hubspot_etl.hooks.paths import build_path, validate_api_version
from hubspot_etl.hooks.stats import HubSpotStats

__all__ = ["BatchReadResult", "HubSpotHook", "HubSpotSettings"]

DEFAULT_HOST = "https://api.hubapi.com"
USER_AGENT = "hubspot-etl-airflow/0.1 (+requests)"
SEARCH_CAP = 10_000
LIST_PAGE_MAX = 100
SEARCH_PAGE_MAX = 200
BATCH_READ_MAX = 100
ASSOCIATION_BATCH_MAX = 1000
_AFTER_RESERVE = 256  # URL characters reserved for the ``after`` cursor when planning property chunks
_RETRYABLE_5XX = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})

#: stdlib logger (Airflow routes stdlib records into task logs); every record is scrubbed of secrets
logger = logging.getLogger("hubspot_etl.hooks.hubspot")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())


@dataclass(frozen=True)
class HubSpotSettings:
    """Resolved configuration of one hook (connection + extras + constructor overrides).

    Pacing defaults stay under HubSpot's Professional/Enterprise limits (190 / 10 s burst,
    5 searches / s) so a healthy run sees no 429 at all.
    """

    token: str = field(repr=False)
    base_url: str = DEFAULT_HOST
    api_version: str = "v3"
    rate_limit_max: int = 180
    rate_limit_interval_ms: int = 10_000
    search_per_second: int = 4
    #: search requests also take a slot of the general burst budget (conservative; HubSpot's spec
    #: says search is exempt from the ten-secondly limit, which is UNVERIFIED)
    search_counts_toward_rate_limit: bool = True
    max_retries: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    #: wait after a TEN_SECONDLY_ROLLING 429 without Retry-After (None: the budget's interval)
    rate_limit_backoff_s: float | None = None
    #: wait after a SECONDLY / search 429 without Retry-After
    search_backoff_s: float = 1.0
    #: 423 Locked: HubSpot asks for at least 2 s
    locked_backoff_s: float = 2.0
    #: Retry-After values above this are not waited for (fail instead)
    max_retry_after_s: float = 300.0
    #: hard cap for any URL the hook sends (HubSpot answers 414 at ~16,000 characters)
    max_url_length: int = 12_000
    #: cursor chains a full listing runs at once over id ranges (1: one serial chain). One chain
    #: makes at most one request per round trip, far below the rate limit at real latencies.
    list_concurrency: int = 4
    user_agent: str = USER_AGENT

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_version", validate_api_version(self.api_version))


class BatchReadResult(list):
    """List of records returned by :meth:`HubSpotHook.batch_read` plus what was not found.

    :ivar missing: requested ids (strings) that HubSpot did not return (207 errors or silent omission).
    :ivar errors: raw ``errors`` entries of 207 responses.
    """

    def __init__(self, records: Iterable[dict] = ()) -> None:
        super().__init__(records)
        self.missing: list[str] = []
        self.errors: list[dict] = []


def normalize_host(host: str | None, scheme: str | None = None, port: int | None = None) -> str:
    """Return ``scheme://host[:port]`` without trailing slash; ``https`` unless given otherwise."""
    host = (host or "").strip()
    if not host:
        return DEFAULT_HOST
    if "://" not in host:
        use = scheme if scheme in ("http", "https") else "https"
        host = f"{use}://{host}"
    host = host.rstrip("/")
    if port and urlsplit(host).port is None:
        host = f"{host}:{int(port)}"
    return host


def to_epoch_ms(value: datetime | int | float) -> int:
    """Datetime (naive = UTC) or epoch milliseconds -> epoch milliseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    return int(value)


def _chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _next_after(data: dict) -> str | None:
    after = ((data.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def _unique(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


class _RetryableFailure(Exception):
    """Internal: one attempt failed in a way that may be retried."""

    def __init__(
        self, reason: str, detail: str, status: int | None, wait_s: float | None, final: HubSpotError
    ):
        super().__init__(detail)
        self.reason, self.detail, self.status, self.wait_s, self.final = reason, detail, status, wait_s, final


class HubSpotHook(BaseHook):
    """Read HubSpot CRM objects, metadata and associations with pacing, retries and typed errors.

    Thread safety: one hook may be shared by a small thread pool. HTTP goes through one
    keep-alive ``requests.Session`` *per thread* (``threading.local``): ``requests`` does not
    promise that a Session is thread-safe (its cookie jar and adapter state are shared mutable
    objects), while a per-thread session keeps connection reuse and avoids any locking.
    Pacing budgets are shared by every hook and thread of the process for the same
    (host, token); ``stats`` is lock-protected.

    :param hubspot_conn_id: Airflow connection id (conn_type ``hubspot``).
    :param max_retries: retries per request after the first attempt (default: extra or 8).
    :param timeout: read timeout in seconds, or ``(connect, read)`` tuple.
    :param settings_overrides: any :class:`HubSpotSettings` field, overriding connection extras.
    """

    conn_name_attr = "hubspot_conn_id"
    default_conn_name = "hubspot_default"
    conn_type = "hubspot"
    hook_name = "HubSpot"

    def __init__(
        self,
        hubspot_conn_id: str = default_conn_name,
        *,
        max_retries: int | None = None,
        timeout: float | tuple[float, float] | None = None,
        **settings_overrides: Any,
    ) -> None:
        super().__init__()
        self.hubspot_conn_id = hubspot_conn_id
        overrides = dict(settings_overrides)
        if max_retries is not None:
            overrides["max_retries"] = max_retries
        if timeout is not None:
            connect, read = timeout if isinstance(timeout, tuple) else (min(float(timeout), 10.0), timeout)
            overrides.update(connect_timeout=float(connect), read_timeout=float(read))
        unknown = set(overrides) - HubSpotSettings.field_names()
        if unknown:
            raise TypeError(f"Unknown HubSpotHook setting(s): {', '.join(sorted(unknown))}")
        self._overrides = overrides
        self._settings: HubSpotSettings | None = None
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._schemas_cache: list[dict] | None = None
        self._sleep: Callable[[float], None] = time.sleep
        self.stats = HubSpotStats()

    # ------------------------------------------------------------------ construction / config
    @classmethod
    def from_params(
        cls, token: str, host: str = DEFAULT_HOST, api_version: str = "v3", **settings: Any
    ) -> HubSpotHook:
        """Build a hook without an Airflow connection (tests, benchmarks, scripts)."""
        hook = cls(hubspot_conn_id="__params__")
        merged = {**settings, "api_version": api_version}
        register_secret(token)
        hook._settings = HubSpotSettings(token=token, base_url=normalize_host(host), **merged)
        return hook

    @property
    def settings(self) -> HubSpotSettings:
        """Resolved settings (reads the Airflow connection on first use)."""
        if self._settings is None:
            self._settings = self._load_settings()
        return self._settings

    def _load_settings(self) -> HubSpotSettings:
        conn = self.get_connection(self.hubspot_conn_id)
        token = (conn.password or "").strip()
        register_secret(token)
        extras = dict(conn.extra_dejson or {})
        extras = {k.removeprefix(f"extra__{self.conn_type}__"): v for k, v in extras.items()}
        known = HubSpotSettings.field_names() - {"token", "base_url"}
        values: dict[str, Any] = {k: v for k, v in extras.items() if k in known and v not in (None, "")}
        values.update(self._overrides)
        base_url = normalize_host(conn.host, scheme=conn.schema, port=conn.port)
        return _coerce_settings(HubSpotSettings(token=token, base_url=base_url), values)

    def with_settings(self, **changes: Any) -> HubSpotHook:
        """Return a new hook sharing this hook's connection data but with changed settings."""
        clone = type(self)(hubspot_conn_id=self.hubspot_conn_id)
        clone._settings = _coerce_settings(self.settings, changes)
        return clone

    def __repr__(self) -> str:
        base = self._settings.base_url if self._settings else "?"
        return f"<HubSpotHook conn_id={self.hubspot_conn_id!r} host={base!r}>"

    # ------------------------------------------------------------------ connection form metadata
    @classmethod
    def conn_fields(cls) -> dict[str, dict]:
        """Airflow >= 3.2 declarative ``conn-fields`` for ``get_provider_info()['connection-types']``."""
        return connection_form.conn_fields()

    @classmethod
    def ui_field_behaviour(cls) -> dict[str, Any]:
        """Airflow >= 3.2 declarative ``ui-field-behaviour`` (kebab-case keys)."""
        return connection_form.ui_field_behaviour()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Deprecated since Airflow 3.2 (kept for older Airflow): same content, snake_case keys."""
        behaviour = cls.ui_field_behaviour()
        return {
            "hidden_fields": behaviour["hidden-fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        }

    @classmethod
    def connection_type_info(cls) -> dict[str, Any]:
        """Complete ``connection-types`` entry for ``get_provider_info()``."""
        return connection_form.connection_type_info()

    # ------------------------------------------------------------------ HTTP plumbing
    def get_conn(self) -> requests.Session:
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
        """Close every session opened by this hook."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> HubSpotHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _budgets(self, search: bool) -> list[RollingWindowBudget]:
        s = self.settings
        general = get_budget(
            s.base_url, s.token, "general", s.rate_limit_max, s.rate_limit_interval_ms / 1000
        )
        if not search:
            return [general]
        searches = get_budget(s.base_url, s.token, "search", s.search_per_second, 1.0)
        return [searches, general] if s.search_counts_toward_rate_limit else [searches]

    def build_url(self, path: str, params: dict[str, Any] | None = None) -> str:
        """Absolute URL; commas stay literal so property lists cost one character per separator."""
        url = self.settings.base_url + path
        if params:
            clean = {k: _param_value(v) for k, v in params.items() if v is not None}
            url += "?" + urlencode(clean, safe=",")
        return url

    def _request(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        search: bool = False,
        max_attempts: int | None = None,
    ) -> dict:
        """Send one logical request with pacing and retries; return the parsed JSON body."""
        url = self.build_url(path, params)
        if len(url) > self.settings.max_url_length:
            raise HubSpotUriTooLong(
                f"request not sent: URL of {len(url)} characters exceeds max_url_length "
                f"{self.settings.max_url_length}",
                endpoint=endpoint,
            )
        attempts = max_attempts or self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(endpoint, method, url, body, search)
            except _RetryableFailure as failure:
                if attempt >= attempts:
                    raise failure.final from None
                wait = failure.wait_s if failure.wait_s is not None else self._backoff(attempt)
                self.stats.retry(failure.reason)
                logger.warning(
                    "HubSpot %s: %s (status %s); retry %d/%d in %.2fs",
                    endpoint,
                    failure.detail,
                    failure.status if failure.status is not None else "-",
                    attempt,
                    attempts - 1,
                    wait,
                )
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base * 2^(attempt-1), capped, times U(0.5, 1]."""
        s = self.settings
        raw = min(s.backoff_max_s, s.backoff_base_s * (2 ** (attempt - 1)))
        return raw * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def _attempt(self, endpoint: str, method: str, url: str, body: Any, search: bool) -> dict:
        budgets = self._budgets(search)
        for budget in budgets:
            self.stats.waited(budget.acquire())
        try:
            self.stats.call(endpoint)
            response = self.get_conn().request(
                method,
                url,
                json=body,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
            text = response.text  # reads the body: truncated transfers raise here
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:  # fmt: skip
            final = HubSpotTransportError(
                f"transport failure ({type(exc).__name__}) talking to {self.settings.base_url}",
                endpoint=endpoint,
            )
            raise _RetryableFailure("connection", type(exc).__name__, None, None, final) from None
        finally:
            for budget in budgets:
                budget.release()
        if not search:
            budgets[-1].observe(*headers_to_limits(response.headers))
        return self._handle_response(endpoint, response.status_code, text, response.headers, search)

    def _handle_response(self, endpoint: str, status: int, text: str, headers: Any, search: bool) -> dict:
        if 200 <= status < 300:
            if status == 204 or not text.strip():
                return {}
            try:
                data = fastjson.loads(text)
            except ValueError:
                final = HubSpotTransportError(
                    "returned an unparseable (truncated?) JSON body", endpoint=endpoint
                )
                raise _RetryableFailure("invalid_body", "invalid JSON body", status, None, final) from None
            return data if isinstance(data, dict) else {"results": data}
        if status == 429:
            self.stats.add("http_429")
            self._raise_rate_limited(endpoint, text, headers, search)
        if status in _RETRYABLE_5XX or status == 423:
            final = error_for_status(status, endpoint=endpoint, body_text=text, headers=headers)
            if not isinstance(final, HubSpotServerError):
                final = HubSpotServerError("resource locked (423)", endpoint=endpoint, status=status)
            wait = None
            if status == 423:
                wait = max(self.settings.locked_backoff_s, self._backoff(1))
            reason = "http_423" if status == 423 else "http_5xx"
            raise _RetryableFailure(reason, f"server returned {status}", status, wait, final)
        raise error_for_status(status, endpoint=endpoint, body_text=text, headers=headers)

    def _raise_rate_limited(self, endpoint: str, text: str, headers: Any, search: bool) -> None:
        """Decide how long to wait after a 429, or raise if waiting makes no sense."""
        info = parse_error_body(text, headers)
        policy = (info["policy_name"] or "").upper()
        message = (info["message"] or "").lower()
        common = {"endpoint": endpoint, "status": 429, "correlation_id": info["correlation_id"]}
        if policy == "DAILY" or "daily" in message:
            raise HubSpotRateLimitExhausted(
                "daily API limit reached (policy DAILY); not retrying - resume after the daily reset",
                hubspot_message=info["message"],
                **common,
            )
        retry_after = _retry_after_seconds(headers)
        final = HubSpotRateLimitExhausted(
            f"rate limit still hit after {self.settings.max_retries} retries (policy {policy or 'unknown'})",
            hubspot_message=info["message"],
            **common,
        )
        if retry_after is not None:
            if retry_after > self.settings.max_retry_after_s:
                raise HubSpotRateLimitExhausted(
                    f"asked to retry after {retry_after:.0f}s (> max_retry_after_s); not retrying",
                    hubspot_message=info["message"],
                    **common,
                )
            wait = retry_after
        elif search or policy in ("SECONDLY", "SEARCH") or "secondly limit" in message:
            wait = self.settings.search_backoff_s * (1 + random.random() / 4)  # noqa: S311
        else:
            base = self.settings.rate_limit_backoff_s
            base = self.settings.rate_limit_interval_ms / 1000 if base is None else base
            wait = base * (1 + random.random() / 4)  # noqa: S311
        raise _RetryableFailure("http_429", f"rate limited (policy {policy or 'unknown'})", 429, wait, final)

    # ------------------------------------------------------------------ connection test
    def test_connection(self) -> tuple[bool, str]:
        """One cheap call (``owners`` with limit 1); the message is one sentence naming the cause.

        Airflow's connection **Test** button shows it as is.
        """
        try:
            settings = self.settings
        except Exception as exc:
            return False, redact(f"Cannot read HubSpot connection {self.hubspot_conn_id!r}: {exc}")
        if not settings.token:
            return False, "No token: put the private app or service key token in the Password field."
        try:
            path = build_path(settings.api_version, "owners")
            self._request("owners", "GET", path, params={"limit": 1}, max_attempts=1)
        except HubSpotAuthError:
            return False, (
                f"HubSpot rejected the token (401: invalid, expired or revoked) at {settings.base_url}: "
                "put a valid private app token in the Password field."
            )
        except HubSpotScopeError as exc:
            scopes = ", ".join(exc.missing_scopes) or "crm.objects.owners.read"
            return False, f"The token works but lacks the scope(s) {scopes}: add them to the private app."
        except HubSpotTransportError as exc:
            return False, redact(f"Cannot reach {settings.base_url} ({exc.cause.removeprefix('HubSpot ')}).")
        except HubSpotError as exc:
            return False, redact(
                f"HubSpot answered {exc.status or 'an error'} at {settings.base_url}: {exc.cause}."
            )
        except Exception as exc:  # pragma: no cover - defensive: never leak raw errors
            return False, redact(f"Unexpected error: {type(exc).__name__}: {exc}")
        return True, f"Connected to {settings.base_url} (API {settings.api_version}): the token is valid."

    # ------------------------------------------------------------------ metadata endpoints
    def _path(self, endpoint: str, **params: str) -> str:
        return build_path(self.settings.api_version, endpoint, **params)

    def get_properties(self, object_type: str, archived: bool = False) -> list[dict]:
        """All property definitions of ``object_type`` (no paging on this endpoint)."""
        path = self._path("properties", object_type=object_type)
        return self._request("properties", "GET", path, params={"archived": archived}).get("results", [])

    def get_schemas(self, archived: bool = False) -> list[dict]:
        """Custom object schemas."""
        path = self._path("schemas")
        return self._request("schemas", "GET", path, params={"archived": archived}).get("results", [])

    def get_pipelines(self, object_type: str) -> list[dict]:
        """Every pipeline and stage of ``object_type`` that HubSpot has or had, with ``archived``.

        Two calls: the default listing (active pipelines, active stages) and ``archived=true``
        (archived ones; HubSpot's spec reads "whether to return only results that have been
        archived", some portals return everything). Their union, by pipeline and stage id, takes
        the archived listing's version of anything listed twice, which carries the flags and
        ``archivedAt``.
        """
        path = self._path("pipelines", object_type=object_type)
        active = self._request("pipelines", "GET", path).get("results", [])
        archived = self._request("pipelines", "GET", path, params={"archived": True}).get("results", [])
        return _union_pipelines(active, archived)

    def iter_owners(self, archived: bool = False, page_size: int = 100) -> Iterator[list[dict]]:
        """Owners, one list per page."""
        path = self._path("owners")
        after: str | None = None
        while True:
            params = {"limit": page_size, "archived": archived, "after": after}
            data = self._request("owners", "GET", path, params=params)
            yield data.get("results", [])
            after = _next_after(data)
            if not after:
                return

    def get_association_labels(self, from_type: str, to_type: str) -> list[dict]:
        """Association type definitions (``category``, ``typeId``, ``label``) for a pair of types."""
        path = self._path("associations.labels", from_type=from_type, to_type=to_type)
        return self._request("associations.labels", "GET", path).get("results", [])

    def resolve_object_type(self, name_or_id: str) -> dict:
        """Resolve a standard or custom object type, never ambiguously.

        Returns ``{"name", "object_type_id", "fully_qualified_name", "custom"}``. ``0-N`` ids
        resolve from the fixed standard table without a call; a custom ``fullyQualifiedName``
        (``p123_meters``) or objectTypeId (``2-1001``) from the custom-object schemas (fetched
        once per hook). A bare name is looked up in both: one that names a custom object and a
        standard one (HubSpot's object library adds Services, Courses, Listings and
        Appointments to portals that may already have a custom object of that name) raises,
        naming both ids. A custom object whose name is a standard name is named by its
        ``fullyQualifiedName``, so its tables never collide with the standard object's. If the
        token may not read schemas (403), the standard table alone decides.
        """
        wanted = str(name_or_id).strip()
        standard = standard_object_type(wanted)
        if standard and wanted.startswith("0-"):
            return standard
        matches = [schema for schema in self._custom_schemas() if _schema_matches(schema, wanted)]
        if matches:
            schema = matches[0]
            custom = {
                "name": schema.get("name"),
                "object_type_id": schema.get("objectTypeId") or schema.get("id"),
                "fully_qualified_name": schema.get("fullyQualifiedName"),
                "custom": True,
            }
            by_name_only = wanted.lower() == str(schema.get("name") or "").lower()
            if standard and by_name_only:
                raise HubSpotObjectTypeError(
                    f"object type {wanted!r} is ambiguous: it names the custom object "
                    f"{custom['object_type_id']} ({custom['fully_qualified_name']}) and HubSpot's "
                    f"{standard['name']} object {standard['object_type_id']}; set object_type to "
                    f"{custom['fully_qualified_name']!r} or {custom['object_type_id']!r} for the custom "
                    f"object, or {standard['object_type_id']!r} for HubSpot's"
                )
            if standard_object_type(str(custom["name"])) and custom["fully_qualified_name"]:
                custom["name"] = custom["fully_qualified_name"]  # its own tables, never the standard's
            return custom
        if standard:
            return standard
        raise HubSpotObjectTypeError(f"unknown object type {name_or_id!r} (not standard, no custom schema)")

    def _custom_schemas(self) -> list[dict]:
        if self._schemas_cache is None:
            try:
                self._schemas_cache = self.get_schemas()
            except HubSpotScopeError:
                logger.warning(
                    "HubSpot schemas: token cannot read custom object schemas; standard types only"
                )
                self._schemas_cache = []
        return self._schemas_cache

    # ------------------------------------------------------------------ objects: list
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

        Long property lists never go into a URL beyond ``max_url_length`` (414 protection):
        the properties are split into URL-sized chunks. With k chunks a page costs k list calls
        (same ``after``, merged by id); listing ids only and batch-reading the page with the
        properties in the JSON body costs 2 calls. The cheaper strategy is chosen per call:
        chunks when k <= 2, otherwise ids + ``batch_read``.

        Parallel listing: given ``max_id`` (the highest id HubSpot knows, e.g. from
        :meth:`id_span`) and ``concurrency`` > 1 (default ``list_concurrency``), the ids after the
        first page are split into ranges read by separate cursor chains at once (see
        :mod:`hubspot_etl.hooks.id_cursor`). Pages then arrive in no particular order; every
        record still comes exactly once. Without a recognised id cursor it pages serially.
        """
        page_size = max(1, min(int(page_size), LIST_PAGE_MAX))
        props = _unique(properties or [])
        read_page = self._page_reader(object_type, props, page_size, archived)
        data, records = read_page(None)
        yield records
        after = _next_after(data)
        if not after:
            return
        workers = self.settings.list_concurrency if concurrency is None else concurrency
        codec = None
        if workers > 1 and max_id is not None and records:
            codec = IdCursorCodec.detect(after, max(int(r["id"]) for r in records))
        if codec is None:
            yield from self._serial_pages(read_page, after)
            return
        first = codec.start_of(after)
        assert first is not None  # detect() only returns codecs that decode ``after``
        ranges = split_id_range(first, max_id, workers) if max_id >= first else [(first, None)]
        self.stats.add("list_partitions", len(ranges))
        yield from self._partitioned_pages(read_page, codec, after, ranges)

    def _page_reader(
        self, object_type: str, props: list[str], page_size: int, archived: bool
    ) -> Callable[[str | None], tuple[dict, list[dict]]]:
        """``read(after) -> (raw first response, records with every property)`` for one listing."""
        path = self._path("objects.list", object_type=object_type)
        chunks = self._property_chunks(path, props, page_size, archived)
        if chunks is not None and len(chunks) <= 2:
            return lambda after: self._list_chunked(path, chunks, page_size, archived, after)

        def read_and_hydrate(after: str | None) -> tuple[dict, list[dict]]:
            data = self._list_page(path, ["hs_object_id"], page_size, archived, after)
            records = self._hydrate(object_type, data.get("results", []), props, archived)
            self.stats.add("hydrated_pages")
            return data, records

        return read_and_hydrate

    @staticmethod
    def _serial_pages(
        read_page: Callable[[str | None], tuple[dict, list[dict]]], after: str | None
    ) -> Iterator[list[dict]]:
        while after:
            data, records = read_page(after)
            yield records
            after = _next_after(data)

    def _partitioned_pages(
        self,
        read_page: Callable[[str | None], tuple[dict, list[dict]]],
        codec: IdCursorCodec,
        first_after: str,
        ranges: list[tuple[int, int | None]],
    ) -> Iterator[list[dict]]:
        """Run one cursor chain per id range in threads; yield their pages as they arrive.

        A chain keeps only ids inside its range and stops at the first id (or next cursor) past
        it, so ranges never overlap. The bounded queue keeps memory flat when the consumer is
        slower than the chains; a failing chain stops the others and its error is raised here.
        """
        pages: queue.Queue[Any] = queue.Queue(maxsize=2 * len(ranges))
        stopping = threading.Event()

        def put(item: Any) -> None:
            while not stopping.is_set():
                try:
                    pages.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
            raise _ListingStopped

        def chain(lo: int, hi: int | None, cursor: str | None) -> None:
            checked = False
            while cursor and not stopping.is_set():
                data, records = read_page(cursor)
                if not checked and any(int(r["id"]) < lo for r in records):
                    raise HubSpotError(
                        f"the list cursor for id {lo} returned lower ids, so this portal's cursors are "
                        "not id positions; set the connection extra list_concurrency to 1",
                        endpoint="objects.list",
                    )
                checked = True
                kept = records if hi is None else [r for r in records if int(r["id"]) < hi]
                put(kept)
                cursor = _next_after(data)
                if hi is not None and (len(kept) < len(records) or _past(codec, cursor, hi)):
                    return

        def run(index: int, lo: int, hi: int | None) -> None:
            try:
                chain(lo, hi, first_after if index == 0 else codec.cursor_for(lo))
                put(_CHAIN_DONE)
            except _ListingStopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                try:
                    put(_ChainFailed(exc))
                except _ListingStopped:
                    pass

        pool = ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="hubspot-list")
        try:
            for index, (lo, hi) in enumerate(ranges):
                pool.submit(run, index, lo, hi)
            running = len(ranges)
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

    def _list_page(
        self, path: str, props: Sequence[str], page_size: int, archived: bool, after: str | None
    ) -> dict:
        params = {"limit": page_size, "archived": archived, "after": after}
        if props:
            params["properties"] = ",".join(props)
        return self._request("objects.list", "GET", path, params=params)

    def _property_chunks(
        self, path: str, props: list[str], page_size: int, archived: bool
    ) -> list[list[str]] | None:
        """Split ``props`` so each list URL stays within budget; None if one name alone is too long."""
        if not props:
            return [[]]
        probe = {"limit": page_size, "archived": archived, "after": "x" * _AFTER_RESERVE}
        room = self.settings.max_url_length - len(self.build_url(path, probe)) - len("&properties=")
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
        first = self._list_page(path, chunks[0], page_size, archived, after)
        records = [dict(r, properties=dict(r.get("properties") or {})) for r in first.get("results", [])]
        if len(chunks) > 1:
            self.stats.add("property_chunked_pages")
            by_id = {str(r["id"]): r for r in records}
            for chunk in chunks[1:]:
                for rec in self._list_page(path, chunk, page_size, archived, after).get("results", []):
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
        full = self.batch_read(object_type, [r["id"] for r in listed], props, archived=archived)
        by_id = {str(r["id"]): r for r in full}
        return [by_id.get(str(r["id"]), r) for r in listed]

    # ------------------------------------------------------------------ objects: batch read
    def batch_read(
        self,
        object_type: str,
        ids: Iterable[str | int],
        properties: Sequence[str] | None = None,
        archived: bool = False,
    ) -> BatchReadResult:
        """Read records by id (chunks of 100, properties in the JSON body).

        Returns a :class:`BatchReadResult` (a ``list`` of records) whose ``missing`` attribute lists
        the requested ids HubSpot did not return (207 partial results) and ``errors`` the raw
        error entries; ``stats.batch_missing_ids`` counts them too.
        """
        wanted = _unique(ids)
        props = _unique(properties or [])
        path = self._path("objects.batch_read", object_type=object_type)
        result = BatchReadResult()
        for chunk in _chunked(wanted, BATCH_READ_MAX):
            body = {"inputs": [{"id": i} for i in chunk], "properties": props}
            data = self._request("objects.batch_read", "POST", path, params={"archived": archived}, body=body)
            records = data.get("results", [])
            result.extend(records)
            result.errors.extend(data.get("errors") or [])
            returned = {str(r.get("id")) for r in records}
            result.missing.extend(i for i in chunk if i not in returned)
        if result.missing:
            self.stats.add("batch_missing_ids", len(result.missing))
        return result

    # ------------------------------------------------------------------ search
    def _search_page(
        self,
        object_type: str,
        filter_groups: list[dict] | None,
        properties: Sequence[str] | None,
        sorts: list[dict] | None,
        limit: int,
        after: str | int | None = None,
        query: str | None = None,
    ) -> dict:
        body: dict[str, Any] = {
            "filterGroups": filter_groups or [],
            "sorts": sorts or [],
            "properties": _unique(properties or []),
            "limit": max(1, min(int(limit), SEARCH_PAGE_MAX)),
        }
        if after not in (None, "", 0, "0"):
            body["after"] = str(after)
        if query:
            body["query"] = query
        path = self._path("objects.search", object_type=object_type)
        return self._request("objects.search", "POST", path, body=body, search=True)

    def search(
        self,
        object_type: str,
        filter_groups: list[dict] | None = None,
        properties: Sequence[str] | None = None,
        sorts: list[dict] | None = None,
        page_size: int = 200,
        query: str | None = None,
    ) -> Iterator[list[dict]]:
        """Raw search paging (offset ``after``), one list per page.

        HubSpot refuses offsets beyond 10,000; instead of letting results silently end, this raises
        :class:`HubSpotSearchCapError` when more pages would be needed. Use :meth:`iter_modified`
        for complete incremental reads.
        """
        limit = max(1, min(int(page_size), SEARCH_PAGE_MAX))
        after: str | None = None
        while True:
            data = self._search_page(object_type, filter_groups, properties, sorts, limit, after, query)
            yield data.get("results", [])
            after = _next_after(data)
            if not after:
                return
            if int(after) + limit > SEARCH_CAP:
                raise HubSpotSearchCapError(
                    f"search matched {data.get('total')} records; paging past 10,000 is impossible "
                    "(use iter_modified or narrower filters)",
                    endpoint="objects.search",
                )

    def count(self, object_type: str, filter_groups: list[dict] | None = None) -> int:
        """How many live records match (one ``limit=1`` search; search's ``total``)."""
        data = self._search_page(object_type, filter_groups, ["hs_object_id"], None, 1, None, None)
        return int(data.get("total") or 0)

    def id_span(self, object_type: str) -> tuple[int, int | None]:
        """``(live records, highest live id)`` from one search sorted by id, newest first.

        Search is eventually consistent: both figures may lag recent writes by seconds.
        """
        sorts = [{"propertyName": "hs_object_id", "direction": "DESCENDING"}]
        data = self._search_page(object_type, None, ["hs_object_id"], sorts, 1, None, None)
        results = data.get("results") or []
        top = int(results[0]["id"]) if results else None
        return int(data.get("total") or 0), top

    def iter_modified(
        self,
        object_type: str,
        start: datetime | int,
        end: datetime | int,
        properties: Sequence[str] | None = None,
        page_size: int = 200,
    ) -> Iterator[list[dict]]:
        """Records whose last-modified time is in ``[start, end)``, one list per page.

        ``start``/``end`` are datetimes (naive = UTC) or epoch milliseconds. Contacts filter on
        ``lastmodifieddate``, every other type on ``hs_lastmodifieddate``.

        Algorithm: a window whose ``total`` exceeds 10,000 is split in two at its median record's
        timestamp (``stats.search_splits``, see :meth:`_split_point`) until each slice fits. Inside a slice pages are read by keyset on
        ``hs_object_id`` (sorted ascending, filter ``hs_object_id > last id``, offset always 0), so
        the 10,000 offset cap is never reached and rows leaving the result set during paging cannot
        shift pages. A slice that cannot be split (>10,000 records with one timestamp) is simply
        paged the same way (``stats.search_keyset_windows``). Records are de-duplicated by id across
        the whole call (a record modified mid-run may move into a later slice).
        """
        prop = last_modified_property(object_type)
        limit = max(1, min(int(page_size), SEARCH_PAGE_MAX))
        seen: set[str] = set()
        windows = [(to_epoch_ms(start), to_epoch_ms(end))]
        while windows:
            lo, hi = windows.pop()
            if lo >= hi:
                continue
            data = self._modified_page(object_type, prop, lo, hi, properties, limit, None)
            if int(data.get("total") or 0) > SEARCH_CAP:
                if hi - lo > 1:
                    mid = self._split_point(object_type, prop, lo, hi, int(data["total"]))
                    windows.extend([(mid, hi), (lo, mid)])  # LIFO: earlier half first
                    self.stats.add("search_splits")
                    continue
                self.stats.add("search_keyset_windows")
            yield from self._keyset_pages(object_type, prop, lo, hi, properties, limit, data, seen)

    def _split_point(self, object_type: str, prop: str, lo: int, hi: int, total: int) -> int:
        """Timestamp that splits ``[lo, hi)`` near its median record (one probe request).

        The probe sorts the window by ``prop`` and reads the record at offset ``min(total // 2, 9999)``;
        its timestamp becomes the split point (moved to ``lo + 1`` if it equals ``lo``, which isolates
        a crowded first millisecond). A median split converges in a few levels even when most
        records share one timestamp, where a time-midpoint bisection would need ~40. Falls back to
        the time midpoint if the probe yields nothing usable.
        """
        offset = min(total // 2, SEARCH_CAP - 1)
        filters = [
            {"propertyName": prop, "operator": "GTE", "value": str(lo)},
            {"propertyName": prop, "operator": "LT", "value": str(hi)},
        ]
        sorts = [{"propertyName": prop, "direction": "ASCENDING"}]
        data = self._search_page(object_type, [{"filters": filters}], [prop], sorts, 1, offset)
        results = data.get("results") or []
        stamp = _parse_ms((results[0].get("properties") or {}).get(prop)) if results else None
        if stamp is None or not lo <= stamp < hi:
            return (lo + hi) // 2
        return stamp if stamp > lo else lo + 1

    def _keyset_pages(
        self,
        object_type: str,
        prop: str,
        lo: int,
        hi: int,
        properties: Sequence[str] | None,
        limit: int,
        data: dict,
        seen: set[str],
    ) -> Iterator[list[dict]]:
        while True:
            results = data.get("results", [])
            fresh = [r for r in results if str(r["id"]) not in seen]
            seen.update(str(r["id"]) for r in fresh)
            if fresh:
                yield fresh
            if not results or not _next_after(data):
                return
            last_id = max(int(r["id"]) for r in results)
            data = self._modified_page(object_type, prop, lo, hi, properties, limit, last_id)

    def _modified_page(
        self,
        object_type: str,
        prop: str,
        lo: int,
        hi: int,
        properties: Sequence[str] | None,
        limit: int,
        after_id: int | None,
    ) -> dict:
        filters = [
            {"propertyName": prop, "operator": "GTE", "value": str(lo)},
            {"propertyName": prop, "operator": "LT", "value": str(hi)},
        ]
        if after_id is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)})
        sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        return self._search_page(object_type, [{"filters": filters}], properties, sorts, limit)

    # ------------------------------------------------------------------ associations
    def iter_associations(
        self, from_type: str, to_type: str, ids: Iterable[str | int], batch_size: int = ASSOCIATION_BATCH_MAX
    ) -> Iterator[dict]:
        """Associations of ``ids`` via v4 batch read, following each input's ``paging.next.after``.

        Yields ``{"from_id": int, "to_id": int, "type_id": int, "category": str, "label": str | None}``
        (one row per association type). Unknown ids (207 errors) are tolerated and counted in
        ``stats.association_errors``.
        """
        path = self._path("associations.batch_read", from_type=from_type, to_type=to_type)
        size = max(1, min(int(batch_size), ASSOCIATION_BATCH_MAX))
        for chunk in _chunked(_unique(ids), size):
            pending: list[dict] = [{"id": i} for i in chunk]
            while pending:
                data = self._request("associations.batch_read", "POST", path, body={"inputs": pending})
                errors = data.get("errors") or []
                if errors:
                    self.stats.add("association_errors", int(data.get("numErrors") or len(errors)))
                pending = []
                for result in data.get("results", []):
                    from_id = int(str((result.get("from") or {}).get("id")))
                    yield from _association_rows(from_id, result.get("to") or [])
                    after = _next_after(result)
                    if after:
                        pending.append({"id": str(from_id), "after": after})


class _ListingStopped(Exception):
    """Raised inside a listing thread when the consumer has gone away."""


class _ChainFailed:
    """A listing thread's exception, passed to the consuming thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_CHAIN_DONE = object()


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


def _association_rows(from_id: int, targets: list[dict]) -> Iterator[dict]:
    for target in targets:
        to_id = int(str(target.get("toObjectId")))
        for assoc in target.get("associationTypes") or []:
            yield {
                "from_id": from_id,
                "to_id": to_id,
                "type_id": int(assoc.get("typeId")),
                "category": str(assoc.get("category")),
                "label": assoc.get("label"),
            }


def _parse_ms(value: Any) -> int | None:
    """Epoch ms from HubSpot's datetime wire formats (ISO-8601 or ms digits); None if unparseable."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return to_epoch_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _union_pipelines(active: list[dict], archived: list[dict]) -> list[dict]:
    """Pipelines of both listings by id, stages by id; the archived listing wins a tie."""
    merged: dict[str, dict] = {}
    for pipeline in [*active, *archived]:
        key = str(pipeline["id"])
        stages = {str(s["id"]): s for s in (merged.get(key) or {}).get("stages") or []}
        stages.update((str(s["id"]), s) for s in pipeline.get("stages") or [])
        merged[key] = {**merged.get(key, {}), **pipeline, "stages": list(stages.values())}
    return list(merged.values())


def _schema_matches(schema: dict, wanted: str) -> bool:
    keys = (
        schema.get("name"),
        schema.get("fullyQualifiedName"),
        schema.get("objectTypeId"),
        schema.get("id"),
    )
    return wanted.lower() in {str(k).lower() for k in keys if k}


def _retry_after_seconds(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def _coerce_settings(base: HubSpotSettings, values: dict[str, Any]) -> HubSpotSettings:
    """Apply ``values`` to ``base`` converting strings from connection extras to field types."""
    converted: dict[str, Any] = {}
    for f in fields(HubSpotSettings):
        if f.name not in values:
            continue
        value = values[f.name]
        default = getattr(base, f.name)
        if isinstance(default, bool):
            value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        elif isinstance(default, int) and value is not None:
            value = int(value)
        elif isinstance(default, float) or f.name == "rate_limit_backoff_s":
            value = None if value is None else float(value)
        converted[f.name] = value
    if "token" in converted:
        register_secret(converted["token"])
    return replace(base, **converted)


def fingerprint(hook: HubSpotHook) -> str:
    """Short non-reversible token id for logs/reports."""
    return token_fingerprint(hook.settings.token)
