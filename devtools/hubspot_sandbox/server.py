"""HTTP front-end of the sandbox: a local server that behaves like HubSpot's CRM API.

:class:`SandboxServer` wraps a stdlib ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive, daemon
threads) around a :class:`~hubspot_sandbox.portal.Portal` and a
:class:`~hubspot_sandbox.config.SandboxConfig`.

Public HubSpot paths (each under its v3/v4 and 2026-09 spelling, fact sheet §0) go through,
in order: 414 URL-length check -> endpoint counter -> latency -> injected faults (drop,
5xx, 429 without Retry-After, truncation) -> bearer-token auth (401) -> scope check (403) ->
rate limits (search: N/s "SECONDLY"; rolling window "TEN_SECONDLY_ROLLING" except for the routes
HubSpot's specs exempt, search and association batch reads; daily for every route)
-> handler. Admin paths under ``/_sandbox/`` skip all of that (no auth, faults or limits).
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import shutil
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from ._util import (
    PortalError,
    as_bool,
    correlation_id,
    decode_id_cursor,
    encode_cursor,
    error_body,
    iso_ms,
    now_ms,
)
from .catalog import ALL_SCOPES, SCOPE_OWNERS, SCOPE_SCHEMAS
from .config import SandboxConfig
from .exports import Exports
from .history import HISTORY_BATCH_MESSAGE, MAX_HISTORY_INPUTS
from .portal import Portal

log = logging.getLogger(__name__)

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SCOPES_LINK = "https://developers.hubspot.com/scopes"
HTML_414 = (
    "<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)

_V3 = r"/crm/(?:v3/objects|objects/2026-09)"
_PROPS = r"/crm/(?:v3/properties|properties/2026-09)"
_SCHEMAS = r"/(?:crm-object-schemas/v3|crm/v3|crm-object-schemas/2026-09)/schemas"
_PIPES = r"/crm/(?:v3/pipelines|pipelines/2026-09)"
_OWNERS = r"/crm/(?:v3/owners|owners/2026-09)"
_ASSOC_BATCH = r"/crm/(?:v4/associations|associations/2026-09)"
_ASSOC_LABELS = r"/crm/(?:associations/v4|v4/associations|associations/2026-09)"
_ACCOUNT = r"/account-info/(?:v3|2026-03|2026-09)/details"
_LIBRARY = r"/crm/(?:v3/object-library|object-library/2026-03|object-library/2026-09)/enablement"
_SEG = r"([^/]+)"


@dataclass
class Response:
    """An HTTP response to write; ``action`` is ``"drop"`` or ``"truncate"`` for faults."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None
    file: Path | None = None  # streamed instead of ``body`` (export downloads)


@dataclass
class Request:
    """A parsed request as seen by the route handlers."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    args: tuple[str, ...] = ()
    token: str | None = None

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PortalError(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: {exc}") from exc

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def props(self, key: str = "properties") -> list[str] | None:
        values = self.query.get(key)
        if not values:
            return None
        names = [p.strip() for v in values for p in v.split(",") if p.strip()]
        return names or None


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    hdrs = {"Content-Type": "application/json;charset=utf-8"}
    hdrs.update(headers or {})
    return Response(status, body, hdrs)


def _error_item(message: str, ids: list[Any], **extra: Any) -> dict[str, Any]:
    """One ``errors[]`` item of a batch response, with every key the specs list."""
    item = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": message, "context": {"ids": ids}}
    return {**item, "errors": [], "links": {}, **extra}


def _batch_response(req: Request, results: list[Any], errors: list[dict[str, Any]]) -> Response:
    """A batch read's body. Some ids not found: 207 on the v3/v4 paths, 200 with ``errors`` and
    ``numErrors`` on the ``2026-09`` paths (as their specs say)."""
    stamp = iso_ms(now_ms())
    payload: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
    }
    if not errors:
        return _json(200, payload)
    payload["numErrors"] = len(errors)
    payload["errors"] = errors
    return _json(200 if "/2026-09/" in req.path else 207, payload)


def _correlation_of(resp: Response) -> str:
    """The error body's ``correlationId`` (HubSpot sends the same in the header), else a new one."""
    if resp.status >= 400 and resp.body[:1] == b"{":
        try:
            found = json.loads(resp.body).get("correlationId")
        except ValueError:
            found = None
        if found:
            return str(found)
    return correlation_id()


def _html(status: int, text: str) -> Response:
    return Response(status, text.encode(), {"Content-Type": "text/html"})


