"""Shapes from HubSpot's published specs that the sandbox reproduces (and the hook reads).

Over real HTTP against the bundled demo portal: partial batch reads (207 on v3/v4, 200 with
``errors`` and ``numErrors`` on ``2026-09``), error items, 429 bodies, the correlation-id
header, queue owners, and the admin API for association labels and pipelines.
"""

from __future__ import annotations

import pytest
from hubspot_etl.hooks.hubspot import HubSpotHook
from sandbox_helpers import TOKEN, Api

ERROR_ITEM_KEYS = {"status", "category", "message", "context", "errors", "links"}


@pytest.mark.parametrize(
    ("path", "status"),
    [("/crm/v3/objects/contacts/batch/read", 207), ("/crm/objects/2026-09/contacts/batch/read", 200)],
)
def test_a_batch_read_with_missing_ids_per_api_version(api: Api, path: str, status: int) -> None:
    resp = api.post(path, {"inputs": [{"id": "1"}, {"id": "999999"}], "properties": ["email"]})
    assert resp.status_code == status
    body = resp.json()
    assert [r["id"] for r in body["results"]] == ["1"] and body["numErrors"] == 1
    (error,) = body["errors"]
    assert ERROR_ITEM_KEYS <= set(error) and error["context"]["ids"] == ["999999"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/crm/v4/associations/contacts/companies/batch/read", 207),
        ("/crm/associations/2026-09/contacts/companies/batch/read", 200),
    ],
)
def test_association_batch_read_errors_and_string_ids(api: Api, path: str, status: int) -> None:
    resp = api.post(path, {"inputs": [{"id": "1"}, {"id": "424242"}]})
    assert resp.status_code == status
    body = resp.json()
    assert all(isinstance(to["toObjectId"], str) for r in body["results"] for to in r["to"])
    (error,) = body["errors"]
    assert ERROR_ITEM_KEYS | {"id", "subCategory"} <= set(error)
    assert error["id"] == "424242" and isinstance(error["subCategory"], dict)


@pytest.mark.parametrize("api_version", ["v3", "2026-09"])
def test_the_hook_reads_both_shapes(demo_srv, api_version: str) -> None:
    hook = HubSpotHook.from_params(TOKEN, host=demo_srv.url, api_version=api_version, max_retries=0)
    found = hook.batch_read("contacts", ["1", "999999"], properties=["email"])
    assert [r["id"] for r in found] == ["1"] and found.missing == ["999999"]
    rows = list(hook.iter_associations("contacts", "companies", ["1", "424242"]))
    assert rows and all(isinstance(r["to_id"], int) for r in rows)
    assert hook.stats.as_dict()["association_errors"] == 1


def test_responses_carry_a_correlation_id_and_429s_a_category(demo_srv, api: Api) -> None:
    ok = api.get("/crm/v3/objects/contacts", limit=1)
    assert ok.headers["X-HubSpot-Correlation-Id"]
    missing = api.get("/crm/v3/objects/nothing_here")
    assert missing.headers["X-HubSpot-Correlation-Id"] == missing.json()["correlationId"]
    demo_srv.config.fault_429_rate = 1.0
    try:
        limited = api.get("/crm/v3/objects/contacts", limit=1)
    finally:
        demo_srv.config.fault_429_rate = 0.0
    assert limited.status_code == 429
    body = limited.json()
    assert body["category"] == "RATE_LIMITS" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert limited.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]


def test_a_queue_owner_has_no_email_or_user_keys(api: Api) -> None:
    owners = api.get("/crm/v3/owners", limit=100).json()["results"]
    owners += api.get("/crm/v3/owners", limit=100, archived="true").json()["results"]
    queues = [o for o in owners if o["type"] == "QUEUE"]
    people = [o for o in owners if o["type"] == "PERSON"]
    assert queues and people
    for queue in queues:
        assert not {"email", "userId", "userIdIncludingInactive"} & set(queue)
    assert all("email" in person for person in people)


def test_admin_api_defines_labels_and_changes_pipelines(api: Api) -> None:
    label = api.admin(
        "POST",
        "association-labels/contacts/companies",
        {"label": "Champion", "inverseLabel": "Sponsor"},
        expect=201,
    ).json()
    labels = api.get("/crm/associations/v4/contacts/companies/labels").json()["results"]
    assert {"category": "USER_DEFINED", "typeId": label["typeId"], "label": "Champion"} in labels
    back = api.get("/crm/associations/v4/companies/contacts/labels").json()["results"]
    assert {"category": "USER_DEFINED", "typeId": label["inverseTypeId"], "label": "Sponsor"} in back
    api.admin(
        "PATCH", f"association-labels/contacts/companies/{label['typeId']}", {"label": "Chief"}, expect=200
    )
    assert any(
        x["label"] == "Chief"
        for x in api.get("/crm/associations/v4/contacts/companies/labels").json()["results"]
    )

    api.admin(
        "POST",
        "pipelines/deals",
        {
            "id": "new",
            "label": "New",
            "stages": [{"id": "s1", "label": "One", "metadata": {"probability": "0.2"}}],
        },
        expect=201,
    )
    api.admin(
        "POST",
        "pipelines/deals/new/stages",
        {"id": "s2", "label": "Two", "metadata": {"probability": "0.6"}},
        expect=201,
    )
    api.admin("PATCH", "pipelines/deals/new/stages/s1", {"label": "First", "archived": True}, expect=200)
    active = {p["id"]: p for p in api.get("/crm/v3/pipelines/deals").json()["results"]}
    assert [s["id"] for s in active["new"]["stages"]] == ["s2"]
    everything = {p["id"]: p for p in api.get("/crm/v3/pipelines/deals", archived="true").json()["results"]}
    first = next(s for s in everything["new"]["stages"] if s["id"] == "s1")
    assert first["label"] == "First" and first["archived"] and first["archivedAt"]
    api.admin("PATCH", "pipelines/deals/new", {"archived": True}, expect=200)
    assert "new" not in {p["id"] for p in api.get("/crm/v3/pipelines/deals").json()["results"]}
    api.admin("PATCH", "pipelines/deals/nope", {"label": "x"}, expect=404)
