"""A ``BigQueryHook`` that can point at a BigQuery emulator (or any other endpoint).

The provider's ``BigQueryHook`` (providers-google 22.x) reads project and credentials from a
``google_cloud_platform``/``gcpbigquery`` connection but has no setting for the API endpoint:
``get_client_options()`` only sets one when a subclass passes it. This subclass reads it from the
connection extras.

Connection extras understood on top of the provider's (``project``, ``key_path``,
``keyfile_dict``, ``is_anonymous``, ``location``, ...; plain or ``extra__google_cloud_platform__``
prefixed):

* ``api_endpoint`` (alias ``endpoint``): base URL of the BigQuery REST API, for example
  ``http://127.0.0.1:9050`` for ``bqemulator``. Unset means Google's endpoint.
* ``anonymous`` (alias of the provider's ``is_anonymous``): use ``AnonymousCredentials`` (no
  token). When an ``api_endpoint`` is set and no key (``key_path``, ``keyfile_dict``,
  ``key_secret_name``, ``credential_config_file``) is configured, anonymous credentials are used
  as well, so an emulator connection needs only ``project`` and ``api_endpoint``. Without an
  endpoint, a connection with no key keeps the provider's behaviour (Application Default
  Credentials, e.g. on Composer).

Example (environment connection)::

    AIRFLOW_CONN_BQ_LOCAL='{"conn_type": "google_cloud_platform",
        "extra": {"project": "demo", "api_endpoint": "http://127.0.0.1:9050", "anonymous": true}}'
"""

from __future__ import annotations

from typing import Any

from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery

_KEY_FIELDS = ("key_path", "keyfile_dict", "key_secret_name", "credential_config_file")
_TRUE = {"true", "1", "yes", "on"}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


class EndpointBigQueryHook(BigQueryHook):
    """``BigQueryHook`` honouring the ``api_endpoint``/``endpoint`` and ``anonymous`` extras."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("use_legacy_sql", False)
        super().__init__(**kwargs)

    @property
    def api_endpoint(self) -> str | None:
        """The endpoint from the connection extras, or None."""
        value = self._get_field("api_endpoint") or self._get_field("endpoint")
        return str(value).rstrip("/") if value else None

    @property
    def anonymous(self) -> bool:
        """True when the connection asks for anonymous credentials (see module docstring)."""
        if _truthy(self._get_field("anonymous")) or _truthy(self._get_field("is_anonymous")):
            return True
        has_key = any(self._get_field(f) for f in _KEY_FIELDS)
        return self.api_endpoint is not None and not has_key

    def get_client_options(self, api_endpoint_override: str | None = None) -> ClientOptions:
        """Client options with the endpoint from the extras (an explicit override wins)."""
        return super().get_client_options(api_endpoint_override=api_endpoint_override or self.api_endpoint)

    def get_credentials_and_project_id(self) -> tuple[Credentials, str | None]:
        """Anonymous credentials (project from the extras) when asked for, else the provider's."""
        if self.anonymous:
            project = self._get_field("project") or self._get_field("project_id")
            return AnonymousCredentials(), project
        return super().get_credentials_and_project_id()

    def get_client(self, project_id: str | None = None, location: str | None = None) -> bigquery.Client:  # type: ignore[override]
        """A ``bigquery.Client``; the project defaults to the connection's."""
        return super().get_client(
            project_id=project_id or self.project_id, location=location or self.location
        )