def _batch_inputs(body: Any, maximum: int, shape: str) -> list:
    """The ``inputs`` list of a batch request, checked like HubSpot does (presence, size)."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise _validation(f"inputs is required and must be a list of {shape}")
    if len(inputs) > maximum:
        raise _validation(
            f"The maximum number of inputs supported in a batch request is {maximum} (got {len(inputs)})"
        )
    return inputs


def _validation(message: str) -> PortalError:
    return PortalError(400, "VALIDATION_ERROR", message)


Scope = str | tuple[str, ...]


def _granted(required: Scope, scopes: list[str]) -> bool:
    """A tuple of scopes is granted by any one of them (products: ``crm.objects.products.read``
    or the older ``e-commerce``)."""
    if isinstance(required, tuple):
        return any(s in scopes for s in required)
    return required in scopes


def _first(required: Scope) -> str:
    return required[0] if isinstance(required, tuple) else required


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Callable[[Request], Response]
    scopes: Callable[[Request], list[Any]] | None = None
    #: HubSpot's ``x-hubspot-rate-limit-exemptions`` of the operation (e.g. ``TEN_SECONDLY``)
    exemptions: frozenset[str] = frozenset()


#: the rolling burst window a route's spec may exempt it from
TEN_SECONDLY = "ten-secondly"
#: what HubSpot's specs exempt search and association batch reads from
_EXEMPT_TEN_SECONDLY = frozenset({TEN_SECONDLY})


class _Window:
    """Rolling-window counters keyed by token (or a global key)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: dict[str, deque[float]] = {}

    def acquire(self, key: str, limit: int, interval_s: float, now: float) -> tuple[bool, int, float]:
        """Try to take a slot: returns (allowed, remaining, seconds until a slot frees)."""
        with self.lock:
            hits = self.hits.setdefault(key, deque())
            while hits and hits[0] <= now - interval_s:
                hits.popleft()
            if len(hits) >= limit:
                return False, 0, hits[0] + interval_s - now
            hits.append(now)
            return True, limit - len(hits), 0.0

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: SandboxServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubSpotSandbox/1.0"
    sys_version = ""
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer

    def _serve(self) -> None:
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if app.stopped:
            self.close_connection = True
            return
        resp = app.handle(self.command, self.path, self.headers, body)
        if resp.action == "drop":
            self._abort()
            return
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        if resp.file is not None:
            self._send_file(resp.file)
            return
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        data = resp.body if resp.action != "truncate" else resp.body[: len(resp.body) // 2]
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return
        if resp.action == "truncate":
            self._abort()

    def _send_file(self, path: Path) -> None:
        """Stream a file body (export downloads: never read into memory)."""
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        try:
            with open(path, "rb") as fh:
                shutil.copyfileobj(fh, self.wfile, 1 << 20)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("sandbox %s - %s", self.address_string(), format % args)


class SandboxServer:
    """HubSpot-compatible local HTTP server around a :class:`Portal`.

    ``server.portal`` and ``server.config`` are live objects: changes take effect on the next
    request. Use ``start()``/``stop()`` or ``with SandboxServer(...) as srv:``.
    """

    def __init__(
        self,
        portal: Portal,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.portal = portal
        self.config = config if config is not None else SandboxConfig()
        self.host = host
        self.port = port
        self.stopped = False
        self._counters: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self._window = _Window()
        self._secondly = _Window()
        self._daily_used = 0
        self._daily_lock = threading.Lock()
        self._rng_lock = threading.Lock()
        self._rng_seed = self.config.seed
        self._rng = random.Random(self._rng_seed)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.exports = Exports(self)
        self._routes = self._build_routes()
        self._admin_routes = self._build_admin_routes()

    # -------------------------------------------------------------- lifecycle
    def start(self) -> SandboxServer:
        """Bind and serve in a background daemon thread. Returns self."""
        if self._httpd is not None:
            return self
        self.stopped = False
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name=f"hubspot-sandbox:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.stopped = True
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    # --------------------------------------------------------------- counters
    def count(self, name: str, n: int = 1) -> None:
        with self._counter_lock:
            self._counters[name] += n

    def counters(self) -> dict[str, int]:
        """Snapshot of the counters: endpoint name -> requests, plus responses.<status>, faults.*."""
        with self._counter_lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        with self._counter_lock:
            self._counters.clear()

    def reset_rate_limits(self) -> None:
        """Forget all rate-limit history (rolling window, secondly and daily)."""
        self._window.reset()
        self._secondly.reset()
        self._daily_used = 0

    # ----------------------------------------------------------------- entry
    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Response:
        """Process one request (used by the HTTP handler; handy for direct testing too)."""
        path = unquote(target.split("?", 1)[0])
        try:
            if path == "/_sandbox" or path.startswith("/_sandbox/"):
                return self._handle_admin(method, target, headers, body)
            resp = self._handle_public(method, target, headers, body)
        except Exception:  # pragma: no cover - defensive
            log.exception("sandbox internal error")
            resp = _json(500, error_body("internal sandbox error", "INTERNAL_ERROR"))
        resp.headers.setdefault("X-HubSpot-Correlation-Id", _correlation_of(resp))
        self.count(f"responses.{resp.status}" if resp.action != "drop" else "responses.dropped")
        return resp

    def _draw_faults(self) -> tuple[float, float, float, float, int]:
        with self._rng_lock:
            if self.config.seed != self._rng_seed:
                self._rng_seed = self.config.seed
                self._rng = random.Random(self._rng_seed)
            rng = self._rng
            return rng.random(), rng.random(), rng.random(), rng.random(), rng.choice((500, 502, 503))

    def _fault_response(self, draws: tuple[float, float, float, float, int]) -> Response | None:
        cfg = self.config
        r_drop, r_5xx, r_429, _, code = draws
        if r_drop < (cfg.drop_connection_rate or 0):
            self.count("faults.drop")
            return Response(0, action="drop")
        if r_5xx < (cfg.fault_5xx_rate or 0):
            self.count("faults.5xx")
            if code == 502:
                return _html(502, HTML_502)
            message = "internal error" if code == 500 else "Service Unavailable"
            return _json(
                code, error_body(message, "INTERNAL_ERROR" if code == 500 else "SERVICE_UNAVAILABLE")
            )
        if r_429 < (cfg.fault_429_rate or 0):
            self.count("faults.429")
            return _json(
                429,
                error_body(
                    "You have reached your ten_secondly_rolling limit.",
                    "RATE_LIMITS",
                    errorType="RATE_LIMIT",
                    policyName="TEN_SECONDLY_ROLLING",
                ),
            )
        return None

    def _handle_public(self, method: str, target: str, headers: Any, body: bytes) -> Response:
        cfg = self.config
        raw_path, _, query = target.partition("?")
        if cfg.max_url_length and len(target) > cfg.max_url_length:
            return _html(414, HTML_414)
        path = unquote(raw_path).rstrip("/") or "/"
        route, args, method_mismatch = self._match(self._routes, method, path)
        name = route.name if route else "unknown"
        self.count(name)
        if cfg.latency_ms:
            time.sleep(cfg.latency_ms / 1000)
        draws = self._draw_faults()
        fault = self._fault_response(draws)
        if fault is not None:
            return fault
        if route is None:
            status = 405 if method_mismatch else 404
            return _json(
                status,
                error_body(f"{'Method not allowed' if status == 405 else 'Not found'}: {method} {path}"),
            )
        req = Request(method, path, parse_qs(query, keep_blank_values=True), headers, body, args)
        resp = self._authorized(route, req)
        if draws[3] < (cfg.truncate_body_rate or 0):
            self.count("faults.truncate")
            resp.action = "truncate"
        return resp

    def _authorized(self, route: Route, req: Request) -> Response:
        auth = req.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        tokens = self.config.tokens or {}
        if not token or token not in tokens:
            return _json(401, error_body(AUTH_MESSAGE, "INVALID_AUTHENTICATION"))
        scopes = tokens[token]
        if scopes is None:  # None = every scope
            scopes = ALL_SCOPES
        req.token = token
        rate_headers: dict[str, str] = {}
        try:
            required = route.scopes(req) if route.scopes else []
            missing = [_first(s) for s in required if not _granted(s, scopes)]
            if missing:
                return self._forbidden(missing)
            limited, rate_headers = self._rate_limit(route, token)
            if limited is not None:
                return limited
            resp = route.handler(req)
        except PortalError as err:
            resp = _json(err.status, error_body(err.message, err.category, err.context))
        resp.headers.update(rate_headers)
        return resp

    @staticmethod
    def _forbidden(missing: list[str]) -> Response:
        message = (
            "This app hasn't been granted all required scopes to make this call. Read more about required "
            f"scopes here: {SCOPES_LINK}. Missing scope(s): {', '.join(missing)}"
        )
        return _json(
            403,
            error_body(
                message,
                "MISSING_SCOPES",
                {"requiredScopes": missing},
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": missing},
                    }
                ],
                links={"scopes": SCOPES_LINK},
            ),
        )

    def _rate_limit(self, route: Route, token: str) -> tuple[Response | None, dict[str, str]]:
        """Search's own per-second limit, the ten-secondly window (unless the route is exempt,
        as HubSpot's specs declare for search and association batch reads) and the daily limit
        (every route). Exempt routes answer without rate-limit headers, as search does."""
        cfg = self.config
        now = time.monotonic()
        if route.name == "objects.search" and cfg.search_per_second:
            ok, _, _ = self._secondly.acquire("search", int(cfg.search_per_second), 1.0, now)
            if not ok:
                self.count("rate_limited.secondly")
                body = error_body(
                    "You have reached your secondly limit.",
                    "RATE_LIMITS",
                    errorType="RATE_LIMIT",
                    policyName="SECONDLY",
                )
                return _json(429, body), {}
        exempt = TEN_SECONDLY in route.exemptions
        headers: dict[str, str] = {}
        if not exempt and cfg.rate_limit_max and cfg.rate_limit_interval_ms:
            interval_s = cfg.rate_limit_interval_ms / 1000
            ok, remaining, wait = self._window.acquire(token, int(cfg.rate_limit_max), interval_s, now)
            headers = {
                "X-HubSpot-RateLimit-Max": str(cfg.rate_limit_max),
                "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(cfg.rate_limit_interval_ms),
            }
            if not ok:
                self.count("rate_limited.ten_secondly")
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
                headers.update(self._daily_headers())
                body = error_body(
                    "You have reached your ten_secondly_rolling limit.",
                    "RATE_LIMITS",
                    errorType="RATE_LIMIT",
                    policyName="TEN_SECONDLY_ROLLING",
                )
                return _json(429, body, headers), headers
        if cfg.daily_limit:
            with self._daily_lock:
                exhausted = self._daily_used >= cfg.daily_limit
                if not exhausted:
                    self._daily_used += 1
            if exhausted:
                self.count("rate_limited.daily")
                daily = {**headers, **self._daily_headers()}
                body = error_body(
                    "You have reached your daily limit.",
                    "RATE_LIMITS",
                    errorType="RATE_LIMIT",
                    policyName="DAILY",
                )
                return _json(429, body, daily), daily
        if exempt:
            return None, {}
        headers.update(self._daily_headers())
        return None, headers

    def _daily_headers(self) -> dict[str, str]:
        limit = self.config.daily_limit
        if not limit:
            return {}
        return {
            "X-HubSpot-RateLimit-Daily": str(limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, limit - self._daily_used)),
        }

    @staticmethod
    def _match(routes: list[Route], method: str, path: str) -> tuple[Route | None, tuple[str, ...], bool]:
        mismatch = False
        for route in routes:
            m = route.pattern.fullmatch(path)
            if m is None:
                continue
            if route.method != method:
                mismatch = True
                continue
            return route, m.groups(), False
        return None, (), mismatch

    # ---------------------------------------------------------------- routes
    def _type_scope(self, req: Request) -> list[Scope]:
        return [self.portal.object_type(req.args[0]).scope]

    def _pair_scopes(self, req: Request) -> list[Scope]:
        scopes = [self.portal.object_type(req.args[0]).scope, self.portal.object_type(req.args[1]).scope]
        return list(dict.fromkeys(scopes))

    def _build_routes(self) -> list[Route]:
        r = re.compile
        ts = self._type_scope
        return [
            Route(
                "POST",
                r(rf"{_V3}/{_SEG}/search"),
                "objects.search",
                self._search,
                ts,
                _EXEMPT_TEN_SECONDLY,
            ),
            Route("POST", r(rf"{_V3}/{_SEG}/batch/read"), "objects.batch_read", self._batch_read, ts),
            Route("GET", r(rf"{_V3}/{_SEG}"), "objects.list", self._list, ts),
            Route("GET", r(rf"{_V3}/{_SEG}/{_SEG}"), "objects.get", self._get, ts),
            Route("GET", r(rf"{_PROPS}/{_SEG}"), "properties", self._properties, ts),
            Route("GET", r(_SCHEMAS), "schemas", self._schemas, lambda _: [SCOPE_SCHEMAS]),
            Route("GET", r(rf"{_SCHEMAS}/{_SEG}"), "schemas", self._schema, lambda _: [SCOPE_SCHEMAS]),
            Route("GET", r(rf"{_PIPES}/{_SEG}"), "pipelines", self._pipelines, ts),
            Route("GET", r(_OWNERS), "owners", self._owners, lambda _: [SCOPE_OWNERS]),
            Route(
                "POST",
                r(rf"{_ASSOC_BATCH}/{_SEG}/{_SEG}/batch/read"),
                "associations.batch_read",
                self._assoc_batch_read,
                self._pair_scopes,
                _EXEMPT_TEN_SECONDLY,
            ),
            Route(
                "GET",
                r(rf"{_ASSOC_LABELS}/{_SEG}/{_SEG}/labels"),
                "associations.labels",
                self._assoc_labels,
                self._pair_scopes,
            ),
            Route("GET", r(_ACCOUNT), "account.details", self._account),
            Route("GET", r(_LIBRARY), "object_library.enablement", self._library),
            Route("GET", r(rf"{_LIBRARY}/{_SEG}"), "object_library.enablement", self._library_one),
            *self.exports.routes(),
        ]

    @staticmethod
    def _int(value: Any, name: str, default: int) -> int:
        if value is None or value == "":
            return default
        try:
            return int(str(value))
        except ValueError:
            raise _validation(f"Invalid value {value!r} for {name}: expected an integer") from None

    def _limit(self, value: Any, default: int, maximum: int, what: str) -> int:
        limit = self._int(value, "limit", default)
        if limit < 1 or limit > maximum:
            raise _validation(f"limit must be between 1 and {maximum} for {what} (got {limit})")
        return limit

    @staticmethod
    def _cursor(value: str | None) -> int | None:
        if not value:
            return None
        try:
            return decode_id_cursor(value)
        except ValueError:
            raise _validation(f"Invalid paging cursor after={value!r}") from None

    def _paging(self, req: Request, after: str) -> dict[str, Any]:
        """``paging.next``: the cursor, and HubSpot's absolute link that keeps every parameter."""
        query = {k: v for k, v in req.query.items() if k != "after"}
        query["after"] = [after]
        return {
            "next": {"after": after, "link": f"{self.url}{req.path}?{urlencode(query, doseq=True, safe=',')}"}
        }

    def _list(self, req: Request) -> Response:
        history = req.props("propertiesWithHistory")
        limit = self._limit(req.param("limit"), 10, self.config.list_max_limit, "the list endpoint")
        if history:  # HubSpot serves at most 50 records per page with history
            limit = min(limit, MAX_HISTORY_INPUTS)
        results, next_id = self.portal.list_records(
            req.args[0],
            limit=limit,
            after_id=self._cursor(req.param("after")),
            properties=req.props(),
            archived=as_bool(req.param("archived") or "false"),
            history=history,
        )
        payload: dict[str, Any] = {"results": results}
        if next_id is not None:
            payload["paging"] = self._paging(req, encode_cursor(next_id))
        return _json(200, payload)

    def _get(self, req: Request) -> Response:
        rec = self.portal.get_record(
            req.args[0],
            req.args[1],
            properties=req.props(),
            archived=as_bool(req.param("archived") or "false"),
            history=req.props("propertiesWithHistory"),
        )
        return _json(200, rec)

    def _search(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise _validation("Search body must be a JSON object")
        cfg = self.config
        limit = self._int(body.get("limit"), "limit", 10)
        if limit < 0 or limit > cfg.search_max_limit:
            raise _validation(f"limit must be between 0 and {cfg.search_max_limit} for search (got {limit})")
        offset = self._int(body.get("after"), "after", 0)
        if offset < 0:
            raise _validation(f"after must be a non-negative integer offset (got {offset})")
        if offset + limit > cfg.search_max_results:
            raise _validation(
                f"There was a problem with the request. Cannot page beyond {cfg.search_max_results} results "
                f"(after={offset} + limit={limit})."
            )
        payload = self.portal.search(
            req.args[0], body, limit=limit, offset=offset, index_lag_s=cfg.search_index_lag_s or 0.0
        )
        return _json(200, payload)

    def _batch_read(self, req: Request) -> Response:
        body = req.json()
        inputs = _batch_inputs(body, self.config.batch_read_max_inputs, "{id}")
        id_property = body.get("idProperty")
        if id_property not in (None, "", "hs_object_id"):
            raise _validation(f"idProperty {id_property!r} is not supported by the sandbox (use record ids)")
        ids = []
        for i, item in enumerate(inputs):
            if not isinstance(item, dict) or "id" not in item:
                raise _validation(f"inputs[{i}] must be an object with an id")
            ids.append(str(item["id"]))
        props = body.get("properties")
        if props is not None and not isinstance(props, list):
            raise _validation("properties must be a list")
        history = body.get("propertiesWithHistory")
        if history is not None and not isinstance(history, list):
            raise _validation("propertiesWithHistory must be a list")
        if history and len(inputs) > MAX_HISTORY_INPUTS:
            raise _validation(HISTORY_BATCH_MESSAGE)
        ot = self.portal.object_type(req.args[0])
        found, missing = self.portal.batch_read(
            req.args[0],
            ids,
            properties=props or None,
            archived=as_bool(req.param("archived") or "false"),
            history=[str(h) for h in history] if history else None,
        )
        errors = []
        if missing:
            message = (
                f"Could not get some {ot.singular.upper()} objects, they may be deleted or not exist. "
                "Check that ids are valid."
            )
            errors = [_error_item(message, missing)]
        return _batch_response(req, found, errors)

    def _properties(self, req: Request) -> Response:
        archived = as_bool(req.param("archived") or "false")
        return _json(200, {"results": self.portal.list_properties(req.args[0], archived=archived)})

    def _schemas(self, req: Request) -> Response:
        return _json(200, {"results": self.portal.list_schemas()})

    def _schema(self, req: Request) -> Response:
        return _json(200, self.portal.get_schema(req.args[0]))

    def _pipelines(self, req: Request) -> Response:
        archived = as_bool(req.param("archived") or "false")
        return _json(200, {"results": self.portal.list_pipelines(req.args[0], archived=archived)})

    def _owners(self, req: Request) -> Response:
        limit = self._limit(req.param("limit"), 100, self.config.owners_max_limit, "owners")
        results, next_id = self.portal.list_owners(
            limit=limit,
            after_id=self._cursor(req.param("after")),
            archived=as_bool(req.param("archived") or "false"),
            email=req.param("email"),
        )
        payload: dict[str, Any] = {"results": results}
        if next_id is not None:
            payload["paging"] = self._paging(req, encode_cursor(next_id))
        return _json(200, payload)

    def _assoc_batch_read(self, req: Request) -> Response:
        body = req.json()
        inputs = _batch_inputs(body, self.config.association_batch_max_inputs, "{id, after?}")
        for i, item in enumerate(inputs):
            if not isinstance(item, dict) or "id" not in item:
                raise _validation(f"inputs[{i}] must be an object with an id")
        from_type, to_type = req.args
        results, missing = self.portal.association_batch_read(
            from_type, to_type, inputs, page_size=max(1, int(self.config.association_page_size))
        )
        singular = self.portal.object_type(from_type).singular
        errors = [
            _error_item(
                f"Could not find {singular} {mid}",
                [mid],
                id=str(mid),
                subCategory={"name": "crm.associations.OBJECT_NOT_FOUND"},
            )
            for mid in missing
        ]
        return _batch_response(req, results, errors)

    def _account(self, req: Request) -> Response:
        return _json(200, self.portal.account_details())

    def _library(self, req: Request) -> Response:
        return _json(200, {"enablementByObjectTypeId": self.portal.library_enablement()})

    def _library_one(self, req: Request) -> Response:
        enablement = self.portal.library_enablement()
        if req.args[0] not in enablement:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"{req.args[0]} is not an object-library object type")
        return _json(200, {"enablement": enablement[req.args[0]]})

    def _assoc_labels(self, req: Request) -> Response:
        return _json(200, {"results": self.portal.association_labels(req.args[0], req.args[1])})

    # ----------------------------------------------------------------- admin
    def _build_admin_routes(self) -> list[Route]:
        from .admin import admin_routes

        return [*admin_routes(self), *self.exports.admin_routes()]

    def _handle_admin(self, method: str, target: str, headers: Any, body: bytes) -> Response:
        raw_path, _, query = target.partition("?")
        path = unquote(raw_path).rstrip("/")
        route, args, mismatch = self._match(self._admin_routes, method, path)
        if route is None:
            status = 405 if mismatch else 404
            return _json(status, {"status": "error", "message": f"No admin route {method} {path}"})
        req = Request(method, path, parse_qs(query, keep_blank_values=True), headers, body, args)
        try:
            return route.handler(req)
        except PortalError as err:
            return _json(err.status, error_body(err.message, err.category, err.context))
        except (ValueError, TypeError, KeyError) as err:
            return _json(400, error_body(str(err), "VALIDATION_ERROR"))
