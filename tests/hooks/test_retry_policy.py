"""The retry policy on its own: what is retried, how long it waits, what is raised at the end.

No HTTP: failures are built directly and the tenacity controller drives a scripted function
with a recording ``sleep``. ``test_hook_transport.py`` covers the same decisions over sockets.
"""

from __future__ import annotations

import json
import logging

import pytest
from hubspot_etl.hooks import errors as err
from hubspot_etl.hooks.retry_policy import HubSpotWait, RetryableFailure, failure_for_status, retrying
from hubspot_etl.hooks.settings import HubSpotSettings
from hubspot_etl.hooks.stats import HubSpotStats
from tenacity import RetryCallState

SETTINGS = HubSpotSettings(
    token="pat-na1-policy-secret-0003",
    backoff_base_s=0.5,
    backoff_max_s=3.0,
    rate_limit_backoff_s=None,
    rate_limit_interval_ms=10_000,
    search_backoff_s=1.0,
    locked_backoff_s=2.0,
    max_retry_after_s=300.0,
)


def failure(status: int | None = 503, wait_s: float | None = None) -> RetryableFailure:
    final = err.HubSpotServerError("server error", endpoint="owners", status=status)
    return RetryableFailure("http_5xx", f"server returned {status}", status, final, wait_s)


def state_after(attempt: int, exc: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def rate_limited(body: dict, headers: dict | None = None, search: bool = False):
    return failure_for_status(SETTINGS, "owners", 429, json.dumps(body), headers or {}, search)


# ---------------------------------------------------------------- waits
def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    wait = HubSpotWait(SETTINGS)
    for attempt, raw in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        seen = [wait(state_after(attempt, failure())) for _ in range(200)]
        assert all(raw * 0.5 <= s < raw for s in seen), (attempt, min(seen), max(seen))
        assert max(seen) - min(seen) > raw * 0.2  # jittered, not fixed


def test_a_wait_the_failure_asks_for_wins_and_423_waits_at_least_the_lock_time() -> None:
    wait = HubSpotWait(SETTINGS)
    assert wait(state_after(5, failure(429, wait_s=7.5))) == 7.5
    assert all(wait(state_after(n, failure(423))) == 2.0 for n in (1, 6))


def test_429_waits_follow_retry_after_then_the_policy() -> None:
    after = rate_limited({"policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "1.5"})
    assert isinstance(after, RetryableFailure) and after.wait_s == 1.5 and after.reason == "http_429"
    rolling = rate_limited({"policyName": "TEN_SECONDLY_ROLLING"})
    assert isinstance(rolling, RetryableFailure) and 10.0 <= rolling.wait_s < 12.5
    for body, search in [({"policyName": "SECONDLY"}, False), ({}, True)]:
        secondly = rate_limited(body, search=search)
        assert isinstance(secondly, RetryableFailure) and 1.0 <= secondly.wait_s < 1.25
    assert isinstance(rolling.final, err.HubSpotRateLimitExhausted)
    assert "TEN_SECONDLY_ROLLING" in str(rolling.final) and "after 8 retries" in str(rolling.final)


def test_429s_that_waiting_cannot_help_fail_at_once() -> None:
    daily = rate_limited({"policyName": "DAILY", "correlationId": "c-9"})
    assert isinstance(daily, err.HubSpotRateLimitExhausted) and "daily" in str(daily) and "c-9" in str(daily)
    too_long = rate_limited({"policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "301"})
    assert isinstance(too_long, err.HubSpotRateLimitExhausted) and "max_retry_after_s" in str(too_long)


@pytest.mark.parametrize(
    ("status", "retried", "cls"),
    [
        (500, True, err.HubSpotServerError),
        (503, True, err.HubSpotServerError),
        (524, True, err.HubSpotServerError),
        (423, True, err.HubSpotServerError),
        (501, False, err.HubSpotServerError),
        (400, False, err.HubSpotBadRequest),
        (401, False, err.HubSpotAuthError),
        (403, False, err.HubSpotScopeError),
        (404, False, err.HubSpotNotFound),
        (414, False, err.HubSpotUriTooLong),
    ],
)
def test_which_statuses_are_retried(status: int, retried: bool, cls: type) -> None:
    outcome = failure_for_status(SETTINGS, "owners", status, "{}", {}, False)
    assert isinstance(outcome, RetryableFailure) is retried
    final = outcome.final if isinstance(outcome, RetryableFailure) else outcome
    assert type(final) is cls and f"status={status}" in str(final)


# ---------------------------------------------------------------- the controller
def scripted(outcomes: list[BaseException | str]):
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return attempt, calls


def test_retries_count_log_and_end_in_the_typed_error(caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    stats = HubSpotStats()
    attempt, calls = scripted([failure(), failure(wait_s=0.25), failure()])
    retry = retrying(SETTINGS, endpoint="owners", attempts=3, stats=stats, sleep=sleeps.append)
    with caplog.at_level(logging.WARNING), pytest.raises(err.HubSpotServerError) as info:
        retry(attempt)
    assert len(calls) == 3 and len(sleeps) == 2 and sleeps[1] == 0.25
    assert stats.retries == 2 and stats.as_dict()["retries_by_reason"] == {"http_5xx": 2}
    assert "HubSpot owners: server returned 503 (status 503); retry 1/2 in" in caplog.text
    assert "retry 2/2 in 0.25s" in caplog.text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_success_after_a_retry_and_final_errors_pass_through() -> None:
    sleeps: list[float] = []
    attempt, calls = scripted([failure(), "ok"])
    retry = retrying(SETTINGS, endpoint="owners", attempts=3, stats=HubSpotStats(), sleep=sleeps.append)
    assert retry(attempt) == "ok" and len(calls) == 2 and len(sleeps) == 1
    denied = err.HubSpotAuthError("rejected the token", endpoint="owners", status=401)
    attempt, calls = scripted([denied])
    with pytest.raises(err.HubSpotAuthError):
        retrying(SETTINGS, endpoint="owners", attempts=3, stats=HubSpotStats(), sleep=sleeps.append)(attempt)
    assert len(calls) == 1 and len(sleeps) == 1


def test_one_attempt_means_no_retry() -> None:
    sleeps: list[float] = []
    attempt, calls = scripted([failure()])
    with pytest.raises(err.HubSpotServerError):
        retrying(SETTINGS, endpoint="owners", attempts=1, stats=HubSpotStats(), sleep=sleeps.append)(attempt)
    assert len(calls) == 1 and sleeps == []
