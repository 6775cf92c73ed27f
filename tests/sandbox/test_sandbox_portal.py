"""Portal model, fixture validation, generator determinism/scale and the CLI (Python level)."""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot_sandbox import FixtureError, Portal, generate_portal
from hubspot_sandbox.__main__ import parse_sizes

DEMO = Path(__file__).resolve().parents[2] / "devtools/hubspot_sandbox/fixtures/demo_portal.json"
REPO = Path(__file__).resolve().parents[2]


def _demo() -> dict[str, Any]:
    return json.loads(DEMO.read_text())


# --------------------------------------------------------------- fixtures
def test_tiny_hand_written_portal_gets_defaults() -> None:
    portal = Portal.from_dict({"records": {"contacts": [{"id": 1, "properties": {"email": "a@b.c"}}]}})
    names = [t.name for t in portal.types.values()]
    assert names[:4] == ["contacts", "companies", "deals", "tickets"]  # every standard object
    assert {"calls", "emails", "line_items", "quotes", "leads", "goal_targets"} <= set(names)
    assert not [t.name for t in portal.types.values() if t.library and t.active]  # none activated
    rec = portal.snapshot("contacts")["records"][0]
    assert rec["createdAt"] == "2024-01-01T00:00:00.000Z"
    assert (
        rec["properties"]["hs_object_id"] == "1" and rec["properties"]["lastmodifieddate"] == rec["updatedAt"]
    )
    assert [p["id"] for p in portal.list_pipelines("deals")] == ["default"]
    assert portal.association_labels("contacts", "companies")[0]["typeId"] == 1


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d.update(bogus=1), "portal.bogus"),
        (
            lambda d: d["records"]["contacts"][2]["properties"].update(emial="x"),
            "records.contacts[2].properties.emial",
        ),
        (
            lambda d: d["records"]["contacts"][0]["properties"].update(lifecyclestage="vip"),
            "records.contacts[0].properties.lifecyclestage",
        ),
        (
            lambda d: d["records"]["deals"][0]["properties"].update(amount="lots"),
            "records.deals[0].properties.amount",
        ),
        (
            lambda d: d["records"]["contacts"][1].update(createdAt="yesterday"),
            "records.contacts[1].createdAt",
        ),
        (lambda d: d["records"]["contacts"][1].update(id="abc"), "records.contacts[1].id"),
        (lambda d: d["records"]["contacts"][1].update(id="1"), "records.contacts[1].id"),
        (lambda d: d["properties"]["contacts"][0].update(type="text"), "properties.contacts[0].type"),
        (lambda d: d["objectTypes"][4].update(objectTypeId="9"), "objectTypes[4].objectTypeId"),
        (lambda d: d["records"].update(widgets=[]), "records.widgets"),
        (lambda d: d["owners"][0].update(type="ROBOT"), "owners[0].type"),
        (
            lambda d: d["pipelines"]["deals"][0]["stages"][0]["metadata"].pop("probability"),
            "pipelines.deals[0].stages[0].metadata.probability",
        ),
        (lambda d: d["associations"][0].update(toId="999"), "associations[0].toId"),
        (lambda d: d["merges"][0].update(mergedIds=["77"]), "merges[0].mergedIds[0]"),
    ],
)
def test_fixture_validation_names_the_bad_key(mutate: Any, key: str) -> None:
    data = _demo()
    mutate(data)
    with pytest.raises(FixtureError) as info:
        Portal.from_dict(data)
    assert info.value.key == key
    assert key in str(info.value)


def test_fixture_file_and_round_trip(tmp_path: Path) -> None:
    portal = Portal.from_fixture(DEMO)
    dumped = portal.to_dict()
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(dumped))
    again = Portal.from_fixture(path)
    for name in ("contacts", "companies", "deals", "tickets", "services"):
        assert again.snapshot(name) == portal.snapshot(name)
    assert again.to_dict() == dumped
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(FixtureError):
        Portal.from_fixture(tmp_path / "broken.json")


def test_value_normalisation() -> None:
    data = _demo()
    rec = data["records"]["contacts"][0]["properties"]
    rec.update(
        loyalty_points=7,
        hs_email_optout=True,
        last_seen_at=1709228712345,
        date_of_birth="1990-04-12T00:00:00Z",
    )
    portal = Portal.from_dict(data)
    props = portal.snapshot("contacts")["records"][0]["properties"]
    assert props["loyalty_points"] == "7" and props["hs_email_optout"] == "true"
    assert props["last_seen_at"] == "2024-02-29T17:45:12.345Z" and props["date_of_birth"] == "1990-04-12"
    tickets = portal.snapshot("tickets")["records"]
    assert tickets[1]["properties"]["hs_ticket_category"] == "BILLING_ISSUE;GENERAL_INQUIRY"


# ------------------------------------------------------------- mutations
def test_portal_methods_mirror_admin_api() -> None:
    portal = Portal.demo()
    rec = portal.create("deals", {"dealname": "Py", "amount": "1"}, updated_at=1_700_000_000_000)
    assert rec["id"] == "204" and rec["properties"]["hs_lastmodifieddate"] == "2023-11-14T22:13:20.000Z"
    portal.update("deals", rec["id"], {"amount": "2"})
    portal.associate("deals", rec["id"], "companies", "103")
    links = portal.snapshot("companies")["associations"]
    assert any(a["toType"] == "deals" and a["toId"] == rec["id"] for a in links)
    portal.disassociate("companies", "103", "deals", rec["id"])
    assert not [a for a in portal.snapshot("deals")["associations"] if a["fromId"] == rec["id"]]
    archived = portal.archive("deals", rec["id"])
    assert archived["archived"] and portal.restore("deals", rec["id"])["archived"] is False
    merged = portal.merge("companies", "101", "102")
    assert merged["properties"]["hs_merged_object_ids"] == "102"
    portal.add_property("deals", {"name": "region", "type": "enumeration", "options": ["emea", "amer"]})
    with pytest.raises(Exception, match="not an option"):
        portal.update("deals", rec["id"], {"region": "apac"})


