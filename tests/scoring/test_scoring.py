"""Scoring on a hand-written portal, through real DAG runs, on PostgreSQL and the BigQuery and Snowflake emulators.

Expected units and history are computed by hand below from the records the test creates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hubspot_devtools import local

pytestmark = [pytest.mark.portal(contacts=0, companies=0, deals=0, tickets=0, custom=0, owners=3)]

O1, O2 = 50_000_001, 50_000_002
ALL = pytest.mark.parametrize("warehouse_kind", ["postgres", "bigquery", "snowflake"], indirect=True)


def _d(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def build_portal(portal: Any) -> dict[str, str]:
    """The fixture portal. Stage probabilities come from the generator's pipelines:
    default/qualifiedtobuy 0.4, default/contractsent 0.9, default/closedwon 1.0 (closed),
    Renewals 2930721/8411602 "Negotiation" 0.7 (not in stage_mapping.yaml)."""

    def company(lifecycle: str, owner: int) -> str:
        return str(
            portal.create(
                "companies", {"name": lifecycle, "lifecyclestage": lifecycle, "hubspot_owner_id": str(owner)}
            )["id"]
        )

    def deal(pipeline: str, stage: str, amount: int, owner: int, *companies: str) -> str:
        props = {
            "dealname": stage,
            "pipeline": pipeline,
            "dealstage": stage,
            "amount": str(amount),
            "hubspot_owner_id": str(owner),
        }
        deal_id = str(portal.create("deals", props)["id"])
        for company_id in companies:
            portal.associate("deals", deal_id, "companies", company_id)
        return deal_id

    ids = {
        "c1": company("opportunity", O1),
        "c2": company("lead", O1),
        "c3": company("customer", O2),
        "c4": company("lead", O2),
        "c5": company("lead", O1),  # archived: excluded
        "c6": company("customer", O2),  # merged into c4: excluded
    }
    ids["d1"] = deal("default", "qualifiedtobuy", 1000, O1, ids["c1"])
    ids["d2"] = deal("default", "contractsent", 500, O1, ids["c1"])  # c1's most advanced open deal
    ids["d3"] = deal("default", "closedwon", 2000, O1, ids["c2"])  # closed: c2 scores by lifecycle
    ids["d4"] = deal("2930721", "8411602", 300, O2, ids["c3"])  # stage not in the file
    ids["d5"] = deal("default", "contractsent", 700, O2, ids["c4"])  # archived: excluded
    portal.archive("companies", ids["c5"])
    portal.archive("deals", ids["d5"])
    portal.merge("companies", ids["c4"], ids["c6"])
    return ids


def configure(env: Any, unit: str = "companies") -> None:
    env.write_config(
        {
            "companies": {"associations": ["deals"], "scoring": {"enabled": True, "unit": unit}},
            "deals": {"associations": ["companies"]},
        }
    )


def sync_all(env: Any, logical_date: datetime | None = None) -> Any:
    env.run("hubspot_owners")
    env.run("hubspot_deals")
    if logical_date is None:
        return env.run("hubspot_companies")
    # Same run_after and logical date => same run id: dag.test() replaces that DAG run.
    run = local.load_dag("hubspot_companies").test(run_after=logical_date, logical_date=logical_date)
    assert str(getattr(run.state, "value", run.state)) == "success", local.task_states(run)
    return run


def units_of(env: Any, snapshot_id: str) -> dict[int, dict[str, Any]]:
    return {
        r["unit_id"]: r
        for r in env.view.rows("hs_pipeline_units_snapshot")
        if r["snapshot_id"] == snapshot_id
    }


def history_of(env: Any, snapshot_id: str) -> dict[tuple, tuple]:
    return {
        (r["owner_id"], r["combined_stage"]): (
            r["num_units"],
            _d(r["total_score"]),
            _d(r["total_amount"]),
            _d(r["weighted_amount"]),
        )
        for r in env.view.rows("hs_pipeline_score_history")
        if r["snapshot_id"] == snapshot_id
    }


def snapshot_ids(env: Any) -> list[str]:
    return sorted(r["snapshot_id"] for r in env.view.rows("hs_snapshot_registry"))


@ALL
def test_units_and_history_equal_hand_computed_values(sync_env: Any) -> None:
    ids = build_portal(sync_env.sandbox.portal)
    configure(sync_env)
    run = sync_all(sync_env)
    states = local.task_states(run)
    assert {t: s for t, s in states.items() if t.startswith("scoring.")} == {
        f"scoring.{t}": "success"
        for t in ("create_tables", "prepare", "stage_mapping", "units", "history", "finish")
    }
    snapshot = f"hubspot_companies:{run.run_id}"
    units = units_of(sync_env, snapshot)
    c = {k: int(v) for k, v in ids.items()}
    assert set(units) == {c["c1"], c["c2"], c["c3"], c["c4"]}  # archived c5, merged c6 excluded

    expected = {
        # unit: (owner, lifecycle, deal, combined stage, score, amount, weighted)
        c["c1"]: (O1, "opportunity", c["d2"], "8 Contract sent", "85", "500", "450"),  # 500 x 0.9
        c["c2"]: (O1, "lead", None, "1 Lead", "5", None, None),
        c["c3"]: (O2, "customer", c["d4"], "Negotiation", "70", "300", "210"),  # 0.7 x 100; 300 x 0.7
        c["c4"]: (O2, "lead", None, "1 Lead", "5", None, None),
    }
    actual = {
        uid: (
            u["owner_id"],
            u["lifecycle_stage"],
            u["deal_id"],
            u["combined_stage"],
            _d(u["score"]),
            _d(u["deal_amount"]),
            _d(u["weighted_amount"]),
        )
        for uid, u in units.items()
    }
    assert actual == {k: (*v[:4], *(_d(x) for x in v[4:])) for k, v in expected.items()}

    assert history_of(sync_env, snapshot) == {
        (O1, "8 Contract sent"): (1, _d(85), _d(500), _d(450)),
        (O1, "1 Lead"): (1, _d(5), _d(0), _d(0)),
        (O2, "Negotiation"): (1, _d(70), _d(300), _d(210)),
        (O2, "1 Lead"): (1, _d(5), _d(0), _d(0)),
    }
    (registry,) = [r for r in sync_env.view.rows("hs_snapshot_registry") if r["snapshot_id"] == snapshot]
    assert registry["scoring_status"] == "success"
    assert (registry["num_units"], registry["num_history_rows"], registry["num_input_units"]) == (4, 4, 4)
    assert registry["source"] == "sync" and registry["unit"] == "companies"
    assert registry["ingest_status"] in ("healthy", "with_errors")
    assert registry["config_version"].startswith("v1-")

    mapping = {
        (r["stage_type"], r["pipeline_id"], r["stage_id"]): r for r in sync_env.view.rows("hs_stage_mapping")
    }
    assert mapping[("deal", "2930721", "8411602")]["source"] == "auto"
    assert _d(mapping[("deal", "2930721", "8411602")]["score"]) == _d(70)
    assert mapping[("deal", "default", "contractsent")]["source"] == "file"


def _execute(env: Any, statement: str) -> None:
    if env.warehouse == "bigquery":
        client = env.bq.client()
        client.query(statement.replace("{t}", f"`{client.project}.{env.schema}.hs_stage_mapping`")).result()
    elif env.warehouse == "snowflake":
        conn = env.snowflake()
        try:
            conn.cursor().execute(statement.replace("{t}", f'"{env.schema.upper()}".HS_STAGE_MAPPING'))
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(env.pg.uri) as conn:
            conn.execute(statement.replace("{t}", f'"{env.schema}".hs_stage_mapping'))


@ALL
def test_new_stage_user_edit_and_rerun(sync_env: Any) -> None:
    ids = build_portal(sync_env.sandbox.portal)
    configure(sync_env)
    when = datetime(2026, 3, 1, tzinfo=UTC)
    run = sync_all(sync_env, when)
    snapshot = f"hubspot_companies:{run.run_id}"

    # A user edits a mapping row; HubSpot gets a new deal stage.
    _execute(
        sync_env,
        "UPDATE {t} SET score = 99, combined_stage = 'Contract out', source = 'user' "
        "WHERE stage_type = 'deal' AND pipeline_id = 'default' AND stage_id = 'contractsent'",
    )
    portal = sync_env.sandbox.portal
    with portal.lock:
        default = next(p for p in portal.pipelines["0-3"] if p["id"] == "default")
        default["stages"].append(
            {
                **{
                    k: v
                    for k, v in default["stages"][0].items()
                    if k not in ("id", "label", "displayOrder", "metadata")
                },
                "id": "pilot",
                "label": "Pilot",
                "displayOrder": 7,
                "metadata": {"probability": "0.35", "isClosed": "false"},
            }
        )

    # Re-run the same DAG run (same logical date => same run id => same snapshot).
    rerun = sync_all(sync_env, when)
    assert rerun.run_id == run.run_id
    assert snapshot_ids(sync_env) == [snapshot]

    mapping = {
        (r["stage_type"], r["pipeline_id"], r["stage_id"]): r for r in sync_env.view.rows("hs_stage_mapping")
    }
    edited = mapping[("deal", "default", "contractsent")]
    assert (edited["source"], _d(edited["score"]), edited["combined_stage"]) == (
        "user",
        _d(99),
        "Contract out",
    )
    pilot = mapping[("deal", "default", "pilot")]
    assert (pilot["source"], _d(pilot["score"]), pilot["combined_stage"]) == ("auto", _d(35), "Pilot")

    units = units_of(sync_env, snapshot)
    assert len(units) == 4 and len(sync_env.view.rows("hs_pipeline_units_snapshot")) == 4
    c1 = units[int(ids["c1"])]
    assert (c1["combined_stage"], _d(c1["score"])) == ("Contract out", _d(99))
    history = history_of(sync_env, snapshot)
    assert len(sync_env.view.rows("hs_pipeline_score_history")) == len(history) == 4
    assert history[(O1, "Contract out")] == (1, _d(99), _d(500), _d(450))
