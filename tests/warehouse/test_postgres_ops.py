"""PostgresWarehouse: what only PostgreSQL has: advisory locks, the Airflow PostgresHook path and
the session liveness settings.

Deletes, associations, pipelines, owners, state, reports and the object-lock contract run on
every destination: tests/contract/test_ops.py.
"""

from __future__ import annotations

import threading
import time
import urllib.parse

import psycopg
import pytest
from hubspot_etl.warehouse import WarehouseLockError, get_warehouse
from hubspot_etl.warehouse.postgres import PostgresWarehouse

from tests.support.records import prop, record


def advisory_locks(pg_uri: str) -> int:
    """Advisory locks granted on the server right now."""
    with psycopg.connect(pg_uri) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").fetchone()
    return row[0] if row else 0


def test_advisory_lock(wh: PostgresWarehouse, pg_uri: str) -> None:
    before = advisory_locks(pg_uri)
    with wh.object_lock("contacts"):
        assert advisory_locks(pg_uri) == before + 1  # a session lock on the server, no lease row
        with pytest.raises(WarehouseLockError, match="another sync of 'contacts' holds the lock"):
            with wh.object_lock("contacts", wait=False):
                pass
        with pytest.raises(WarehouseLockError):
            with wh.object_lock("contacts", timeout_s=0.2):
                pass
        with wh.object_lock("companies", wait=False):  # other objects are independent
            pass
    assert advisory_locks(pg_uri) == before
    with wh.object_lock("contacts", wait=False):  # released
        pass


def test_advisory_lock_waits_for_release(wh: PostgresWarehouse) -> None:
    acquired = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with wh.object_lock("deals"):
            acquired.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    acquired.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with wh.object_lock("deals", timeout_s=5):
        waited = time.monotonic() - started
    thread.join()
    assert waited >= 0.2


def test_postgres_hook_path_via_env_connection(
    pg_uri: str, schema_name: str, monkeypatch: pytest.MonkeyPatch, write_part
) -> None:
    socket_dir = urllib.parse.parse_qs(urllib.parse.urlparse(pg_uri).query)["host"][0]
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE_TEST",
        f"postgresql://postgres@/postgres?host={urllib.parse.quote(socket_dir, safe='')}",
    )

    from hubspot_etl.config import Destination

    wh = get_warehouse(Destination.model_validate({"conn_id": "warehouse_test", "schema": schema_name}))
    assert isinstance(wh, PostgresWarehouse) and wh.postgres_conn_id == "warehouse_test"
    wh.ensure_schema()
    wh.ensure_object_table("contacts", [prop("email")])
    assert wh.load_part("contacts", "hook", write_part([record(1, email="via hook")])).rows == 1
    assert wh.live_ids("contacts") == {1}


def test_sessions_detect_vanished_clients(wh):
    """A worker host that disappears must not hold its locks until the OS gives up on TCP."""
    with wh.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                [["tcp_keepalives_idle", "client_connection_check_interval"]],
            ).fetchall()
        )
    # keepalives only take effect on TCP (the test server uses a Unix socket: 0 there)
    assert settings["client_connection_check_interval"] == "10000"
    assert "tcp_keepalives_idle" in settings


def test_timeout_inside_the_lock_is_the_callers_error(wh: PostgresWarehouse) -> None:
    """Only a lock that cannot be taken is a lock error: a timeout of the locked block passes as it is."""
    with pytest.raises(TimeoutError, match="socket read"):
        with wh.object_lock("contacts"):
            raise TimeoutError("socket read")
    with wh.object_lock("contacts", wait=False):  # released
        pass