# ------------------------------------------------------------- generator
def test_generator_is_deterministic() -> None:
    sizes = dict(contacts=120, companies=20, deals=30, tickets=15, custom=10, extra_properties=12, owners=6)
    a, b = generate_portal(seed=9, **sizes).to_dict(), generate_portal(seed=9, **sizes).to_dict()
    assert a == b
    assert generate_portal(seed=10, **sizes).to_dict() != a


def test_generator_content() -> None:
    portal = generate_portal(
        seed=3, contacts=400, companies=40, deals=60, tickets=30, custom=20, extra_properties=16
    )
    snap = portal.snapshot("contacts")
    archived = [r for r in snap["records"] if r["archived"]]
    assert archived and snap["merged"]
    survivor = snap["merged"][next(iter(snap["merged"]))]
    surv = next(r for r in snap["records"] if r["id"] == survivor)
    assert set(snap["merged"]) & set(surv["properties"]["hs_merged_object_ids"].split(";"))
    owners = portal.owners_snapshot()["owners"]
    assert any(o["archived"] for o in owners) and any(o["type"] == "QUEUE" for o in owners)
    deals = portal.snapshot("deals")["records"]
    stages = {p["id"]: {s["id"] for s in p["stages"]} for p in portal.list_pipelines("deals")}
    for deal in deals:
        assert deal["properties"]["dealstage"] in stages[deal["properties"]["pipeline"]]
    for name in ("companies", "deals", "tickets", "services"):
        assert portal.snapshot(name)["associations"]
    props = portal.list_properties("contacts")
    extras = [p for p in props if p["name"].startswith("sandbox_extra_")]
    assert len(extras) == 16 and {p["type"] for p in extras} >= {
        "string",
        "number",
        "datetime",
        "date",
        "bool",
    }
    updated = [r["updatedAt"] for r in snap["records"]]
    assert max(updated.count(u) for u in updated) > 1  # month-end batch ties


def test_generated_portal_mutations_override_lazy_values() -> None:
    portal = generate_portal(
        seed=1, contacts=50, companies=5, deals=5, tickets=5, custom=5, extra_properties=4
    )
    rid = portal.snapshot("contacts")["records"][0]["id"]
    before = portal.batch_read("contacts", [rid], properties=["firstname", "sandbox_extra_000_string"])[0][0]
    portal.update("contacts", rid, {"firstname": "Changed", "sandbox_extra_000_string": None})
    after = portal.batch_read("contacts", [rid], properties=["firstname", "sandbox_extra_000_string"])[0][0]
    assert (
        after["properties"]["firstname"] == "Changed"
        and after["properties"]["sandbox_extra_000_string"] is None
    )
    assert after["updatedAt"] > before["updatedAt"]


def _rss_mib() -> float:
    """Current resident set size (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def test_generate_100k_contacts_x_300_properties(capsys: pytest.CaptureFixture[str]) -> None:
    rss_before = _rss_mib()
    start = time.perf_counter()
    portal = generate_portal(seed=1, contacts=100_000, extra_properties=300)
    gen_s = time.perf_counter() - start
    rss_growth = _rss_mib() - rss_before
    ot = portal.object_type("contacts")
    assert len(ot.ids) == 100_000 and len(ot.properties) > 300
    start = time.perf_counter()
    page, _ = portal.list_records("contacts", limit=100, properties=list(ot.properties))
    page_s = time.perf_counter() - start
    assert len(page) == 100
    start = time.perf_counter()
    body = {
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}]
    }
    result = portal.search("contacts", body, limit=200)
    search_s = time.perf_counter() - start
    assert result["total"] > 90_000
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with capsys.disabled():
        print(
            f"\n[sandbox scale] 100k contacts x {len(ot.properties)} props: generate {gen_s:.2f}s, "
            f"RSS growth {rss_growth:.0f} MiB, process max RSS {rss_mb:.0f} MiB; "
            f"list page (100 x all props) {page_s:.3f}s; full-scan search {search_s:.3f}s"
        )


# ------------------------------------------------------------------- CLI
def test_parse_sizes() -> None:
    assert parse_sizes("contacts=1_000, companies=2") == {"contacts": 1000, "companies": 2}
    with pytest.raises(Exception, match="bad --generate"):
        parse_sizes("widgets=3")


def test_cli_generate_and_serve(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
    out = tmp_path / "p.json"
    cmd = [
        sys.executable,
        "-m",
        "hubspot_sandbox",
        "generate",
        "--out",
        str(out),
        "--generate",
        "contacts=5,deals=2",
    ]
    subprocess.run([*cmd, "--seed", "4"], check=True, env=env, capture_output=True, timeout=60)
    data = json.loads(out.read_text())
    assert len(data["records"]["contacts"]) == 5
    assert Portal.from_dict(copy.deepcopy(data)).to_dict() == data
    serve = [sys.executable, "-m", "hubspot_sandbox", "serve", "--port", "0", "--fixture", str(out)]
    proc = subprocess.Popen([*serve, "--token", "cli-token"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = line.split(" on ")[1].split()[0]
        resp = requests.get(
            f"{url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer cli-token"}, timeout=5
        )
        assert resp.status_code == 200 and len(resp.json()["results"]) == 5
    finally:
        proc.terminate()
        proc.wait(timeout=10)
