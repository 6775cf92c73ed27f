"""The Exports API client against the sandbox over real HTTP: start -> poll -> download -> parse
gives exactly the records the list API gives (plus their associations), also when the export
is partitioned into a ZIP, with each association's labels, and without the per-row cap."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspot_etl.hooks import exports
from hubspot_etl.hooks.errors import HubSpotBadRequest, HubSpotRateLimitExhausted, HubSpotScopeError
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal

TOKEN = "pat-na1-exports-5d1c2b3a-9e8f-4a7b-8c6d-0e1f2a3b4c5d"
TARGETS = ["companies", "deals"]
CAP = 3


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    portal = generate_portal(
        seed=5, contacts=70, companies=20, deals=15, tickets=0, custom=0, extra_properties=3
    )
    config = SandboxConfig(
        tokens={TOKEN: list(ALL_SCOPES), "no-export": [s for s in ALL_SCOPES if s != "crm.export"]},
        rate_limit_max=None,
        search_per_second=None,
        daily_limit=None,
        export_polls_to_complete=2,
        export_association_cap=CAP,
        export_daily_limit=None,
    )
    contact = portal.snapshot("contacts")["records"][2]["id"]
    for company in portal.snapshot("companies")["records"][: CAP + 2]:
        portal.associate("contacts", contact, "companies", company["id"])
    with SandboxServer(portal, config) as server:
        yield server


def make_hook(srv: SandboxServer, token: str = TOKEN) -> HubSpotHook:
    return HubSpotHook.from_params(token, host=srv.url, backoff_base_s=0.01, backoff_max_s=0.05)


def contact_properties(hook: HubSpotHook) -> list[str]:
    return sorted(p["name"] for p in hook.get_properties("contacts"))


def run_export(hook: HubSpotHook, props: list[str], dest: Path) -> list[Path]:
    task = exports.start_export(hook, "contacts", props, TARGETS, name="test export")
    for _ in range(200):
        status = exports.export_status(hook, task)
        if status.done or status.failed:
            break
        time.sleep(0.01)
    assert status.done, status
    assert status.download_url is not None
    return exports.download_export(status.download_url, dest)


def expected_records(srv: SandboxServer, hook: HubSpotHook, props: list[str]) -> list[dict[str, Any]]:
    """The list API's records with the sandbox's associations: every one (the client asks for
    no cap, yet reports rows reaching CAP), ids ascending, with their type labels."""
    records = [r for page in hook.iter_objects("contacts", props, concurrency=1) for r in page]
    links: dict[str, dict[str, dict[int, list[str | None]]]] = {}
    for link in srv.portal.snapshot("contacts")["associations"]:
        kinds = sorted(link["associationTypes"], key=lambda kind: kind["typeId"])
        labels = [kind.get("label") for kind in kinds]
        links.setdefault(link["fromId"], {}).setdefault(link["toType"], {})[int(link["toId"])] = labels
    for record in records:
        mine = links.get(record["id"], {})
        full = {t: dict(sorted(mine.get(t, {}).items())) for t in TARGETS}
        record["associations"] = {t: [str(i) for i in ids] for t, ids in full.items()}
        record["association_labels"] = {
            t: {str(i): labels for i, labels in ids.items()} for t, ids in full.items()
        }
        record["associations_capped"] = [t for t, ids in full.items() if len(ids) >= CAP]
    return records


@pytest.mark.parametrize("partition_rows", [1_000_000, 20])
def test_export_gives_the_list_api_records(
    srv: SandboxServer,
    tmp_path: Path,
    partition_rows: int,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(srv.config, "export_partition_rows", partition_rows)
    hook = make_hook(srv)
    props = contact_properties(hook)
    with caplog.at_level(logging.DEBUG):
        paths = run_export(hook, props, tmp_path)
    got = [
        r
        for page in exports.iter_export_records(
            paths, props, TARGETS, page_size=7, object_type="contacts", association_cap=CAP
        )
        for r in page
    ]
    want = expected_records(srv, hook, props)
    assert len(paths) == (1 if partition_rows > len(want) else -(-len(want) // partition_rows))
    assert [r["id"] for r in got] == [r["id"] for r in want]
    assert got == want
    assert any(r["associations_capped"] == ["companies"] for r in got)
    assert any(len(r["associations"]["companies"]) > CAP for r in got)  # the override lifted the cap
    labelled = [labels for r in got for labels in r["association_labels"]["companies"].values()]
    assert any(None in labels and len(labels) > 1 for labels in labelled)  # unlabelled and a label
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("hubspot_sandbox"))
    assert "/_sandbox/exports/download/" in ours  # urllib3 logged the download request ...
    assert TOKEN not in ours
    assert "signature=" not in ours  # ... without its signed query string


def test_missing_export_scope_and_bad_property_are_typed_errors(srv: SandboxServer) -> None:
    with pytest.raises(HubSpotScopeError) as scope:
        exports.start_export(make_hook(srv, "no-export"), "contacts", ["email"], [], name="x")
    with pytest.raises(HubSpotBadRequest) as bad:
        exports.start_export(make_hook(srv), "contacts", ["email", "not_a_property"], [], name="x")
    assert scope.value.missing_scopes == ["crm.export"]
    assert "not_a_property" in str(bad.value)


def test_canceled_export_is_failed_with_a_message(srv: SandboxServer) -> None:
    hook = make_hook(srv)
    srv.exports.next_outcome = "CANCELED"
    status = exports.export_status(hook, exports.start_export(hook, "contacts", ["email"], [], name="x"))
    assert status.failed and not status.done
    assert status.download_url is None
    assert status.message


def test_expired_url_is_its_own_error_without_the_signature(srv: SandboxServer, tmp_path: Path) -> None:
    hook = make_hook(srv)
    srv.config.export_url_ttl_s = -1
    try:
        task = exports.start_export(hook, "contacts", ["email"], [], name="x")
        status = exports.export_status(hook, task)
        while not status.done:
            status = exports.export_status(hook, task)
    finally:
        srv.config.export_url_ttl_s = 300
    assert status.download_url is not None
    with pytest.raises(exports.HubSpotExportUrlExpired) as expired:
        exports.download_export(status.download_url, tmp_path)
    assert "signature" not in str(expired.value)
    assert "expired" in str(expired.value)


def test_daily_cap_is_not_retried(srv: SandboxServer) -> None:
    hook = make_hook(srv)
    srv.config.export_daily_limit = 1
    srv.exports.starts.clear()
    try:
        exports.start_export(hook, "contacts", ["email"], [], name="x")
        with pytest.raises(HubSpotRateLimitExhausted):
            exports.start_export(hook, "contacts", ["email"], [], name="y")
    finally:
        srv.config.export_daily_limit = None
    assert hook.stats.calls["exports.start"] == 2


def test_dated_api_version_paths(srv: SandboxServer, tmp_path: Path) -> None:
    hook = HubSpotHook.from_params(TOKEN, host=srv.url, api_version="2026-03")
    task = exports.start_export(hook, "contacts", ["email"], [], name="dated")
    status = exports.export_status(hook, task)
    while not (status.done or status.failed):
        status = exports.export_status(hook, task)
    assert status.done
    assert srv.counters()["exports.start"] >= 1
    (path,) = exports.download_export(status.download_url or "", tmp_path)
    assert path.read_text().startswith("Record ID,email")
