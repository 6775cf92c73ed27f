"""Fixtures of the deployment tests: ``make bundle``'s output, built once per session."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot_devtools.bundle import build_bundles


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The manifest of a fresh ``make bundle`` (its ``out`` is the dist folder)."""
    out = tmp_path_factory.mktemp("dist")
    manifest = build_bundles(out)
    manifest["out"] = out
    return manifest
