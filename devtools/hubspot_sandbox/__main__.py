"""Command line for the HubSpot sandbox.

Examples::

    python -m hubspot_sandbox serve --port 8090 --generate "contacts=1000,companies=200" --seed 1
    python -m hubspot_sandbox serve --fixture my_portal.json --token my-token --latency-ms 50
    python -m hubspot_sandbox serve            # the bundled demo portal
    python -m hubspot_sandbox generate --out portal.json --generate "contacts=50,deals=10" --seed 3

``serve`` runs until interrupted (Ctrl-C) and prints the base URL and token on start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .catalog import ALL_SCOPES
from .config import SandboxConfig
from .generator import generate_portal
from .portal import Portal
from .server import SandboxServer

FAMILY_KEYS = (
    "calls",
    "emails",
    "meetings",
    "notes",
    "tasks",
    "communications",
    "products",
    "line_items",
    "quotes",
    "invoices",
    "leads",
    "goals",
)
#: object-library objects: a size activates the object (``hubspot_services`` is HubSpot's 0-162,
#: ``custom`` the generated custom object named services)
LIBRARY_KEYS = {
    "hubspot_services": "services",
    "appointments": "appointments",
    "courses": "courses",
    "listings": "listings",
}
SIZE_KEYS = (
    "contacts",
    "companies",
    "deals",
    "tickets",
    "custom",
    "extra_properties",
    "owners",
    "portal_id",
    *FAMILY_KEYS,
    *LIBRARY_KEYS,
)


def parse_sizes(spec: str) -> dict[str, int]:
    """Parse ``"contacts=1000,companies=200"`` into generator keyword arguments."""
    sizes: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in SIZE_KEYS:
            raise argparse.ArgumentTypeError(f"bad --generate item {part!r}; keys: {', '.join(SIZE_KEYS)}")
        try:
            sizes[key] = int(value.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad number in --generate item {part!r}") from None
    return sizes


def _portal(args: argparse.Namespace) -> Portal:
    if args.fixture:
        return Portal.from_fixture(args.fixture)
    if args.generate is not None:
        sizes = {k: v for k, v in args.generate.items() if k not in LIBRARY_KEYS}
        library = {LIBRARY_KEYS[k]: v for k, v in args.generate.items() if k in LIBRARY_KEYS}
        return generate_portal(seed=args.seed, object_library=library or None, **sizes)
    return Portal.demo()


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--fixture", help="JSON fixture file (see docs/sandbox.md)")
    source.add_argument(
        "--generate",
        type=parse_sizes,
        help='generate a portal, e.g. "contacts=1000,companies=200,extra_properties=20"',
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")


def _config(args: argparse.Namespace) -> SandboxConfig:
    tokens = {t: list(ALL_SCOPES) for t in (args.token or ["sandbox-token"])}
    return SandboxConfig(
        tokens=tokens,
        rate_limit_max=args.rate_limit or None,
        rate_limit_interval_ms=args.rate_limit_interval_ms,
        search_per_second=args.search_per_second or None,
        latency_ms=args.latency_ms,
        fault_5xx_rate=args.fault_5xx_rate,
        fault_429_rate=args.fault_429_rate,
        drop_connection_rate=args.drop_connection_rate,
        truncate_body_rate=args.truncate_body_rate,
        search_index_lag_s=args.search_index_lag_s,
        max_url_length=args.max_url_length or None,
        seed=args.fault_seed,
        association_page_size=args.association_page_size,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hubspot_sandbox", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HubSpot-compatible HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    _add_source_args(serve)
    serve.add_argument("--token", action="append", help="accepted bearer token (repeatable; all scopes)")
    serve.add_argument("--rate-limit", type=int, default=190, help="requests per window (0 disables)")
    serve.add_argument("--rate-limit-interval-ms", type=int, default=10_000)
    serve.add_argument("--search-per-second", type=int, default=5, help="0 disables")
    serve.add_argument("--latency-ms", type=int, default=0)
    serve.add_argument("--fault-5xx-rate", type=float, default=0.0)
    serve.add_argument("--fault-429-rate", type=float, default=0.0)
    serve.add_argument("--drop-connection-rate", type=float, default=0.0)
    serve.add_argument("--truncate-body-rate", type=float, default=0.0)
    serve.add_argument("--search-index-lag-s", type=float, default=0.0)
    serve.add_argument("--max-url-length", type=int, default=16_000, help="0 disables the 414 check")
    serve.add_argument("--association-page-size", type=int, default=500)
    serve.add_argument("--fault-seed", type=int, default=0, help="seed of the fault-injection RNG")

    gen = sub.add_parser("generate", help="write a portal fixture file")
    gen.add_argument("--out", required=True, help="output JSON path ('-' for stdout)")
    _add_source_args(gen)
    return parser


def _serve(args: argparse.Namespace) -> int:
    portal = _portal(args)
    server = SandboxServer(portal, _config(args), host=args.host, port=args.port).start()
    tokens = ", ".join(server.config.tokens)
    print(
        f"HubSpot sandbox listening on {server.url} (portal {portal.portal_id}; token(s): {tokens})",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _generate(args: argparse.Namespace) -> int:
    data: dict[str, Any] = _portal(args).to_dict()
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _serve(args) if args.command == "serve" else _generate(args)


if __name__ == "__main__":
    sys.exit(main())
