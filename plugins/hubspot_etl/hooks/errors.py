"""Typed HubSpot errors, error-body parsing and token redaction.

Every exception raised by :class:`~hubspot_etl.hooks.hubspot.HubSpotHook` derives from
:class:`HubSpotError`. Its message names the cause, the logical endpoint (``objects.search`` ...),
the HTTP status and HubSpot's ``correlationId`` so that a failed task log is actionable.

Secrets never reach a message: every token a hook loads is registered with
:func:`register_secret`, and :func:`redact` scrubs registered tokens plus anything that looks like a
bearer credential (``Bearer xxx``, ``pat-na1-...``) from any text before it is logged or raised.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

REDACTED = "***"

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",]+"),
    re.compile(r"\bpat-[a-z0-9]{2,6}-[A-Za-z0-9_-]+"),
)
_MIN_SECRET_LEN = 4  # never "redact" trivially short strings (would shred normal text)


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so :func:`redact` removes it from every later message."""
    if secret and len(secret) >= _MIN_SECRET_LEN:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: object) -> str:
    """Return ``str(text)`` with registered secrets and bearer-looking credentials replaced by ``***``."""
    out = str(text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in out:
            out = out.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, out)
    return out


class RedactingFilter(logging.Filter):
    """Logging filter that scrubs secrets from a record's fully formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - broken format args; leave the record alone
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class HubSpotError(Exception):
    """Base class for HubSpot API failures.

    :param cause: short human description of what went wrong.
    :param endpoint: logical endpoint name (e.g. ``objects.list``).
    :param status: HTTP status, or None for transport errors.
    :param correlation_id: HubSpot's ``correlationId`` (from body or header) when known.
    :param hubspot_message: the ``message`` field from HubSpot's error body.
    :param category: HubSpot's error ``category`` when present.
    """

    def __init__(
        self,
        cause: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        correlation_id: str | None = None,
        hubspot_message: str | None = None,
        category: str | None = None,
    ) -> None:
        self.cause = redact(cause)
        self.endpoint = endpoint
        self.status = status
        self.correlation_id = correlation_id
        self.hubspot_message = redact(hubspot_message) if hubspot_message else None
        self.category = category
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [f"endpoint={self.endpoint}" if self.endpoint else None]
        parts.append(f"status={self.status}" if self.status is not None else None)
        parts.append(f"correlationId={self.correlation_id}" if self.correlation_id else None)
        meta = ", ".join(p for p in parts if p)
        text = f"HubSpot {self.cause}"
        if meta:
            text += f" [{meta}]"
        if self.hubspot_message:
            text += f": {self.hubspot_message}"
        return redact(text)


class HubSpotAuthError(HubSpotError):
    """401: the token is invalid, expired or revoked."""


class HubSpotScopeError(HubSpotError):
    """403: the token lacks one or more scopes; ``missing_scopes`` lists them when HubSpot says so."""

    def __init__(self, cause: str, *, missing_scopes: list[str] | None = None, **kwargs: Any) -> None:
        self.missing_scopes = list(missing_scopes or [])
        super().__init__(cause, **kwargs)


class HubSpotBadRequest(HubSpotError):
    """400 (validation error, search beyond 10,000 results, ...)."""


class HubSpotSearchCapError(HubSpotBadRequest):
    """Raw search paging would pass HubSpot's 10,000-result cap (use ``iter_modified``)."""


class HubSpotUriTooLong(HubSpotBadRequest):
    """414, or a URL the hook refuses to send because it exceeds its safe length budget."""


class HubSpotNotFound(HubSpotError):
    """404: unknown object type, pipeline, or path."""


class HubSpotObjectTypeError(HubSpotError, ValueError):
    """An object type name or id that is neither standard nor a custom-object schema."""


class HubSpotRateLimitExhausted(HubSpotError):
    """429 that must not be retried (DAILY policy, huge Retry-After) or persisted past ``max_retries``."""


class HubSpotServerError(HubSpotError):
    """5xx / 423 / other retryable statuses still failing after ``max_retries`` attempts."""


class HubSpotTransportError(HubSpotError):
    """Connection errors, timeouts, truncated or non-JSON bodies still failing after retries."""


def parse_error_body(text: str | None, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Extract the useful fields of a HubSpot error body; every field is optional.

    Returns a dict with ``message``, ``correlation_id``, ``category``, ``policy_name`` and
    ``missing_scopes`` (a list, collected from ``context`` and ``errors[].context``).
    Non-JSON bodies (e.g. nginx 414 HTML pages) yield a short text snippet as ``message``.
    """
    body: Any = None
    if text:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
    info: dict[str, Any] = {
        "message": None,
        "correlation_id": None,
        "category": None,
        "policy_name": None,
        "missing_scopes": [],
    }
    if isinstance(body, dict):
        info["message"] = _as_str(body.get("message"))
        info["correlation_id"] = _as_str(body.get("correlationId"))
        info["category"] = _as_str(body.get("category") or body.get("errorType"))
        info["policy_name"] = _as_str(body.get("policyName"))
        info["missing_scopes"] = _missing_scopes(body)
    elif text:
        snippet = re.sub(r"<[^>]+>", " ", text)
        info["message"] = " ".join(snippet.split())[:200] or None
    if not info["correlation_id"] and headers:
        info["correlation_id"] = headers.get("X-HubSpot-Correlation-Id")
    return info


def _as_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _missing_scopes(body: Mapping[str, Any]) -> list[str]:
    """Collect scope names from ``context`` and nested ``errors[].context`` of an error body."""
    found: list[str] = []
    contexts: list[Any] = [body.get("context")]
    for err in body.get("errors") or []:
        if isinstance(err, Mapping):
            contexts.append(err.get("context"))
    for ctx in contexts:
        if not isinstance(ctx, Mapping):
            continue
        for key, values in ctx.items():
            if "scope" not in key.lower():
                continue
            for scope in values if isinstance(values, list) else [values]:
                if isinstance(scope, str) and scope not in found:
                    found.append(scope)
    return found


def error_for_status(
    status: int,
    *,
    endpoint: str,
    body_text: str | None,
    headers: Mapping[str, str] | None = None,
    cause: str | None = None,
) -> HubSpotError:
    """Build the typed exception for a non-success HTTP status (does not decide about retries)."""
    info = parse_error_body(body_text, headers)
    common = {
        "endpoint": endpoint,
        "status": status,
        "correlation_id": info["correlation_id"],
        "hubspot_message": info["message"],
        "category": info["category"],
    }
    if status == 401:
        return HubSpotAuthError(cause or "rejected the token: invalid or expired token", **common)
    if status == 403:
        scopes = info["missing_scopes"]
        text = f"denied access: token is missing scope(s) {', '.join(scopes)}" if scopes else None
        text = text or "denied access: token lacks a required scope or permission"
        return HubSpotScopeError(cause or text, missing_scopes=scopes, **common)
    if status == 404:
        return HubSpotNotFound(cause or "resource not found", **common)
    if status == 414:
        return HubSpotUriTooLong(cause or "rejected the request: URI too long", **common)
    if status == 429:
        policy = info["policy_name"] or "unknown"
        return HubSpotRateLimitExhausted(cause or f"rate limit hit (policy {policy})", **common)
    if 400 <= status < 500:
        return HubSpotBadRequest(cause or "rejected the request as invalid", **common)
    return HubSpotServerError(cause or "server error", **common)
