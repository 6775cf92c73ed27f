"""Historical import: Excel and CSV exports become scored snapshots; bad rows are reported."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hubspot_devtools import local

pytestmark = [pytest.mark.portal(contacts=0, companies=0, deals=0, tickets=0, custom=0, owners=3)]


def _csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


@pytest.mark.parametrize("warehouse_kind", ["postgres", "bigquery", "snowflake"], indirect=True)
def test_excel_and_csv_import_builds_scored_snapshots(sync_env: Any, tmp_path: Path) -> None:
    sync_env.write_config(
        {
            "companies": {"associations": ["deals"], "scoring": {"enabled": True}},
            "deals": {"associations": ["companies"]},
        }
    )
    sync_env.run("hubspot_deals")  # pipelines and stage probabilities
    exports = tmp_path / "exports"
    exports.mkdir()
    # 2025-01-31 as CSV files; one malformed deal row (amount), one company without an id.
    _csv(
        exports / "owners_2025-01-31.csv", [["id", "email", "first_name", "last_name"], [7, "a@x", "A", "B"]]
    )
    _csv(
        exports / "companies_2025-01-31.csv",
        [["id", "owner_id", "lifecycle_stage"], [1, 7, "lead"], [2, 7, "opportunity"], ["", 7, "lead"]],
    )
    _csv(
        exports / "deals_2025-01-31.csv",
        [
            ["id", "owner_id", "pipeline_id", "stage_id", "amount", "company_id"],
            [10, 7, "default", "contractsent", "1000", 2],
            [11, 7, "default", "qualifiedtobuy", "lots", 1],
        ],
    )
    # 2025-02-28 as one Excel workbook with a sheet per kind.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "companies"
    for row in [["id", "owner_id", "lifecycle_stage"], [1, 7, "customer"], [2, 7, "opportunity"]]:
        sheet.append(row)
    deals = workbook.create_sheet("deals")
    for row in [
        ["id", "owner_id", "pipeline_id", "stage_id", "amount", "company_id"],
        [10, 7, "default", "qualifiedtobuy", 200, 2],
    ]:
        deals.append(row)
    workbook.save(exports / "export_2025-02-28.xlsx")

    run = sync_env.run("hubspot_import", paths=[str(exports)])
    result = local.xcom_result(run, "import_snapshots")
    assert [s["snapshot_id"] for s in result["snapshots"]] == ["import:2025-01-31", "import:2025-02-28"]
    reasons = {(Path(i["file"]).name, i["row"], i["reason"]) for i in result["issues"]}
    assert ("deals_2025-01-31.csv", 3, "amount is not a number: 'lots'") in reasons
    assert ("companies_2025-01-31.csv", 4, "missing id") in reasons

    history = {
        (r["snapshot_id"], r["combined_stage"]): (
            r["num_units"],
            Decimal(str(r["total_score"])),
            Decimal(str(r["weighted_amount"])),
        )
        for r in sync_env.view.rows("hs_pipeline_score_history")
    }
    assert history == {
        ("import:2025-01-31", "1 Lead"): (1, Decimal(5), Decimal(0)),  # company 1 (its deal row was bad)
        ("import:2025-01-31", "8 Contract sent"): (1, Decimal(85), Decimal(900)),  # 1000 x 0.9
        ("import:2025-02-28", "9 Customer"): (1, Decimal(100), Decimal(0)),
        ("import:2025-02-28", "6 Qualified to buy"): (1, Decimal(40), Decimal(80)),  # 200 x 0.4
    }
    registry = {r["snapshot_id"]: r for r in sync_env.view.rows("hs_snapshot_registry")}
    assert {k: (v["source"], v["scoring_status"], v["num_units"]) for k, v in registry.items()} == {
        "import:2025-01-31": ("import", "success", 2),
        "import:2025-02-28": ("import", "success", 2),
    }


def test_score_history_table_formats_rows() -> None:
    from hubspot_devtools.score_report import score_history_table

    class View:
        def rows(self, table: str) -> list[dict[str, Any]]:
            if table == "owner":
                return [{"id": 7, "first_name": "Ann", "last_name": "Lee"}]
            return [
                {
                    "snapshot_id": "s",
                    "snapshot_at": "2025-01-31 00:00:00+00:00",
                    "owner_id": 7,
                    "combined_stage": "1 Lead",
                    "num_units": 2,
                    "total_score": Decimal(10),
                    "total_amount": Decimal(0),
                    "weighted_amount": Decimal(0),
                }
            ]

    text = score_history_table(View())
    assert text.splitlines()[1].split() == [
        "2025-01-31",
        "00:00:00",
        "Ann",
        "Lee",
        "1",
        "Lead",
        "2",
        "10.00",
        "0.00",
        "0.00",
    ]
