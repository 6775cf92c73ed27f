"""Mode and window selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hubspot_etl.sync.plan import BACKFILL, FULL, INCREMENTAL, choose_window, full_refresh_due, next_watermark

UTC = UTC
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def window(**overrides):
    args = dict(
        now=NOW,
        run_type="scheduled",
        interval_start=datetime(2026, 3, 10, 11, tzinfo=UTC),
        interval_end=datetime(2026, 3, 10, 12, tzinfo=UTC),
        watermark=datetime(2026, 3, 10, 11, 30, tzinfo=UTC),
        last_full_load_at=datetime(2026, 3, 9, tzinfo=UTC),
        full_load_param=False,
        since_param=None,
        lookback=timedelta(minutes=15),
        full_refresh_cron="0 3 * * 0",
    )
    args.update(overrides)
    return choose_window(**args)


def test_first_run_is_full():
    assert window(watermark=None, last_full_load_at=None).mode == FULL


def test_incremental_window_starts_at_the_earlier_of_watermark_and_interval_minus_lookback():
    w = window()
    assert w.mode == INCREMENTAL
    assert w.start == datetime(2026, 3, 10, 10, 45, tzinfo=UTC)
    assert w.end == datetime(2026, 3, 10, 12, tzinfo=UTC)
    late = window(watermark=datetime(2026, 3, 10, 9, tzinfo=UTC))
    assert late.start == datetime(2026, 3, 10, 8, 45, tzinfo=UTC)


def test_full_load_param_and_due_full_refresh_force_full():
    assert window(full_load_param=True).mode == FULL
    # a Sunday 03:00 tick lies between the last full load (Mar 1) and now (Mar 10)
    assert window(last_full_load_at=datetime(2026, 3, 1, 12, tzinfo=UTC)).mode == FULL
    assert full_refresh_due("0 3 * * 0", datetime(2026, 3, 9, tzinfo=UTC), NOW) is False


def test_backfill_uses_exactly_its_interval():
    w = window(run_type="backfill")
    assert (w.mode, w.start, w.end) == (
        BACKFILL,
        datetime(2026, 3, 10, 11, tzinfo=UTC),
        datetime(2026, 3, 10, 12, tzinfo=UTC),
    )


def test_since_param_and_runs_without_interval():
    since = datetime(2026, 2, 1, tzinfo=UTC)
    w = window(since_param=since)
    assert (w.mode, w.start) == (INCREMENTAL, since)
    manual = window(interval_start=None, interval_end=None)
    assert (
        manual.mode == INCREMENTAL
        and manual.end == NOW
        and manual.start == datetime(2026, 3, 10, 11, 15, tzinfo=UTC)
    )


def test_watermark_never_moves_backwards_nor_past_unloaded_data():
    old = datetime(2026, 3, 10, 12, tzinfo=UTC)
    backfill = window(run_type="backfill")
    assert next_watermark(backfill, old, NOW, complete=True) == old
    inc = window()
    assert next_watermark(inc, datetime(2026, 3, 10, 11, tzinfo=UTC), NOW, complete=True) == inc.end
    assert next_watermark(inc, old, NOW, complete=False) == old
    full = window(full_load_param=True)
    started = datetime(2026, 3, 10, 12, 29, tzinfo=UTC)
    assert next_watermark(full, None, started, complete=True) == started
