"""Fixtures for the sandbox tests: fresh in-process servers over real HTTP (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot_sandbox import Portal, SandboxServer
from sandbox_helpers import Api, open_config


@pytest.fixture
def demo_srv() -> Iterator[SandboxServer]:
    with SandboxServer(Portal.demo(), open_config()) as srv:
        yield srv


@pytest.fixture
def api(demo_srv: SandboxServer) -> Api:
    return Api(demo_srv)
