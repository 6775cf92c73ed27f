"""Failures that no retry can fix: fail the task at once, say which connection and what to do.

A wrong or revoked token, a missing scope, an Airflow connection that does not exist, a
warehouse login that is refused or lacks a privilege, and an invalid configuration all fail
the same way on every try. Retrying them only delays the message (three retries with backoff
took about seven minutes), so :func:`fail_fast_on_setup_errors` turns them into
``AirflowFailException`` (Airflow then skips the remaining retries) with one message that names
the Airflow connection id and the fix. Everything else, 429s, 5xx and dropped connections
included, propagates unchanged and is retried as configured.

Messages carry no secret: HubSpot errors are redacted by the hook, and warehouse errors are
reduced to their first line, which names a user or a database, never a password.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

_MISSING_CONN = re.compile(r"conn_id `([^`]+)` isn't defined")
_HUBSPOT_HELP = "airflow connections add {conn_id} --conn-type hubspot --conn-password <private app token>"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _missing_connection(exc: BaseException, cfg: Any) -> str | None:
    match = _MISSING_CONN.search(str(exc))
    if not match:
        return None
    conn_id = match.group(1)
    hubspot_conn = getattr(cfg, "hubspot_conn_id", None)
    kind = "hubspot" if conn_id == hubspot_conn else getattr(cfg.destination, "type", "postgres")
    role = "the HubSpot connection" if kind == "hubspot" else f"the {kind} warehouse connection"
    if kind == "hubspot":
        create = _HUBSPOT_HELP.format(conn_id=conn_id)
    else:
        from hubspot_etl.warehouse.registry import destination_type

        create = destination_type(kind).connection_help.format(conn_id=conn_id)
    return (
        f"Airflow connection {conn_id!r} ({role} of this DAG) does not exist: create it in Admin > "
        f"Connections, in your secrets backend, or with `{create}` (README#connections)."
    )


def _hubspot_cause(exc: BaseException, cfg: Any) -> str | None:
    from hubspot_etl.hooks.errors import HubSpotAuthError, HubSpotObjectTypeError, HubSpotScopeError

    conn_id = getattr(cfg, "hubspot_conn_id", "hubspot_default")
    if isinstance(exc, HubSpotAuthError):
        return (
            f"HubSpot rejected the token of Airflow connection {conn_id!r} (401: invalid, expired or "
            "revoked): put a valid private app token in that connection's Password field."
        )
    if isinstance(exc, HubSpotScopeError):
        scopes = ", ".join(exc.missing_scopes) or "a scope HubSpot did not name"
        return (
            f"The token of Airflow connection {conn_id!r} lacks the HubSpot scope(s) {scopes} "
            f"({exc.endpoint or 'request'}, 403): add them to the private app (Settings > Integrations > "
            "Private apps > Scopes) and update the token in the connection if HubSpot issued a new one."
        )
    if isinstance(exc, HubSpotObjectTypeError):
        return f"{exc} Fix object_type in the sync config (README#configuration)."
    return None


def _warehouse_cause(exc: BaseException, cfg: Any) -> str | None:
    destination = getattr(cfg, "destination", None)
    if destination is None:
        return None
    from hubspot_etl.warehouse.registry import destination_type

    return destination_type(destination.type).explain_error(exc, destination)


def permanent_cause(exc: BaseException, cfg: Any) -> str | None:
    """The message for a failure no retry can fix, or None for one that a retry may fix."""
    from hubspot_etl.compat import AirflowFailException, AirflowNotFoundException
    from hubspot_etl.config import ConfigError

    if isinstance(exc, AirflowFailException):
        return None  # already final
    if isinstance(exc, ConfigError):
        return f"Invalid sync configuration: {exc}"
    if isinstance(exc, AirflowNotFoundException) or _MISSING_CONN.search(str(exc)):
        found = _missing_connection(exc, cfg)
        if found:
            return found
    try:
        from hubspot_etl.scoring.mapping import MappingFileError

        if isinstance(exc, MappingFileError):
            return f"Invalid stage mapping file: {exc}"
    except ImportError:  # pragma: no cover
        pass
    return _hubspot_cause(exc, cfg) or _warehouse_cause(exc, cfg)


@contextmanager
def fail_fast_on_setup_errors(cfg: Any) -> Iterator[None]:
    """Re-raise permanent failures as ``AirflowFailException`` (no retries); others unchanged."""
    try:
        yield
    except Exception as exc:
        message = permanent_cause(exc, cfg)
        if message is None:
            raise
        from hubspot_etl.compat import AirflowFailException

        log.error("%s (not retried: a retry would fail the same way)", message)
        raise AirflowFailException(message) from exc
