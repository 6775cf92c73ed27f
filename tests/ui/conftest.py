"""UI tests reuse the end-to-end fixtures (sandbox over HTTP, real DAG runs)."""

from tests.e2e.conftest import sandbox_config, sync_env, warehouse_kind  # noqa: F401
