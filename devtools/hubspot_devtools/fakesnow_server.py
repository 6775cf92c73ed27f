"""The process behind :mod:`hubspot_devtools.snowflake_emulator`: fakesnow's HTTP server, twice.

Run as a script by the interpreter of the fakesnow virtualenv (``.local/fakesnow-venv``, made
by ``scripts/bootstrap.sh``), never imported by the main one: fakesnow needs DuckDB 2.0, the
main venv's BigQuery emulator DuckDB 1.5. It imports nothing from this repository.

One fakesnow app (one set of in-memory databases) is served on two ports of one event loop:

- ``--port``: plain HTTP, for ``snowflake.connector.connect(protocol="http", ...)``;
- ``--tls-port``: HTTPS with the given certificate, for clients that cannot be told the
  protocol, such as the Airflow provider's ``SnowflakeHook`` (it passes ``host`` and
  ``port`` from the connection's extras to the connector, never ``protocol``).

``--db-path DIR`` keeps each database in ``DIR/<DATABASE>.db`` (fakesnow's own CLI ignores
``-d`` in server mode). Stage files go to fakesnow's bucket under ``$TMPDIR``.

Two changes to fakesnow's behaviour as a server:

- a statement fakesnow cannot run (its "Unhandled exception", logged with the traceback) is
  answered with HTTP 200 and ``success: false`` instead of HTTP 500, so the connector raises
  ``ProgrammingError`` (errno 261000) at once instead of retrying until its network timeout;
- ``--parent-pid``: the server exits when that process is gone (a killed test run leaves no
  emulator behind).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

QUERY_PATH = "/queries/v1/query-request"


class FailFast:
    """ASGI wrapper: a query answered with HTTP 500 is sent as HTTP 200 (the body already says
    ``success: false``), which the connector turns into an error instead of a retry."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != QUERY_PATH:
            await self.app(scope, receive, send)
            return

        async def send_ok(message: dict) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 500:
                message = {**message, "status": 200}
            await send(message)

        await self.app(scope, receive, send_ok)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--db-path")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)

    import fakesnow.server
    import fakesnow_fixes  # beside this script, on sys.path when it runs
    import uvicorn
    from fakesnow.instance import FakeSnow

    fakesnow_fixes.apply()

    if args.db_path:
        # login_request reads the module global at each login
        fakesnow.server.shared_fs = FakeSnow(db_path=args.db_path)
    logging.getLogger("fakesnow.server").setLevel(args.log_level.upper())

    class _Server(uvicorn.Server):
        # two servers share the loop: the signal handlers below stop both
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[override]
            yield

    # a client's keep-alive connection must not hold up a stop
    common = {"host": args.host, "log_level": args.log_level, "timeout_graceful_shutdown": 2}
    app = FailFast(fakesnow.server.app)
    configs = [uvicorn.Config(app, port=args.port, **common)]
    if args.tls_port:
        configs.append(
            uvicorn.Config(
                app,
                port=args.tls_port,
                ssl_certfile=args.certfile,
                ssl_keyfile=args.keyfile,
                **common,
            )
        )
    servers = [_Server(config) for config in configs]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    async def watch_parent(pid: int) -> None:
        while True:
            await asyncio.sleep(1)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                stop()
                return

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        if args.parent_pid:
            watcher = asyncio.create_task(watch_parent(args.parent_pid))  # noqa: F841 (kept alive)
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # one server failing to start (port taken) ends the other too
        stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(serve())
    return 0 if all(server.started for server in servers) else 1


if __name__ == "__main__":
    sys.exit(main())
