"""Shared helpers for the sandbox tests (importable as ``sandbox_helpers``)."""

from __future__ import annotations

from typing import Any

import requests
from hubspot_sandbox import SandboxConfig, SandboxServer

TOKEN = "sandbox-token"


class Api:
    """Tiny HTTP client for tests: bearer auth on public paths, none on /_sandbox."""

    def __init__(self, srv: SandboxServer, token: str | None = TOKEN) -> None:
        self.srv = srv
        self.token = token
        self.session = requests.Session()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(
            self.srv.url + path, params=params or None, headers=self._headers(), timeout=10
        )

    def post(self, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.session.post(
            self.srv.url + path, json=body, params=params or None, headers=self._headers(), timeout=10
        )

    def admin(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        resp = self.session.request(method, f"{self.srv.url}/_sandbox/{path}", json=body, timeout=10)
        if expect is not None:
            assert resp.status_code == expect, resp.text
        return resp


def open_config(**changes: Any) -> SandboxConfig:
    """Config without rate limits (tests that need limits turn them on)."""
    cfg = SandboxConfig(rate_limit_max=None, search_per_second=None, daily_limit=None)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg
