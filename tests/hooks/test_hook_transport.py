"""Transport/retry unit tests against a tiny scripted HTTP server (real sockets, scripted replies).

The full behaviour is exercised against the HubSpot sandbox in ``test_hook_sandbox.py``; these
tests pin the retry decisions for each failure shape independently of the sandbox.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hubspot_etl.hooks import errors as err
from hubspot_etl.hooks.hubspot import HubSpotHook

TOKEN = "pat-na1-transport-secret-0002"
OK = (200, {}, json.dumps({"results": [{"id": "1"}]}))


class ScriptedServer:
    """Answers requests with a scripted list of (status, headers, body | "DROP" | "TRUNCATE")."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict, str]] = []
        self.requests: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append((self.command, self.path, dict(self.headers)))
                status, headers, body = outer.script.pop(0) if outer.script else OK
                if body == "DROP":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                payload = body.encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                if body == "TRUNCATE":
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.write(b'{"results": [')
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def make_hook(srv: ScriptedServer, **kw: object) -> HubSpotHook:
    params = {
        "backoff_base_s": 0.01,
        "rate_limit_backoff_s": 0.02,
        "search_backoff_s": 0.02,
        "max_retries": 4,
    }
    params.update(kw)
    return HubSpotHook.from_params(TOKEN, host=srv.url, **params)


def test_retries_every_transient_shape(server: ScriptedServer, caplog: pytest.LogCaptureFixture) -> None:
    server.script = [
        (429, {}, json.dumps({"policyName": "TEN_SECONDLY_ROLLING", "message": "ten_secondly_rolling"})),
        (503, {}, "{}"),
        (200, {}, "DROP"),
        (200, {}, "TRUNCATE"),
        (200, {}, "not json"),
    ]
    hook = make_hook(server, max_retries=6)
    with caplog.at_level(logging.WARNING):
        assert hook.get_properties("deals") == [{"id": "1"}]
    stats = hook.stats.as_dict()
    assert stats["calls"] == {"properties": 6}
    assert stats["retries"] == 5 and stats["http_429"] == 1
    assert set(stats["retries_by_reason"]) == {"http_429", "http_5xx", "connection", "invalid_body"}
    assert "HubSpot properties" in caplog.text and "retry 1/6" in caplog.text
    assert TOKEN not in caplog.text
    # bearer header sent, token never in URL
    method, path, headers = server.requests[-1]
    assert headers["Authorization"] == f"Bearer {TOKEN}" and TOKEN not in path
    assert headers["User-Agent"].startswith("hubspot-etl-airflow")


def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.script = [(429, {"Retry-After": "0.3"}, json.dumps({"policyName": "TEN_SECONDLY_ROLLING"}))]
    hook = make_hook(server, rate_limit_backoff_s=5.0)
    start = time.monotonic()
    hook.get_properties("deals")
    assert 0.25 < time.monotonic() - start < 3


def test_daily_limit_fails_without_retry(server: ScriptedServer) -> None:
    body = {"policyName": "DAILY", "message": "You have reached your daily limit.", "correlationId": "d-1"}
    server.script = [(429, {}, json.dumps(body))]
    hook = make_hook(server)
    with pytest.raises(err.HubSpotRateLimitExhausted, match="daily") as info:
        hook.get_properties("deals")
    assert "d-1" in str(info.value)
    assert hook.stats.as_dict()["calls"] == {"properties": 1}


def test_exhausted_retries_raise_typed_errors(server: ScriptedServer) -> None:
    server.script = [(502, {}, "<html>bad gateway</html>")] * 3
    hook = make_hook(server, max_retries=2)
    with pytest.raises(err.HubSpotServerError, match="status=502"):
        hook.get_pipelines("deals")
    server.script = [(429, {}, json.dumps({"policyName": "TEN_SECONDLY_ROLLING"}))] * 3
    with pytest.raises(err.HubSpotRateLimitExhausted, match="TEN_SECONDLY_ROLLING"):
        hook.get_pipelines("deals")
    server.script = [(200, {}, "DROP")] * 3
    with pytest.raises(err.HubSpotTransportError):
        hook.get_pipelines("deals")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, err.HubSpotBadRequest),
        (401, err.HubSpotAuthError),
        (403, err.HubSpotScopeError),
        (404, err.HubSpotNotFound),
        (414, err.HubSpotUriTooLong),
    ],
)
def test_client_errors_fail_at_once(server: ScriptedServer, status: int, cls: type) -> None:
    server.script = [(status, {"X-HubSpot-Correlation-Id": "corr-7"}, json.dumps({"message": TOKEN}))]
    hook = make_hook(server)
    with pytest.raises(cls) as info:
        hook.get_pipelines("deals")
    assert "corr-7" in str(info.value) and f"status={status}" in str(info.value)
    assert TOKEN not in str(info.value)
    assert hook.stats.total_calls == 1 and hook.stats.retries == 0


def test_url_guard_refuses_oversized_urls(server: ScriptedServer) -> None:
    hook = make_hook(server, max_url_length=200)
    with pytest.raises(err.HubSpotUriTooLong, match="not sent"):
        hook._request("objects.list", "GET", "/crm/v3/objects/contacts", params={"properties": "x" * 300})
    assert server.requests == []


def test_search_cap_is_reported_not_truncated(server: ScriptedServer) -> None:
    page = {"total": 20_000, "results": [{"id": "1"}], "paging": {"next": {"after": "9900"}}}
    server.script = [(200, {}, json.dumps(page))]
    hook = make_hook(server, search_per_second=0)
    pages = hook.search("contacts", page_size=200)
    assert next(pages) == [{"id": "1"}]
    with pytest.raises(err.HubSpotSearchCapError, match="10,000"):
        next(pages)


def test_test_connection_messages(server: ScriptedServer) -> None:
    hook = make_hook(server)
    assert hook.test_connection()[0] is True
    server.script = [(401, {}, json.dumps({"message": "Authentication credentials not found"}))]
    ok, message = hook.test_connection()
    assert not ok and message.startswith("HubSpot rejected the token (401") and message.count(". ") == 0
    body = {"message": "missing", "errors": [{"context": {"missingScopes": ["crm.objects.owners.read"]}}]}
    server.script = [(403, {}, json.dumps(body))]
    ok, message = hook.test_connection()
    assert not ok and "crm.objects.owners.read" in message
    dead = HubSpotHook.from_params(TOKEN, host="http://127.0.0.1:9", connect_timeout=0.5)
    ok, message = dead.test_connection()
    assert not ok and message.startswith("Cannot reach http://127.0.0.1:9 (")
    assert TOKEN not in message
