"""The trigger an export run's extract task waits on: polls a HubSpot export until it ends.

It runs in Airflow's triggerer, so the extract task holds no worker (and no pool) slot while
HubSpot builds the export. Its kwargs, which Airflow stores in the metadata database, are the
Airflow connection id, the export id, the poll interval and the deadline: never the token (the
triggerer builds its own hook from the connection id) and never the download URL (a signed URL
is a credential; the resumed task reads it again from the export's status).

The event's payload is ``{"export_id", "state", "message", "polls"}``: ``state`` is HubSpot's
(``COMPLETE``, or a terminal failure such as ``CANCELED``), or ``TIMEOUT`` or ``ERROR`` (the
status could not be read, after the hook's retries); ``polls`` counts the status calls made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook

#: the event state of an export not finished by its deadline / whose status could not be read
TIMEOUT, ERROR = "TIMEOUT", "ERROR"


class HubSpotExportTrigger(BaseTrigger):
    """Poll ``export_status`` every ``poll_interval_s`` until the export ends or ``deadline``
    (epoch seconds, so a triggerer restart does not restart the clock) passes."""

    def __init__(self, hubspot_conn_id: str, export_id: str, poll_interval_s: float, deadline: float) -> None:
        super().__init__()
        self.hubspot_conn_id = hubspot_conn_id
        self.export_id = str(export_id)
        self.poll_interval_s = float(poll_interval_s)
        self.deadline = float(deadline)
        self._hook: HubSpotHook | None = None
        self._polls = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "hubspot_conn_id": self.hubspot_conn_id,
                "export_id": self.export_id,
                "poll_interval_s": self.poll_interval_s,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            while True:
                try:
                    status = await asyncio.to_thread(self._status)
                except Exception as exc:  # noqa: BLE001 - the task fails with this message
                    yield self._event(ERROR, _describe(exc))
                    return
                if status.done or status.failed:
                    yield self._event(status.state, status.message)
                    return
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    yield self._event(TIMEOUT, f"still {status.state} at the deadline")
                    return
                await asyncio.sleep(min(self.poll_interval_s, remaining))
        finally:
            if self._hook is not None:
                self._hook.close()

    def _status(self) -> Any:
        """One status read through the hook (its retries and pacing), in a worker thread."""
        from hubspot_etl.hooks.exports import export_status
        from hubspot_etl.hooks.hubspot import HubSpotHook

        if self._hook is None:
            self._hook = HubSpotHook(hubspot_conn_id=self.hubspot_conn_id)
        self._polls += 1
        return export_status(self._hook, self.export_id)

    def _event(self, state: str, message: str | None) -> TriggerEvent:
        return TriggerEvent(
            {"export_id": self.export_id, "state": state, "message": message, "polls": self._polls}
        )


def _describe(exc: Exception) -> str:
    from hubspot_etl.hooks.errors import redact

    return redact(f"{type(exc).__name__}: {exc}")
