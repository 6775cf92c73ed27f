"""Unit tests of the Exports API client: request bodies, status, download failures, CSV parsing.

``requests.Session.get`` is replaced by a scripted fake for the download tests; everything
that talks to a server for real is in tests/hooks/test_exports_hook_sandbox.py.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from hubspot_etl.hooks import exports
from hubspot_etl.hooks.errors import HubSpotBadRequest, HubSpotTransportError

URL = "https://exports.example.com/bucket/file.zip?X-Amz-Signature=deadbeefcafe&X-Amz-Expires=300"


class FakeHook:
    """The two things the client uses of a hook: ``settings.api_version`` and ``_request``."""

    def __init__(self, answer: dict[str, Any], api_version: str = "v3") -> None:
        self.settings = SimpleNamespace(api_version=api_version)
        self.answer = answer
        self.calls: list[tuple[str, str, str, Any]] = []

    def _request(self, endpoint: str, method: str, path: str, *, body: Any = None, **_: Any) -> dict:
        self.calls.append((endpoint, method, path, body))
        return self.answer


def test_start_export_sends_a_csv_view_with_internal_names_and_values() -> None:
    hook = FakeHook({"id": 77})
    task = exports.start_export(hook, "0-1", ["email", "email", "createdate"], ["companies"], name="n")  # type: ignore[arg-type]
    ((endpoint, method, path, body),) = hook.calls
    assert (task, endpoint, method, path) == ("77", "exports.start", "POST", "/crm/v3/exports/export/async")
    assert body["exportType"] == "VIEW" and body["format"] == "CSV"
    assert body["objectProperties"] == ["email", "createdate"]
    assert body["objectType"] == "0-1"
    assert body["associatedObjectType"] == ["0-2"]
    assert body["exportInternalValuesOptions"] == ["NAMES", "VALUES"]
    assert body["includePrimaryDisplayPropertyForAssociatedObjects"] is False
    # required booleans of the 2026-03 spec: labels requested, the per-row cap lifted
    assert body["includeLabeledAssociations"] is True
    assert body["overrideAssociatedObjectsPerDefinitionPerRowLimit"] is True


def test_status_path_follows_the_api_version() -> None:
    hook = FakeHook({"status": "PROCESSING"}, api_version="2026-03")
    status = exports.export_status(hook, "12")  # type: ignore[arg-type]
    assert hook.calls[0][2] == "/crm/exports/2026-03/export/async/tasks/12/status"
    assert (status.state, status.done, status.failed, status.download_url) == (
        "PROCESSING",
        False,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("state", "done", "failed"),
    [
        ("COMPLETE", True, False),
        ("CANCELED", False, True),
        ("CONFLICT", False, True),
        ("PENDING", False, False),
    ],
)
def test_status_flags(state: str, done: bool, failed: bool) -> None:
    status = exports.ExportStatus(state, URL if done else None)
    assert (status.done, status.failed) == (done, failed)


def test_status_repr_hides_the_signed_url() -> None:
    status = exports.export_status(FakeHook({"status": "COMPLETE", "result": URL}), "1")  # type: ignore[arg-type]
    assert status.download_url == URL
    assert "deadbeef" not in repr(status)
    assert "deadbeef" not in exports.redact_url(URL)


def test_start_without_an_id_is_an_error() -> None:
    with pytest.raises(HubSpotTransportError):
        exports.start_export(FakeHook({}), "contacts", ["email"], [], name="n")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ download
class FakeResponse:
    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status_code, self._body = status, body
        self.headers = requests.structures.CaseInsensitiveDict(headers or {"Content-Length": str(len(body))})
        self.text = body.decode(errors="replace")

    def iter_content(self, size: int) -> Any:
        yield self._body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Answers for successive ``Session.get`` calls; each call's headers are recorded."""
    answers: list[Any] = []
    sent: list[dict[str, str]] = []

    def get(self: requests.Session, url: str, **kwargs: Any) -> FakeResponse:
        sent.append(dict(self.headers))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(requests.Session, "get", get)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    answers.append(sent)  # the test pops this first to see the headers
    return answers


def _headers(script: list[Any]) -> list[dict[str, str]]:
    return script.pop(0)


def test_download_sends_no_token_and_unzips_in_order(script: list[Any], tmp_path: Path) -> None:
    sent = _headers(script)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil/b-1.csv", "Record ID\n1\n")
        zf.writestr("b-2.csv", "Record ID\n2\n")
    script.append(FakeResponse(200, buf.getvalue()))
    paths = exports.download_export(URL, tmp_path)
    assert [p.read_text() for p in paths] == ["Record ID\n1\n", "Record ID\n2\n"]
    assert all(p.parent == tmp_path for p in paths)
    assert "Authorization" not in sent[0]


def test_download_retries_5xx_drops_and_truncation(script: list[Any], tmp_path: Path) -> None:
    _headers(script)
    script.extend(
        [
            FakeResponse(503, b"<Error><Code>SlowDown</Code></Error>"),
            requests.ConnectionError("reset"),
            FakeResponse(200, b"Record ID\n1\n", {"Content-Length": "999"}),
            FakeResponse(200, b"Record ID\n1\n"),
        ]
    )
    (path,) = exports.download_export(URL, tmp_path)
    assert path.read_text() == "Record ID\n1\n"
    assert script == []


def test_expired_url_error_names_the_cause_without_the_signature(script: list[Any], tmp_path: Path) -> None:
    _headers(script)
    body = f"<Error><Code>AccessDenied</Code><Message>Request has expired</Message><Url>{URL}</Url></Error>"
    script.append(FakeResponse(403, body.encode()))
    with pytest.raises(exports.HubSpotExportUrlExpired) as caught:
        exports.download_export(URL, tmp_path)
    assert "Request has expired" in str(caught.value)
    assert "deadbeef" not in str(caught.value)


