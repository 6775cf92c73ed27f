"""Choosing a run's mode and time window. Pure functions: no I/O, easy to test.

Modes:
- ``full``: list every record (first run, ``full_load`` param, or the full-refresh cron
  ticked since the last full load). Reconciles deletes and merges over the whole table.
- ``incremental``: search records modified in ``[min(watermark, interval_start) - lookback,
  interval_end)`` and batch-read them.
- ``backfill``: a run created by ``airflow backfill create``: exactly its data interval,
  no lookback, and the watermark never moves backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

FULL = "full"
INCREMENTAL = "incremental"
BACKFILL = "backfill"


@dataclass(frozen=True)
class Window:
    mode: str
    start: datetime | None
    end: datetime
    reason: str


def parse_datetime(value: str | datetime | None) -> datetime | None:
    """Parse an ISO-8601 string (``Z`` allowed); naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def full_refresh_due(cron: str | None, last_full_load_at: datetime | None, now: datetime) -> bool:
    """True when the full-refresh cron has a tick in ``(last_full_load_at, now]``."""
    if not cron or last_full_load_at is None:
        return False
    from croniter import croniter

    next_tick = croniter(cron, last_full_load_at).get_next(datetime)
    return next_tick <= now


#: ``association_refresh`` values that are not cron expressions, and the aliases
EVERY_RUN, FULL_ONLY = "every_run", "full_only"
REFRESH_ALIASES = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0"}


def association_refresh_due(setting: str, last_run_at: datetime | None, now: datetime) -> bool:
    """Does an incremental run refresh the associations of every live record?

    ``every_run`` always; ``full_only`` never (full runs refresh every record's anyway); a
    cron expression (or ``hourly``/``daily``/``weekly``) when it ticked since the last run
    (the previous watermark), so a failed run leaves the refresh due for the next.
    """
    if setting == EVERY_RUN:
        return True
    if setting == FULL_ONLY:
        return False
    if last_run_at is None:
        return True
    from croniter import croniter

    cron = REFRESH_ALIASES.get(setting, setting)
    return croniter(cron, last_run_at).get_next(datetime) <= now


def deletes_check_due(setting: str, last_checked_at: datetime | None, now: datetime) -> bool:
    """Does an incremental run list the archived records (``deletes_check``)?

    The archived listing has no time filter, so it costs ``ceil(archived / 100)`` calls
    whatever changed; deletes are found exactly when it runs. Same settings as
    :func:`association_refresh_due`, counted from the last listing (kept in the sync state),
    so a run that fails before its check leaves it due, and a first run checks.
    """
    return association_refresh_due(setting, last_checked_at, now)


def choose_window(
    *,
    now: datetime,
    run_type: str,
    interval_start: datetime | None,
    interval_end: datetime | None,
    watermark: datetime | None,
    last_full_load_at: datetime | None,
    full_load_param: bool,
    since_param: datetime | None,
    lookback: timedelta,
    full_refresh_cron: str | None,
) -> Window:
    """Pick the mode and window for one run (see the module docstring)."""
    end = interval_end or now
    if end > now:
        end = now
    if full_load_param:
        return Window(FULL, None, now, "full_load param")
    if run_type == "backfill" and interval_start is not None and interval_end is not None:
        return Window(BACKFILL, interval_start, interval_end, "backfill run: exactly its data interval")
    if since_param is not None:
        return Window(INCREMENTAL, since_param, end, "since param")
    if watermark is None:
        return Window(FULL, None, now, "first run: no watermark")
    if full_refresh_due(full_refresh_cron, last_full_load_at, now):
        return Window(FULL, None, now, f"full refresh schedule {full_refresh_cron!r} is due")
    start = min(watermark, interval_start) if interval_start is not None else watermark
    return Window(INCREMENTAL, start - lookback, end, "incremental from watermark")


def next_watermark(
    window: Window, old: datetime | None, extract_started_at: datetime, complete: bool
) -> datetime | None:
    """The watermark after a successful run; never moves backwards, never past unloaded data.

    A full run lists the portal as of its start, so changes during the run are picked up
    by the next incremental window. A run cut short by ``limit`` keeps the old watermark.
    """
    if not complete:
        return old
    candidate = extract_started_at if window.mode == FULL else window.end
    if old is not None and old > candidate:
        return old
    return candidate
