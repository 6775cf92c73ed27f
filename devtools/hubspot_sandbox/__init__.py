"""Local HubSpot CRM sandbox: a seeded/hand-written portal served over HTTP like HubSpot.

Public API::

    from hubspot_sandbox import Portal, SandboxConfig, SandboxServer, generate_portal, ALL_SCOPES

    portal = Portal.from_fixture("portal.json")          # or Portal.from_dict(...), Portal.demo()
    portal = generate_portal(seed=1, contacts=1000)       # deterministic synthetic portal
    portal = generate_portal(seed=1, calls=50, line_items=20, object_library={"listings": 5})
    with SandboxServer(portal, SandboxConfig()) as srv:   # srv.url -> "http://127.0.0.1:PORT"
        ...

See docs/sandbox.md for the fixture format, endpoints, knobs and the ``/_sandbox`` admin API.
"""

from __future__ import annotations

from ._util import FixtureError, PortalError
from .catalog import ALL_SCOPES
from .config import SandboxConfig
from .generator import DEMO_SIZES, generate_portal
from .history import Source
from .portal import Portal
from .server import SandboxServer

__all__ = [
    "ALL_SCOPES",
    "DEMO_SIZES",
    "Source",
    "FixtureError",
    "Portal",
    "PortalError",
    "SandboxConfig",
    "SandboxServer",
    "generate_portal",
]