def test_persistent_transport_failure_hides_the_signature(
    script: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _headers(script)
    script.extend([requests.ConnectionError(f"failed {URL}")] * 9)
    with pytest.raises(HubSpotTransportError) as caught:
        exports.download_export(URL, tmp_path)
    assert "deadbeef" not in str(caught.value)
    assert "exports.example.com" in str(caught.value)


def test_other_4xx_is_not_retried(script: list[Any], tmp_path: Path) -> None:
    _headers(script)
    script.append(
        FakeResponse(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth</Message></Error>")
    )
    with pytest.raises(HubSpotBadRequest, match="Only one auth"):
        exports.download_export(URL, tmp_path)


# ------------------------------------------------------------------------------ parsing
def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_records_have_the_list_api_shape(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "a.csv",
        "\ufeffRecord ID,email,createdate,lastmodifieddate,Associated Company IDs,Associated Deal IDs\n"
        "5,a@b.c,2024-01-01T00:00:00.000Z,1700000000123,1;2;3,\n"
        '6,"x,y",,,,9\n',
    )
    (page,) = exports.iter_export_records(
        [path], ["email"], ["companies", "deals"], object_type="contacts", association_cap=3
    )
    first, second = page
    assert first == {
        "id": "5",
        "properties": {
            "email": "a@b.c",
            "createdate": "2024-01-01T00:00:00.000Z",
            "lastmodifieddate": "1700000000123",
            "hs_object_id": "5",
        },
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2023-11-14T22:13:20.123Z",
        "archived": False,
        "associations": {"companies": ["1", "2", "3"], "deals": []},
        "association_labels": {},
        "associations_capped": ["companies"],
    }
    assert second["properties"]["email"] == "x,y"
    assert second["properties"]["createdate"] is None
    assert second["associations"] == {"companies": [], "deals": ["9"]}
    assert second["associations_capped"] == []


LABELLED_HEADER = (
    "Record ID,email,Associated Company IDs,Associated Company IDs (Labels),Associated Deal IDs\n"
)


def test_labels_columns_give_each_association_its_labels(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "a.csv",
        LABELLED_HEADER + '5,a@b.c,1;2,1:Primary|;2:,9\n6,b@b.c,,,\n7,c@b.c,3,"3:Primary|Billing contact",\n',
    )
    (page,) = exports.iter_export_records([path], ["email"], ["companies", "deals"])
    five, six, seven = page
    assert five["association_labels"] == {"companies": {"1": ["Primary", None], "2": [None]}}
    assert five["properties"] == {"email": "a@b.c", "hs_object_id": "5"}  # no labels "property"
    assert five["associations"] == {"companies": ["1", "2"], "deals": ["9"]}
    assert six["association_labels"] == {"companies": {}}
    assert seven["association_labels"] == {"companies": {"3": ["Primary", "Billing contact"]}}


@pytest.mark.parametrize(
    "cell",
    [
        "1:Primary",  # id 2 missing
        "2:;1:Primary",  # not the ids' order
        "1:Primary;2:;4:",  # an id the ids column lacks
        "1Primary;2:",  # no separator
        "1:;1:;2:",  # an id twice
    ],
)
def test_a_labels_cell_that_does_not_match_the_ids_gives_no_labels(tmp_path: Path, cell: str) -> None:
    path = _csv(tmp_path, "a.csv", LABELLED_HEADER + f"5,a@b.c,1;2,{cell},\n")
    (page,) = exports.iter_export_records([path], ["email"], ["companies", "deals"])
    assert page[0]["association_labels"] == {}
    assert page[0]["associations"]["companies"] == ["1", "2"]


def test_pages_span_files(tmp_path: Path) -> None:
    files = [
        _csv(tmp_path, f"{i}.csv", "Record ID,email\n" + "".join(f"{i}{n},e\n" for n in range(3)))
        for i in (1, 2)
    ]
    pages = list(exports.iter_export_records(files, ["email"], [], page_size=4))
    assert [len(p) for p in pages] == [4, 2]
    assert [r["id"] for p in pages for r in p] == ["10", "11", "12", "20", "21", "22"]


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("email,Associated Company IDs", "no Record ID column"),
        ("Record ID,Associated Company IDs", "lacks the requested properties ['email']"),
        ("Record ID,email", "0 association column(s)"),
    ],
)
def test_unexpected_headers_fail_naming_the_problem(tmp_path: Path, header: str, needle: str) -> None:
    path = _csv(tmp_path, "bad.csv", header + "\n")
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        list(exports.iter_export_records([path], ["email"], ["companies"]))


def test_ragged_rows_fail(tmp_path: Path) -> None:
    path = _csv(tmp_path, "bad.csv", "Record ID,email\n1,a,b\n")
    with pytest.raises(ValueError, match="line 2"):
        list(exports.iter_export_records([path], ["email"], []))


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("contacts", "0-1"),
        ("COMPANY", "0-2"),
        ("0-3", "0-3"),
        ("2-123456", "2-123456"),
        ("services", "services"),
    ],
)
def test_object_types_are_sent_as_ids_when_unambiguous(given: str, sent: str) -> None:
    assert exports.export_type_ref(given) == sent


def test_updated_at_without_object_type_takes_the_non_empty_modified_column(tmp_path: Path) -> None:
    path = _csv(
        tmp_path, "a.csv", "Record ID,hs_lastmodifieddate,lastmodifieddate\n1,,2024-05-01T00:00:00.000Z\n"
    )
    (page,) = exports.iter_export_records([path], [], [])
    assert page[0]["updatedAt"] == "2024-05-01T00:00:00.000Z"
