"""The lease protocol, shared by every dialect: run leases and object locks.

A **run lease** (``_hubspot_run_leases``) keeps two DAG runs of one object from interleaving:
one row per object naming the run that holds it until ``expires_at``; the holder renews it,
an expired lease is taken over. An **object lock** serialises the steps of one object for the
length of a ``with`` block: the dialect's session lock where it has one (PostgreSQL advisory
locks, released by the server when the session dies), else a lease row in ``_hubspot_locks``
renewed by a thread while held.
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments;
# values are always bound parameters or bulk-load data.
# ruff: noqa: S608

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot_etl.warehouse.base import WarehouseLockError
from hubspot_etl.warehouse.dialect import Dialect, P, Session, Upsert
from hubspot_etl.warehouse.tables import LOCKS, RUN_LEASES, TEXT

log = logging.getLogger(__name__)


class Leases:
    """Run leases and object locks over a dialect (mixed into the warehouse core)."""

    d: Dialect
    #: Lease length of an object lock row; a holder renews it every third of that.
    lock_ttl_s: float = 600.0
    #: Poll interval while waiting for an object lock.
    lock_poll_s: float = 0.5

    def _claim(self, s: Session, table: str, holder_column: str, key: str, holder: str, ttl_ms: int) -> int:
        """Insert the lease row, renew it when ``holder`` has it, or take it over once expired."""
        q, now = self.d.quote, self.d.now
        source, params = self.d.values_source(
            [("object_name", TEXT), (holder_column, TEXT)], {"object_name": key, holder_column: holder}
        )
        expires = self.d.add_ms(now, "ttl")
        spec = Upsert(
            table,
            ("object_name",),
            source,
            insert={
                "object_name": f"S.{q('object_name')}",
                holder_column: f"S.{q(holder_column)}",
                "acquired_at": now,
                "expires_at": expires,
            },
            update={
                "acquired_at": f"CASE WHEN T.{q(holder_column)} = S.{q(holder_column)} THEN T.acquired_at ELSE {now} END",
                holder_column: f"S.{q(holder_column)}",
                "expires_at": expires,
            },
            when=f"T.{q(holder_column)} = S.{q(holder_column)} OR T.expires_at < {now}",
            params={**params, "ttl": P(ttl_ms, "bigint")},
        )
        return self.d.upsert(s, spec)

    def _holders(self, s: Session, table: str, holder_column: str, key: str) -> list[dict[str, Any]]:
        return s.execute(
            f"SELECT {self.d.quote(holder_column)} AS holder, acquired_at, expires_at FROM {self.d.table(table)} "
            f"WHERE object_name = @o ORDER BY acquired_at, {self.d.quote(holder_column)}",
            {"o": key},
        ).rows

    # ------------------------------------------------------------------ run leases
    def acquire_run_lease(self, object_name: str, run_id: str, ttl: timedelta) -> None:
        """Claim ``object_name`` for one DAG run, or renew this run's claim, for ``ttl``.

        A lease held by another run that has not expired raises :class:`WarehouseLockError`
        naming that run; an expired one (a run that died without releasing) is taken over.
        """
        with self.d.session() as s:
            self._claim(s, RUN_LEASES.name, "run_id", object_name, run_id, int(ttl.total_seconds() * 1000))
            self._check_lease(s, object_name, run_id)

    def check_run_lease(self, object_name: str, run_id: str) -> None:
        """Raise :class:`WarehouseLockError` unless ``run_id`` holds the object's lease."""
        with self.d.session() as s:
            self._check_lease(s, object_name, run_id)

    def _check_lease(self, s: Session, object_name: str, run_id: str) -> None:
        rows = self._holders(s, RUN_LEASES.name, "run_id", object_name)
        if rows and rows[0]["holder"] == run_id:
            return
        where = self.d.where
        if not rows:
            raise WarehouseLockError(
                f"run {run_id!r} no longer holds the sync lease of {object_name!r} in {where} "
                "(it expired and was released); run the DAG run again"
            )
        holder = rows[0]
        raise WarehouseLockError(
            f"another sync of {object_name!r} is running in {where}: run {holder['holder']!r} holds "
            f"the lease since {holder['acquired_at']:%Y-%m-%d %H:%M:%S} UTC (expires "
            f"{holder['expires_at']:%Y-%m-%d %H:%M:%S} UTC); run {run_id!r} will not interleave with it: "
            "retry when it has finished"
        )

    def release_run_lease(self, object_name: str, run_id: str) -> None:
        """Give the object's lease back (only if ``run_id`` holds it)."""
        with self.d.session() as s:
            s.execute(
                f"DELETE FROM {self.d.table(RUN_LEASES.name)} WHERE object_name = @o AND run_id = @r",
                {"o": object_name, "r": run_id},
            )

    # ------------------------------------------------------------------ object locks
    @contextmanager
    def object_lock(
        self, object_name: str, wait: bool = True, timeout_s: float | None = None
    ) -> Iterator[None]:
        """Exclusive per-object lock for the ``with`` block; raises :class:`WarehouseLockError`."""
        held = self.d.session_lock(f"sync:{object_name}", wait, timeout_s)
        if held is None:
            with self._lease_lock(object_name, wait, timeout_s):
                yield
            return
        with ExitStack() as stack:
            try:  # only the acquisition: a TimeoutError of the caller's block is not ours
                stack.enter_context(held)
            except TimeoutError as exc:
                raise self._lock_error(object_name, str(exc)) from exc
            yield

    @contextmanager
    def _lease_lock(self, object_name: str, wait: bool, timeout_s: float | None) -> Iterator[None]:
        owner = uuid.uuid4().hex
        started = time.monotonic()
        while (holder := self._try_lock(object_name, owner)) is not None:
            waited = time.monotonic() - started
            if not wait or (timeout_s is not None and waited >= timeout_s):
                how = "not waiting" if not wait else f"gave up after {waited:.1f}s"
                raise self._lock_error(
                    object_name, f"owner {holder[0]}, lease until {holder[1]:%Y-%m-%dT%H:%M:%SZ}; {how}"
                )
            time.sleep(self.lock_poll_s)
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(object_name, owner, stop), name="lock-renew", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            with self.d.session() as s:
                s.execute(
                    f"DELETE FROM {self.d.table(LOCKS.name)} WHERE object_name = @o AND owner = @w",
                    {"o": object_name, "w": owner},
                )

    def _try_lock(self, object_name: str, owner: str) -> tuple[str, datetime] | None:
        """None when ``owner`` now holds the lock, else ``(holder, expires_at)``."""
        with self.d.session() as s:
            # only an expired row is taken over: the owner ids differ, so "renew" never matches
            self._claim(s, LOCKS.name, "owner", object_name, owner, int(self.lock_ttl_s * 1000))
            rows = self._holders(s, LOCKS.name, "owner", object_name)
            if rows and rows[0]["holder"] == owner:
                return None
            if any(r["holder"] == owner for r in rows):  # lost a race that left two rows: back off
                s.execute(
                    f"DELETE FROM {self.d.table(LOCKS.name)} WHERE object_name = @o AND owner = @w",
                    {"o": object_name, "w": owner},
                )
        if not rows:  # pragma: no cover - the row vanished between the statements
            return ("unknown", datetime.now(UTC))
        return (rows[0]["holder"], rows[0]["expires_at"])

    def _renew(self, object_name: str, owner: str, stop: threading.Event) -> None:
        while not stop.wait(self.lock_ttl_s / 3):
            try:
                with self.d.session() as s:
                    s.execute(
                        f"UPDATE {self.d.table(LOCKS.name)} SET expires_at = {self.d.add_ms(self.d.now, 'ttl')} "
                        "WHERE object_name = @o AND owner = @w",
                        {"o": object_name, "w": owner, "ttl": P(int(self.lock_ttl_s * 1000), "bigint")},
                    )
            except Exception:  # pragma: no cover - the next renewal tries again
                log.warning("could not renew the lock of %r", object_name, exc_info=True)

    def _lock_error(self, object_name: str, how: str) -> WarehouseLockError:
        return WarehouseLockError(
            f"another sync of {object_name!r} holds the lock in {self.d.where} ({how}); "
            "wait for it to finish or retry later"
        )
