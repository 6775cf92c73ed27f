"""The hook's history read (``batch_read_history``): the mapping of HubSpot's
``propertiesWithHistory`` entries to rows, and the 50-input chunking.

``requests`` is mocked here (``requests.Session.request``), and only here: the sandbox's history
is exercised end to end in tests/e2e. The replies follow HubSpot's wire shape (design14.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hubspot_etl.hooks import errors as err
from hubspot_etl.hooks.crm import HISTORY_BATCH_MAX, history_rows
from hubspot_etl.hooks.hubspot import HubSpotHook

TOKEN = "pat-na1-history-unit-secret-0003"
LIMIT_MESSAGE = "The maximum number of inputs supported in a batch request for property histories is 50"

DEAL = {
    "id": "512",
    "properties": {"hs_object_id": "512"},
    "propertiesWithHistory": {
        "dealstage": [
            {
                "value": "qualifiedtobuy",
                "timestamp": "2026-01-02T03:04:05.678Z",
                "sourceType": "CRM_UI",
                "sourceId": "userId:123",
                "sourceLabel": "Jane",
                "updatedByUserId": 123,
            },
            {"value": "appointmentscheduled", "timestamp": "2026-01-01T00:00:00.001Z", "sourceType": "API"},
        ],
        "amount": [
            {
                "value": "",
                "timestamp": "2026-01-03T00:00:00.000Z",
                "sourceType": "IMPORT",
                "updatedByUserId": "7",
            },
            {"value": 100, "timestamp": "2026-01-01T00:00:00.001Z", "sourceType": "API"},
            {"value": "no time", "sourceType": "API"},
        ],
    },
}


def test_entries_map_to_rows() -> None:
    rows = history_rows(DEAL)
    assert rows == [
        {
            "object_id": 512,
            "property": "dealstage",
            "value": "qualifiedtobuy",
            "timestamp": "2026-01-02T03:04:05.678Z",
            "source_type": "CRM_UI",
            "source_id": "userId:123",
            "source_label": "Jane",
            "updated_by_user_id": 123,
        },
        {
            "object_id": 512,
            "property": "dealstage",
            "value": "appointmentscheduled",
            "timestamp": "2026-01-01T00:00:00.001Z",
            "source_type": "API",
            "source_id": None,
            "source_label": None,
            "updated_by_user_id": None,
        },
        {
            "object_id": 512,
            "property": "amount",
            "value": "",
            "timestamp": "2026-01-03T00:00:00.000Z",
            "source_type": "IMPORT",
            "source_id": None,
            "source_label": None,
            "updated_by_user_id": 7,
        },
        {
            "object_id": 512,
            "property": "amount",
            "value": "100",  # always text
            "timestamp": "2026-01-01T00:00:00.001Z",
            "source_type": "API",
            "source_id": None,
            "source_label": None,
            "updated_by_user_id": None,
        },
    ]  # the entry without a timestamp names no write: dropped
    assert history_rows({"id": "9", "properties": {}}) == []  # a record without history


class FakeHubSpot:
    """Stands in for ``requests.Session.request``: answers batch reads from ``histories``."""

    def __init__(self, histories: dict[str, dict[str, list[dict]]], limit: int = 50) -> None:
        self.histories, self.limit = histories, limit
        self.calls: list[tuple[str, str, dict]] = []
        self.queries: list[str] = []

    def __call__(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        body = kwargs.get("json") or {}
        url, _, query = url.partition("?")
        self.queries.append(query)
        self.calls.append((method, url, body))
        if len(body.get("inputs", [])) > self.limit:
            return _response(
                400, {"status": "error", "category": "VALIDATION_ERROR", "message": LIMIT_MESSAGE}
            )
        wanted = body.get("propertiesWithHistory") or []
        results = [
            {
                "id": item["id"],
                "properties": {"hs_object_id": item["id"]},
                "propertiesWithHistory": {p: v for p, v in self.histories[item["id"]].items() if p in wanted},
            }
            for item in body["inputs"]
            if item["id"] in self.histories
        ]
        return _response(200, {"status": "COMPLETE", "results": results})


def _response(status: int, payload: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(payload).encode()
    response.headers["Content-Type"] = "application/json"
    return response


def _write(rid: int, stage: str) -> list[dict]:
    return [{"value": stage, "timestamp": f"2026-01-01T00:00:{rid % 60:02d}.000Z", "sourceType": "API"}]


@pytest.fixture
def hook() -> Iterator[HubSpotHook]:
    with HubSpotHook.from_params(token=TOKEN, host="http://hubspot.invalid", max_retries=0) as hook:
        yield hook


def _serve(monkeypatch: pytest.MonkeyPatch, fake: FakeHubSpot) -> FakeHubSpot:
    def request(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
        return fake(method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    return fake


def test_chunks_of_fifty_with_the_properties_in_the_body(hook, monkeypatch) -> None:
    histories = {str(i): {"dealstage": _write(i, "a"), "amount": _write(i, "1")} for i in range(1, 121)}
    fake = _serve(monkeypatch, FakeHubSpot(histories))
    ids = [*range(1, 121), 999, 998]  # two ids HubSpot does not have
    rows = hook.batch_read_history("0-3", ids, ["dealstage", "amount", "dealstage"])
    assert [len(body["inputs"]) for _, _, body in fake.calls] == [50, 50, 22]
    for method, url, body in fake.calls:
        assert method == "POST" and url == "http://hubspot.invalid/crm/v3/objects/0-3/batch/read"
        assert body["propertiesWithHistory"] == ["dealstage", "amount"]
        assert body["properties"] == ["hs_object_id"]
    requested = [item["id"] for _, _, body in fake.calls for item in body["inputs"]]
    assert requested == [str(i) for i in ids]
    assert len(rows) == 240 and rows.records == 120
    assert rows.missing == ["999", "998"]
    assert {(r["object_id"], r["property"]) for r in rows} == {
        (i, p) for i in range(1, 121) for p in ("dealstage", "amount")
    }
    assert fake.queries == ["archived=false"] * 3
    stats = hook.stats.as_dict()
    assert stats["calls"] == {"objects.batch_read_history": 3}
    assert stats["batch_missing_ids"] == 2


def test_a_larger_batch_size_is_clamped_to_hubspots_limit(hook, monkeypatch) -> None:
    histories = {str(i): {"dealstage": _write(i, "a")} for i in range(1, 101)}
    fake = _serve(monkeypatch, FakeHubSpot(histories))
    rows = hook.batch_read_history("deals", range(1, 101), ["dealstage"], batch_size=100)
    assert [len(body["inputs"]) for _, _, body in fake.calls] == [HISTORY_BATCH_MAX] * 2
    assert rows.records == 100 and not rows.missing


def test_hubspots_limit_error_is_not_retried(hook, monkeypatch) -> None:
    fake = _serve(monkeypatch, FakeHubSpot({"1": {"dealstage": _write(1, "a")}}, limit=10))
    with pytest.raises(err.HubSpotError, match="maximum number of inputs"):
        hook.batch_read_history("deals", range(1, 30), ["dealstage"])
    assert len(fake.calls) == 1


def test_nothing_to_read_sends_nothing(hook, monkeypatch) -> None:
    fake = _serve(monkeypatch, FakeHubSpot({}))
    assert hook.batch_read_history("deals", [], ["dealstage"]) == []
    assert hook.batch_read_history("deals", [1, 2], []) == []
    assert fake.calls == []


def test_dated_api_version_path(monkeypatch) -> None:
    fake = _serve(monkeypatch, FakeHubSpot({"1": {"dealstage": _write(1, "a")}}))
    with HubSpotHook.from_params(token=TOKEN, host="http://hubspot.invalid", api_version="2026-09") as hook:
        assert len(hook.batch_read_history("0-3", [1], ["dealstage"])) == 1
    assert fake.calls[0][1] == "http://hubspot.invalid/crm/objects/2026-09/0-3/batch/read"


def test_archived_records(hook, monkeypatch) -> None:
    fake = _serve(monkeypatch, FakeHubSpot({"4": {"dealstage": _write(4, "lost")}}))
    rows = hook.batch_read_history("deals", [4], ["dealstage"], archived=True)
    assert fake.queries == ["archived=true"] and [r["value"] for r in rows] == ["lost"]
