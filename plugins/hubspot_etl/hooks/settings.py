"""Configuration of one :class:`~hubspot_etl.hooks.hubspot.HubSpotHook`.

:class:`HubSpotSettings` is what every other hook module reads; :func:`coerce_settings` turns
connection extras (strings when typed into the Airflow UI) into its typed fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from hubspot_etl.hooks.errors import register_secret
from hubspot_etl.hooks.paths import validate_api_version

DEFAULT_HOST = "https://api.hubapi.com"
USER_AGENT = "hubspot-etl-airflow/0.1 (+requests)"


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
    #: search requests also take a slot of the general burst budget. HubSpot's published specs
    #: exempt search from the ten-secondly limit (``x-hubspot-rate-limit-exemptions``), so by
    #: default they do not; set True for a portal or app where search does count.
    search_counts_toward_rate_limit: bool = False
    #: association batch reads per ``rate_limit_interval_ms`` (their own budget: the spec exempts
    #: them from the ten-secondly limit too; 0 disables their pacing)
    association_rate_limit_max: int = 180
    #: association batch reads also take a slot of the general burst budget
    associations_count_toward_rate_limit: bool = False
    #: a full listing also reads id ranges through search, beside the list chains, when search
    #: has its own budget (see :mod:`hubspot_etl.hooks.full_listing`)
    full_load_search: bool = True
    #: search readers a full listing runs at once (each pages its own id range)
    search_concurrency: int = 3
    #: objects with more requested properties are listed only (HubSpot documents no property cap
    #: for search; this keeps request bodies modest)
    full_load_search_max_properties: int = 400
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


def coerce_settings(base: HubSpotSettings, values: dict[str, Any]) -> HubSpotSettings:
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
