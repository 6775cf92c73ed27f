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
_PG_PERMANENT = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # role or database
    "permission denied",
    "must be owner of",
)
_CONNECTION_HELP = {
    "hubspot": "airflow connections add {conn_id} --conn-type hubspot --conn-password <private app token>",
    "postgres": "airflow connections add {conn_id} --conn-uri postgresql://user:password@host:5432/database",
    "bigquery": "airflow connections add {conn_id} --conn-type google_cloud_platform "
    '--conn-extra \'{{"project": "<project>"}}\'',
}


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
    create = _CONNECTION_HELP.get(kind, _CONNECTION_HELP["postgres"]).format(conn_id=conn_id)
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
    conn_id = destination.conn_id
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None and isinstance(exc, psycopg.Error):
        text = _first_line(exc)
        permanent = isinstance(exc, psycopg.errors.InsufficientPrivilege) or (
            isinstance(exc, psycopg.OperationalError) and any(p in text for p in _PG_PERMANENT)
        )
        if permanent:
            return (
                f"The PostgreSQL warehouse refused Airflow connection {conn_id!r}: {text}. Fix the login, "
                f"database or privileges of that connection (it needs CREATE on the database and on "
                f"schema {destination.schema_name!r})."
            )
        return None
    return _bigquery_cause(exc, conn_id, destination)


def _bigquery_cause(exc: BaseException, conn_id: str, destination: Any) -> str | None:
    module = type(exc).__module__
    if not module.startswith(("google.auth", "google.api_core")):
        return None
    name = type(exc).__name__
    text = _first_line(exc)
    if name in ("DefaultCredentialsError", "RefreshError", "Unauthorized") or (
        name == "Forbidden" and "quota" not in text.lower() and "rate" not in text.lower()
    ):
        return (
            f"BigQuery refused the credentials of Airflow connection {conn_id!r}: {text}. Give that "
            f"connection a key or Application Default Credentials with BigQuery Data Editor and Job User "
            f"on project {destination.project or '(the connection project)'}."
        )
    return None


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
