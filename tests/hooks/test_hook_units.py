"""Unit tests for the pure parts of the HubSpot hook: paths, budgets, redaction, errors, config."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from hubspot_etl.hooks import errors as err
from hubspot_etl.hooks.hubspot import HubSpotHook, normalize_host, to_epoch_ms
from hubspot_etl.hooks.object_types import last_modified_property, standard_object_type
from hubspot_etl.hooks.pacing import RollingWindowBudget, headers_to_limits
from hubspot_etl.hooks.paths import ENDPOINTS, build_path, validate_api_version

TOKEN = "pat-na1-unit-test-secret-token-0001"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- paths
@pytest.mark.parametrize(
    ("endpoint", "v3", "dated"),
    [
        ("objects.list", "/crm/v3/objects/contacts", "/crm/objects/2026-09/contacts"),
        ("objects.search", "/crm/v3/objects/contacts/search", "/crm/objects/2026-09/contacts/search"),
        (
            "objects.batch_read",
            "/crm/v3/objects/contacts/batch/read",
            "/crm/objects/2026-09/contacts/batch/read",
        ),
        ("properties", "/crm/v3/properties/contacts", "/crm/properties/2026-09/contacts"),
        ("pipelines", "/crm/v3/pipelines/contacts", "/crm/pipelines/2026-09/contacts"),
    ],
)
def test_object_paths(endpoint: str, v3: str, dated: str) -> None:
    assert build_path("v3", endpoint, object_type="contacts") == v3
    assert build_path("2026-09", endpoint, object_type="contacts") == dated


def test_other_paths_and_quoting() -> None:
    assert build_path("v3", "schemas") == "/crm-object-schemas/v3/schemas"
    assert build_path("2026-09", "schemas") == "/crm-object-schemas/2026-09/schemas"
    assert build_path("v3", "owners") == "/crm/v3/owners"
    assert build_path("2026-09", "owners") == "/crm/owners/2026-09"
    kw = {"from_type": "0-1", "to_type": "companies"}
    assert (
        build_path("v3", "associations.batch_read", **kw) == "/crm/v4/associations/0-1/companies/batch/read"
    )
    assert (
        build_path("2026-09", "associations.batch_read", **kw)
        == "/crm/associations/2026-09/0-1/companies/batch/read"
    )
    assert build_path("v3", "associations.labels", **kw) == "/crm/associations/v4/0-1/companies/labels"
    assert (
        build_path("2026-09", "associations.labels", **kw) == "/crm/associations/2026-09/0-1/companies/labels"
    )
    assert build_path("v3", "objects.list", object_type="a/b?c") == "/crm/v3/objects/a%2Fb%3Fc"
    assert build_path("v3", "exports.status", task_id="7") == "/crm/v3/exports/export/async/tasks/7/status"
    assert set(ENDPOINTS) == {
        *("objects.list", "objects.search", "objects.batch_read", "properties", "schemas", "pipelines"),
        *("owners", "associations.batch_read", "associations.labels"),
        *("exports.start", "exports.status", "exports.get"),
    }


def test_api_version_validation() -> None:
    assert validate_api_version("V3") == "v3"
    assert validate_api_version("2026-03") == "2026-03"
    with pytest.raises(ValueError, match="api_version"):
        validate_api_version("v9")
    with pytest.raises(ValueError, match="Unknown HubSpot endpoint"):
        build_path("v3", "nope")


def test_object_types() -> None:
    assert standard_object_type("contact")["object_type_id"] == "0-1"
    assert standard_object_type("0-5")["name"] == "tickets"
    assert standard_object_type("p123_cars") is None
    assert last_modified_property("contacts") == "lastmodifieddate"
    assert last_modified_property("0-1") == "lastmodifieddate"
    assert last_modified_property("deals") == "hs_lastmodifieddate"
    assert last_modified_property("2-999") == "hs_lastmodifieddate"


def test_host_and_time_helpers() -> None:
    assert normalize_host(None) == "https://api.hubapi.com"
    assert normalize_host("api.hubapi.com/") == "https://api.hubapi.com"
    assert normalize_host("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert normalize_host("127.0.0.1", scheme="http", port=81) == "http://127.0.0.1:81"
    assert to_epoch_ms(datetime(2024, 1, 1, tzinfo=UTC)) == 1704067200000
    assert to_epoch_ms(datetime(2024, 1, 1)) == 1704067200000
    assert to_epoch_ms(5) == 5


# ---------------------------------------------------------------- budget math
def test_budget_blocks_until_window_passes() -> None:
    clock = FakeClock()
    budget = RollingWindowBudget(3, 10.0, clock=clock)
    for _ in range(3):
        budget.acquire()
        budget.release()
    assert budget.delay_needed() == pytest.approx(10.0)
    clock.now += 4
    assert budget.delay_needed() == pytest.approx(6.0)
    clock.now += 6
    assert budget.delay_needed() == 0.0
    assert budget.used() == 0


def test_budget_counts_in_flight_and_stamps_completion() -> None:
    clock = FakeClock()
    budget = RollingWindowBudget(2, 1.0, clock=clock)
    budget.acquire()
    budget.acquire()
    assert budget.delay_needed() is None  # both in flight: wait for a release
    clock.now += 5  # slow request: the slot only starts expiring at completion
    budget.release()
    assert budget.used() == 2
    assert budget.delay_needed() == pytest.approx(1.0)


def test_budget_observes_server_headers() -> None:
    clock = FakeClock()
    budget = RollingWindowBudget(10, 10.0, clock=clock)
    budget.acquire()
    budget.release()
    # server has seen 6 requests (another client): phantoms fill the difference
    budget.observe(remaining=4, maximum=10, interval_ms=10_000)
    assert budget.used() == 6
    # server max lower than ours -> adopt it; remaining 0 -> full
    budget.observe(remaining=0, maximum=8, interval_ms=10_000)
    assert budget.max_calls == 8
    assert budget.used() == 8
    assert budget.delay_needed() == pytest.approx(10.0)


def test_budget_disabled_and_headers_parse() -> None:
    budget = RollingWindowBudget(0, 1.0)
    assert budget.acquire() == 0.0
    headers = {
        "X-HubSpot-RateLimit-Remaining": "5",
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }
    assert headers_to_limits(headers) == (5, 190, 10000)
    assert headers_to_limits({"X-HubSpot-RateLimit-Max": "x"}) == (None, None, None)


# ---------------------------------------------------------------- redaction and errors
def test_redaction_of_registered_and_bearer_tokens() -> None:
    err.register_secret(TOKEN)
    assert TOKEN not in err.redact(f"boom {TOKEN} boom")
    assert "abc.def" not in err.redact("Authorization: Bearer abc.def")
    assert "pat-eu1-zzzz" not in err.redact("token pat-eu1-zzzz-yyyy")
    exc = err.HubSpotBadRequest(f"bad {TOKEN}", endpoint="owners", hubspot_message=TOKEN)
    assert TOKEN not in str(exc)
    assert TOKEN not in repr(exc)


def test_logger_filter_scrubs_args(caplog: pytest.LogCaptureFixture) -> None:
    err.register_secret(TOKEN)
    from hubspot_etl.hooks.hubspot import logger

    with caplog.at_level(logging.WARNING, logger=logger.name):
        logger.warning("leak %s here", TOKEN)
    assert "leak *** here" in caplog.text
    assert TOKEN not in caplog.text


def test_parse_403_missing_scopes() -> None:
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes",
        "correlationId": "c-1",
        "category": "MISSING_SCOPES",
        "context": {"requiredGranularScopes": ["crm.objects.deals.read"]},
        "errors": [{"message": "x", "context": {"missingScopes": ["crm.objects.owners.read"]}}],
    }
    exc = err.error_for_status(403, endpoint="owners", body_text=json.dumps(body))
    assert isinstance(exc, err.HubSpotScopeError)
    assert exc.missing_scopes == ["crm.objects.deals.read", "crm.objects.owners.read"]
    assert "crm.objects.owners.read" in str(exc)
    assert "c-1" in str(exc) and "status=403" in str(exc) and "endpoint=owners" in str(exc)


@pytest.mark.parametrize(
    ("status", "cls", "text"),
    [
        (401, err.HubSpotAuthError, "invalid or expired token"),
        (400, err.HubSpotBadRequest, "invalid"),
        (404, err.HubSpotNotFound, "not found"),
        (414, err.HubSpotUriTooLong, "URI too long"),
        (429, err.HubSpotRateLimitExhausted, "policy DAILY"),
        (500, err.HubSpotServerError, "server error"),
    ],
)
def test_error_classes(status: int, cls: type, text: str) -> None:
    body = json.dumps({"message": "m", "policyName": "DAILY"})
    exc = err.error_for_status(status, endpoint="objects.list", body_text=body)
    assert type(exc) is cls
    assert text in str(exc)


def test_parse_html_body_and_header_correlation() -> None:
    info = err.parse_error_body(
        "<html><title>414 Request-URI Too Large</title></html>", {"X-HubSpot-Correlation-Id": "h-9"}
    )
    assert info["message"] == "414 Request-URI Too Large"
    assert info["correlation_id"] == "h-9"


# ---------------------------------------------------------------- configuration
def test_settings_from_airflow_env_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "hubspot",
        "host": "sandbox.local:8080",
        "password": TOKEN,
        "extra": {"api_version": "2026-09", "rate_limit_max": "50", "search_per_second": 2, "other": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_UNIT", json.dumps(conn))
    hook = HubSpotHook("hubspot_unit", max_retries=2, timeout=(1, 5))
    s = hook.settings
    assert s.base_url == "https://sandbox.local:8080"
    assert (s.api_version, s.rate_limit_max, s.search_per_second) == ("2026-09", 50, 2)
    assert (s.max_retries, s.connect_timeout, s.read_timeout) == (2, 1.0, 5.0)
    assert TOKEN not in repr(hook) and TOKEN not in repr(s)


def test_constructor_rejects_unknown_settings_and_does_no_io() -> None:
    with pytest.raises(TypeError, match="bogus"):
        HubSpotHook("missing_conn", bogus=1)
    hook = HubSpotHook("missing_conn")  # no connection lookup until first use
    assert hook.stats.as_dict()["total_calls"] == 0


def test_connection_form_metadata_matches_airflow_schema() -> None:
    from airflow.providers_manager import _create_customized_form_field_behaviours_schema_validator

    info = HubSpotHook.connection_type_info()
    assert info["hook-class-name"] == "hubspot_etl.hooks.hubspot.HubSpotHook"
    assert info["ui-field-behaviour"]["hidden-fields"] == ["login", "schema", "port"]
    _create_customized_form_field_behaviours_schema_validator().validate(HubSpotHook.get_ui_field_behaviour())
    for definition in info["conn-fields"].values():
        assert set(definition) <= {"label", "description", "schema"}
        assert "type" in definition["schema"]


def test_property_chunk_planning_respects_url_budget() -> None:
    hook = HubSpotHook.from_params(TOKEN, host="http://127.0.0.1:1")
    props = [f"custom_property_{i:04d}_" + "x" * 50 for i in range(1500)]
    path = build_path("v3", "objects.list", object_type="contacts")
    chunks = hook._property_chunks(path, props, 100, False)
    assert chunks is not None and len(chunks) > 2
    assert [p for c in chunks for p in c] == props
    for chunk in chunks:
        params = {"limit": 100, "archived": False, "after": "y" * 256, "properties": ",".join(chunk)}
        assert len(hook.build_url(path, params)) <= hook.settings.max_url_length
    assert hook._property_chunks(path, props[:10], 100, False) == [props[:10]]
    assert hook._property_chunks(path, [], 100, False) == [[]]


def test_stats_as_dict_is_json_serialisable() -> None:
    hook = HubSpotHook.from_params(TOKEN, host="http://127.0.0.1:1")
    hook.stats.call("owners")
    hook.stats.retry("http_429")
    hook.stats.add("search_splits", 2)
    data = json.loads(json.dumps(hook.stats.as_dict()))
    assert data["calls"] == {"owners": 1}
    assert data["retries"] == 1 and data["search_splits"] == 2
    assert hook.stats.search_splits == 2
