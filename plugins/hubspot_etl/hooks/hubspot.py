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

The hook is a facade over small parts, each in its own module:

* :mod:`~hubspot_etl.hooks.settings` - :class:`HubSpotSettings` and how extras are read;
* :mod:`~hubspot_etl.hooks.transport` - sessions, pacing, retries
  (:mod:`~hubspot_etl.hooks.retry_policy` decides what is retried and how long to wait);
* :mod:`~hubspot_etl.hooks.crm` - the CRM endpoints;
* :mod:`~hubspot_etl.hooks.object_listing` and :mod:`~hubspot_etl.hooks.partitioned_listing` -
  full listings, serial or in parallel cursor chains; :mod:`~hubspot_etl.hooks.full_listing` -
  a full load's listing through list chains and search id ranges at once;
* :mod:`~hubspot_etl.hooks.search_windows` - modified-since reads past search's 10,000 cap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import requests

from hubspot_etl.compat import BaseHook
from hubspot_etl.hooks import connection_form
from hubspot_etl.hooks.crm import BatchReadResult, CrmEndpoints, PropertyHistory
from hubspot_etl.hooks.errors import (
    HubSpotAuthError,
    HubSpotError,
    HubSpotScopeError,
    HubSpotTransportError,
    redact,
    register_secret,
)
from hubspot_etl.hooks.full_listing import FullListing
from hubspot_etl.hooks.log import logger
from hubspot_etl.hooks.object_listing import ObjectListing
from hubspot_etl.hooks.partitioned_listing import partitioned_pages
from hubspot_etl.hooks.search_windows import ModifiedSearch, to_epoch_ms
from hubspot_etl.hooks.settings import DEFAULT_HOST, HubSpotSettings, coerce_settings, normalize_host
from hubspot_etl.hooks.stats import HubSpotStats
from hubspot_etl.hooks.transport import HubSpotTransport

__all__ = [
    "BatchReadResult",
    "HubSpotHook",
    "PropertyHistory",
    "HubSpotSettings",
    "logger",
    "normalize_host",
    "to_epoch_ms",
]

P = ParamSpec("P")
R = TypeVar("R")


def _forward(part: str, method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[HubSpotHook, P], R]:
    """A hook method that calls ``method`` on the part the hook keeps in attribute ``part``.

    The hook's public reads live in small classes it composes; forwarding this way keeps each
    signature and docstring in one place (``help()`` and ``inspect.signature`` show the part's).
    """

    @functools.wraps(method)
    def forwarded(self: HubSpotHook, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(getattr(self, part), *args, **kwargs)

    return forwarded


class HubSpotHook(BaseHook):
    """Read HubSpot CRM objects, metadata and associations with pacing, retries and typed errors.

    Thread safety: one hook may be shared by a small thread pool (see :class:`HubSpotTransport`:
    one session per thread, pacing budgets shared per host and token); ``stats`` is lock-protected.

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
        self.stats = HubSpotStats()
        self._transport = HubSpotTransport(lambda: self.settings, self.stats)
        self._crm = CrmEndpoints(self._transport, self.stats)
        self._listing = ObjectListing(self._crm, self._transport, self.stats)
        self._modified = ModifiedSearch(self._crm, self.stats)

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
        return coerce_settings(HubSpotSettings(token=token, base_url=base_url), values)

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

    # ------------------------------------------------------------------ HTTP
    def get_conn(self) -> requests.Session:
        """The calling thread's keep-alive session (created on first use)."""
        return self._transport.session()

    def close(self) -> None:
        """Close every session opened by this hook."""
        self._transport.close()

    def __enter__(self) -> HubSpotHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    build_url = _forward("_transport", HubSpotTransport.build_url)

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
            self._request("owners", "GET", self._crm.path("owners"), params={"limit": 1}, max_attempts=1)
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

    # ------------------------------------------------------------------ reads (documented in their parts)
    get_properties = _forward("_crm", CrmEndpoints.get_properties)
    get_schemas = _forward("_crm", CrmEndpoints.get_schemas)
    get_pipelines = _forward("_crm", CrmEndpoints.get_pipelines)
    iter_owners = _forward("_crm", CrmEndpoints.iter_owners)
    get_portal_id = _forward("_crm", CrmEndpoints.get_portal_id)
    get_association_labels = _forward("_crm", CrmEndpoints.get_association_labels)
    resolve_object_type = _forward("_crm", CrmEndpoints.resolve_object_type)
    batch_read = _forward("_crm", CrmEndpoints.batch_read)
    batch_read_history = _forward("_crm", CrmEndpoints.batch_read_history)
    iter_associations = _forward("_crm", CrmEndpoints.iter_associations)
    search = _forward("_crm", CrmEndpoints.search)
    count = _forward("_crm", CrmEndpoints.count)
    id_span = _forward("_crm", CrmEndpoints.id_span)
    iter_objects = _forward("_listing", ObjectListing.iter_objects)
    #: what :meth:`full_listing` builds (a seam for tests)
    full_listing_class: type[FullListing] = FullListing

    def full_listing(
        self,
        object_type: str,
        properties: list[str] | None = None,
        *,
        max_id: int | None,
        live: int | None = None,
        concurrency: int | None = None,
    ) -> FullListing:
        """Every live record of ``object_type`` through list chains and search id ranges at once
        (see :mod:`hubspot_etl.hooks.full_listing`); its ``search_ranges`` say what search read."""
        return self.full_listing_class(
            self._listing,
            self._crm,
            self.settings,
            self.stats,
            object_type,
            properties,
            max_id=max_id,
            live=live,
            concurrency=concurrency,
        )

    iter_modified = _forward("_modified", ModifiedSearch.iter_modified)

    # ------------------------------------------------------------------ seams the unit tests drive
    _request = _forward("_transport", HubSpotTransport.request)
    _property_chunks = _forward("_listing", ObjectListing.property_chunks)
    _partitioned_pages = staticmethod(partitioned_pages)
