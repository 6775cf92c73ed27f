"""The sandbox's Exports API over real HTTP: validation, status, signed download, content, limits."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hubspot_sandbox import ALL_SCOPES, Portal, SandboxServer, generate_portal
from sandbox_helpers import TOKEN, Api, open_config

START = "/crm/v3/exports/export/async"
PROPS = ["email", "firstname", "createdate", "lastmodifieddate"]


def body(**changes: Any) -> dict[str, Any]:
    request = {
        "exportType": "VIEW",
        "format": "CSV",
        "exportName": "all contacts",
        "objectType": "0-1",
        "objectProperties": PROPS,
        "associatedObjectType": ["COMPANY"],
        "language": "EN",
        "exportInternalValuesOptions": ["NAMES", "VALUES"],
        "includePrimaryDisplayPropertyForAssociatedObjects": False,
    }
    request.update(changes)
    return request


def status(api: Api, task_id: str) -> dict[str, Any]:
    resp = api.get(f"{START}/tasks/{task_id}/status")
    assert resp.status_code == 200, resp.text
    return resp.json()


def complete(api: Api, task_id: str, polls: int = 200) -> dict[str, Any]:
    for _ in range(polls):
        answer = status(api, task_id)
        if answer["status"] not in ("PENDING", "PROCESSING"):
            return answer
        time.sleep(0.02)
    raise AssertionError(f"export {task_id} never finished: {answer}")


def start(api: Api, **changes: Any) -> str:
    resp = api.post(START, body(**changes))
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def download(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def csv_files(resp: requests.Response) -> list[list[list[str]]]:
    """Each file's rows (header first): one for a plain CSV, one per member of a ZIP."""
    if resp.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
            return [list(csv.reader(io.StringIO(zf.read(n).decode()))) for n in zf.namelist()]
    return [list(csv.reader(io.StringIO(resp.text)))]


@pytest.fixture
def gen_srv() -> Iterator[SandboxServer]:
    portal = generate_portal(
        seed=3, contacts=40, companies=10, deals=10, tickets=0, custom=0, extra_properties=2
    )
    with SandboxServer(portal, open_config(export_polls_to_complete=1)) as srv:
        yield srv


@pytest.fixture
def gen_api(gen_srv: SandboxServer) -> Api:
    return Api(gen_srv)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"objectType": "0-999"}, "unable to infer object type"),
        ({"objectProperties": ["email", "no_such_prop"]}, "no_such_prop"),
        ({"format": "XLSX"}, "not supported by the sandbox"),
        ({"format": "PDF"}, "format must be one of"),
        ({"exportType": "TABLE"}, "exportType must be VIEW or LIST"),
        ({"exportName": ""}, "exportName is required"),
        ({"associatedObjectType": ["nothing"]}, "associatedObjectType"),
        ({"exportInternalValuesOptions": ["LABELS"]}, "NAMES and/or VALUES"),
    ],
)
def test_start_rejects_invalid_requests(api: Api, changes: dict[str, Any], needle: str) -> None:
    resp = api.post(START, body(**changes))
    assert resp.status_code == 400, resp.text
    assert resp.json()["category"] == "VALIDATION_ERROR"
    assert needle in resp.json()["message"]


def test_unknown_property_is_named_in_the_context(api: Api) -> None:
    resp = api.post(START, body(objectProperties=["email", "bogus_one"]))
    assert resp.json()["context"] == {"invalidPropertyName": ["bogus_one"]}


@pytest.mark.parametrize("object_type", ["0-1", "contacts", "CONTACT"])
def test_start_accepts_ids_and_names(api: Api, object_type: str) -> None:
    resp = api.post(START, body(objectType=object_type))
    assert resp.status_code == 202, resp.text
    assert resp.json()["id"].isdigit()


def test_start_needs_the_export_scope(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.tokens = {TOKEN: [s for s in ALL_SCOPES if s != "crm.export"]}
    resp = api.post(START, body())
    assert resp.status_code == 403
    assert resp.json()["category"] == "MISSING_SCOPES"
    assert resp.json()["context"] == {"requiredScopes": ["crm.export"]}
    assert api.get(f"{START}/tasks/1/status").status_code == 403


def test_unknown_task_is_404(api: Api) -> None:
    assert api.get(f"{START}/tasks/999/status").status_code == 404


# ------------------------------------------------------------------------------ status
def test_status_goes_pending_processing_complete(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.export_polls_to_complete = 3
    task = start(api)
    states = [status(api, task)["status"] for _ in range(2)]
    final = complete(api, task)
    assert states == ["PENDING", "PROCESSING"]
    assert final["status"] == "COMPLETE"
    assert "/_sandbox/exports/download/" in final["result"]
    details = api.get(f"/crm/v3/exports/export/{task}").json()
    assert details["exportState"] == "DONE"
    assert details["recordCount"] == len(
        [r for r in demo_srv.portal.snapshot("contacts")["records"] if not r["archived"]]
    )


def test_injected_outcomes_end_exports(api: Api) -> None:
    api.admin("POST", "exports/next_outcome", {"state": "CANCELED"}, expect=200)
    canceled = complete(api, start(api))
    task = start(api)
    api.admin("POST", f"exports/{task}/outcome", {"state": "CONFLICT"}, expect=200)
    conflict = complete(api, task)
    assert canceled["status"] == "CANCELED" and "result" not in canceled
    assert canceled["errors"][0]["message"]
    assert conflict["status"] == "CONFLICT"


# ------------------------------------------------------------------------------ download
def test_download_url_rejects_authorization_and_forgery(api: Api) -> None:
    url = complete(api, start(api))["result"]
    with_auth = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    forged = requests.get(url[:-4] + "0000", timeout=10)
    assert with_auth.status_code == 400 and b"InvalidArgument" in with_auth.content
    assert forged.status_code == 403 and b"SignatureDoesNotMatch" in forged.content
    assert download(url).status_code == 200


def test_download_url_expires(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.export_url_ttl_s = -1
    resp = download(complete(api, start(api))["result"])
    assert resp.status_code == 403
    assert b"Request has expired" in resp.content


# ------------------------------------------------------------------------------ content
def test_csv_holds_the_live_records_with_api_values(gen_srv: SandboxServer, gen_api: Api) -> None:
    portal = gen_srv.portal
    victim = portal.snapshot("contacts")["records"][0]["id"]
    portal.archive("contacts", victim)
    resp = download(complete(gen_api, start(gen_api))["result"])
    assert resp.headers["Content-Type"].startswith("text/csv")
    (rows,) = csv_files(resp)
    header, data = rows[0], rows[1:]
    listed = gen_api.get("/crm/v3/objects/contacts", limit=100, properties=",".join(PROPS)).json()["results"]
    assert header == ["Record ID", *PROPS, "Associated Company IDs"]
    assert [r[0] for r in data] == [r["id"] for r in listed]
    assert victim not in [r[0] for r in data]
    for row, record in zip(data, listed, strict=True):
        assert row[1:5] == [record["properties"][p] or "" for p in PROPS]
        companies = sorted(int(a["toId"]) for a in _links(portal, record["id"], "companies"))
        assert row[5] == ";".join(str(c) for c in companies)


def _links(portal: Portal, rid: str, to_type: str) -> list[dict[str, Any]]:
    return [
        a
        for a in portal.snapshot("contacts")["associations"]
        if a["fromId"] == rid and a["toType"] == to_type
    ]


def test_export_is_a_snapshot_of_the_start(gen_srv: SandboxServer, gen_api: Api) -> None:
    portal = gen_srv.portal
    first = portal.snapshot("contacts")["records"][0]["id"]
    with portal.lock:  # the build waits for the lock: changes made now come after the start
        task = start(gen_api)
        time.sleep(0.01)
        portal.archive("contacts", first)
        created = portal.create("contacts", {"email": "late@example.com"})["id"]
    (rows,) = csv_files(download(complete(gen_api, task)["result"]))
    ids = [r[0] for r in rows[1:]]
    assert first in ids
    assert created not in ids


FLAGS = {
    "includeLabeledAssociations": False,
    "includePrimaryDisplayPropertyForAssociatedObjects": False,
    "overrideAssociatedObjectsPerDefinitionPerRowLimit": False,
}


@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_date_versioned_paths_require_the_association_booleans(api: Api, flag: str) -> None:
    versioned = "/crm/exports/2026-03/export/async"
    request = {k: v for k, v in body(**FLAGS).items() if k != flag}
    missing = api.post(versioned, request)
    assert missing.status_code == 400, missing.text
    assert missing.json()["category"] == "VALIDATION_ERROR"
    assert f"{flag} is required" in missing.json()["message"]
    assert api.post(versioned, body(**FLAGS)).status_code == 202
    assert api.post(START, {k: v for k, v in body().items() if k != flag}).status_code == 202  # v3: optional
    not_boolean = api.post(START, body(**{flag: "yes"}))
    assert not_boolean.status_code == 400
    assert f"{flag} must be a boolean" in not_boolean.json()["message"]


def test_labelled_associations_follow_each_ids_column(gen_srv: SandboxServer, gen_api: Api) -> None:
    portal = gen_srv.portal
    contact = portal.snapshot("contacts")["records"][1]["id"]
    companies = [c["id"] for c in portal.snapshot("companies")["records"][:2]]
    labelled = next(d for d in portal.labels[("0-1", "0-2")].values() if d.label)
    portal.associate("contacts", contact, "companies", companies[0], type_id=labelled.type_id)
    portal.associate("contacts", contact, "companies", companies[1])
    (rows,) = csv_files(
        download(complete(gen_api, start(gen_api, includeLabeledAssociations=True))["result"])
    )
    assert rows[0][-2:] == ["Associated Company IDs", "Associated Company IDs (Labels)"]
    row = next(r for r in rows if r[0] == contact)
    types = portal.assoc[("0-1", "0-2")][int(contact)]
    expected = []
    for company in row[-2].split(";"):
        labels = [portal.labels[("0-1", "0-2")][t].label or "" for t in sorted(types[int(company)])]
        expected.append(f"{company}:{'|'.join(labels)}")
    assert row[-1] == ";".join(expected)
    assert f"{companies[0]}:" in row[-1] and labelled.label in row[-1]
    without = csv_files(download(complete(gen_api, start(gen_api))["result"]))[0]
    assert without[0][-1] == "Associated Company IDs"  # no labels column unless asked


def test_association_cap_and_override(gen_srv: SandboxServer, gen_api: Api) -> None:
    portal = gen_srv.portal
    contact = portal.snapshot("contacts")["records"][1]["id"]
    for company in portal.snapshot("companies")["records"][:4]:
        portal.associate("contacts", contact, "companies", company["id"])
    gen_srv.config.export_association_cap = 2
    capped = csv_files(download(complete(gen_api, start(gen_api))["result"]))[0]
    full = csv_files(
        download(
            complete(gen_api, start(gen_api, overrideAssociatedObjectsPerDefinitionPerRowLimit=True))[
                "result"
            ]
        )
    )[0]
    capped_row = next(r for r in capped if r[0] == contact)
    full_row = next(r for r in full if r[0] == contact)
    assert len(capped_row[-1].split(";")) == 2
    assert len(full_row[-1].split(";")) >= 4
    assert full_row[-1].split(";")[:2] == capped_row[-1].split(";")


def test_one_associated_type_adds_display_names_by_default(gen_api: Api) -> None:
    changes = {"includePrimaryDisplayPropertyForAssociatedObjects": None}
    (rows,) = csv_files(download(complete(gen_api, start(gen_api, **changes))["result"]))
    assert rows[0][-2:] == ["Associated Company IDs", "Associated Company"]


def test_labels_without_internal_names(gen_api: Api) -> None:
    (rows,) = csv_files(download(complete(gen_api, start(gen_api, exportInternalValuesOptions=[]))["result"]))
    assert rows[0][1] == "Email"


def test_large_exports_are_partitioned_into_a_zip(gen_srv: SandboxServer, gen_api: Api) -> None:
    live = len(gen_api.get("/crm/v3/objects/contacts", limit=100).json()["results"])
    gen_srv.config.export_partition_rows = 15
    resp = download(complete(gen_api, start(gen_api))["result"])
    files = csv_files(resp)
    assert resp.headers["Content-Type"] == "application/zip"
    assert live > 30
    assert [len(f) - 1 for f in files] == [15, 15, live - 30]
    assert all(f[0][0] == "Record ID" for f in files)
    ids = [int(r[0]) for f in files for r in f[1:]]
    assert ids == sorted(ids)


def test_a_big_single_csv_is_zipped(gen_srv: SandboxServer, gen_api: Api) -> None:
    live = len(gen_api.get("/crm/v3/objects/contacts", limit=100).json()["results"])
    gen_srv.config.export_zip_bytes = 100
    resp = download(complete(gen_api, start(gen_api))["result"])
    assert resp.headers["Content-Type"] == "application/zip"
    assert [len(f) - 1 for f in csv_files(resp)] == [live]


def test_search_filters_select_records(gen_api: Api) -> None:
    listed = gen_api.get("/crm/v3/objects/contacts", limit=3).json()["results"]
    wanted = [r["id"] for r in listed]
    search = {
        "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "IN", "values": wanted}]}]
    }
    (rows,) = csv_files(download(complete(gen_api, start(gen_api, publicCrmSearchRequest=search))["result"]))
    assert [r[0] for r in rows[1:]] == wanted


# ------------------------------------------------------------------------------ limits
def test_daily_export_cap_answers_429(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.export_daily_limit = 1
    start(api)
    resp = api.post(START, body())
    assert resp.status_code == 429
    assert resp.json()["policyName"] == "DAILY"
    assert int(resp.headers["Retry-After"]) > 3600


def test_exports_beyond_the_concurrency_cap_wait_in_the_queue(gen_srv: SandboxServer, gen_api: Api) -> None:
    gen_srv.config.export_polls_to_complete = 2
    with gen_srv.portal.lock:  # the first build blocks on the lock
        first, second = start(gen_api), start(gen_api)
        polls = [status(gen_api, second)["status"] for _ in range(4)]
        assert status(gen_api, first)["status"] == "PENDING"
        assert status(gen_api, first)["status"] == "PROCESSING"
    assert polls == ["PENDING"] * 4
    assert complete(gen_api, first)["status"] == complete(gen_api, second)["status"] == "COMPLETE"


def test_export_calls_count_against_the_rate_limit(demo_srv: SandboxServer, api: Api) -> None:
    demo_srv.config.rate_limit_max = 2
    demo_srv.config.rate_limit_interval_ms = 60_000
    task = start(api)
    assert api.get(f"{START}/tasks/{task}/status").status_code == 200
    limited = api.get(f"{START}/tasks/{task}/status")
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
