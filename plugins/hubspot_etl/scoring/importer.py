"""Historical snapshot import: Excel (.xlsx) or CSV exports of companies, deals and owners.

Each snapshot is dated by its file or sheet name:

* CSV: ``<kind>_<YYYY-MM-DD>.csv`` (kind = companies | deals | owners), e.g. ``companies_2025-01-31.csv``;
* Excel: one workbook per date (``export_2025-01-31.xlsx``, sheets named by kind) or sheets named
  ``<kind>_<YYYY-MM-DD>`` in any workbook.

Columns (header row, case-insensitive): companies ``id, owner_id, lifecycle_stage``; deals
``id, owner_id, pipeline_id, stage_id, amount, company_id`` (``company_id`` may list several
ids separated by ``;``); owners ``id, email, first_name, last_name`` (checked, used to report).
Every bad row is reported with file, sheet, row number and reason and left out of the
snapshot; nothing is dropped silently. Each date becomes snapshot ``import:<date>`` (source
``import``; re-importing a date replaces it), scored by the same SQL files as the sync, with
deal stage probabilities from the warehouse's ``deal_pipeline_stage``.
Run it through Airflow: ``airflow dags trigger hubspot_import --conf '{"paths": ["/data/exports"]}'``.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hubspot_etl.scoring.mapping import load_mapping
from hubspot_etl.scoring.sqlfiles import STEPS, run_step

KINDS = ("companies", "deals", "owners")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
COLUMNS = {
    "companies": ("id", "owner_id", "lifecycle_stage"),
    "deals": ("id", "owner_id", "pipeline_id", "stage_id", "amount", "company_id"),
    "owners": ("id", "email", "first_name", "last_name"),
}


@dataclass
class Issue:
    file: str
    sheet: str | None
    row: int | None
    reason: str


@dataclass
class ParsedExports:
    rows: dict[date, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)


def _kind_and_date(name: str, fallback_date: date | None = None) -> tuple[str | None, date | None]:
    lowered = name.lower()
    kind = next((k for k in KINDS if k in lowered or k.rstrip("s") in lowered), None)
    match = _DATE.search(name)
    return kind, (date.fromisoformat(match.group(1)) if match else fallback_date)


def _int(value: Any) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not text.isdigit():
        raise ValueError(f"not an integer id: {text!r}")
    return int(text)


def _row(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    row = {
        k: (None if raw.get(k) is None or str(raw.get(k)).strip() == "" else raw.get(k))
        for k in COLUMNS[kind]
    }
    row["id"] = _int(row["id"])
    if row["id"] is None:
        raise ValueError("missing id")
    if kind in ("companies", "deals"):
        row["owner_id"] = _int(row["owner_id"])
    if kind == "companies" and row["lifecycle_stage"] is not None:
        row["lifecycle_stage"] = str(row["lifecycle_stage"]).strip()
    if kind == "deals":
        for key in ("pipeline_id", "stage_id"):
            if row[key] is None:
                raise ValueError(f"missing {key}")
            row[key] = str(row[key]).strip()
        if row["amount"] is not None:
            try:
                row["amount"] = Decimal(str(row["amount"]).strip())
            except InvalidOperation:
                raise ValueError(f"amount is not a number: {row['amount']!r}") from None
        ids = str(row["company_id"] or "").replace(",", ";").split(";")
        row["company_id"] = [_int(x) for x in ids if x.strip()]
    return row


def _table(
    out: ParsedExports, file: str, sheet: str | None, kind: str, day: date, records: list[list[Any]]
) -> None:
    if not records:
        return
    header = [str(h or "").strip().lower() for h in records[0]]
    missing = [c for c in COLUMNS[kind] if c not in header and c != "company_id"]
    if missing:
        out.issues.append(Issue(file, sheet, 1, f"missing column(s): {', '.join(missing)}"))
        return
    seen: set[int] = set()
    for number, values in enumerate(records[1:], start=2):
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        try:
            row = _row(kind, dict(zip(header, values, strict=False)))
        except ValueError as exc:
            out.issues.append(Issue(file, sheet, number, str(exc)))
            continue
        if row["id"] in seen:
            out.issues.append(Issue(file, sheet, number, f"duplicate id {row['id']}"))
            continue
        seen.add(row["id"])
        out.rows.setdefault(day, {k: [] for k in KINDS})[kind].append(row)


def parse_exports(paths: list[str | Path]) -> ParsedExports:
    """Read every .csv/.xlsx file (directories are searched); rows per date and kind, plus issues."""
    out = ParsedExports()
    files: list[Path] = []
    for p in map(Path, paths):
        files += (
            sorted(x for x in p.iterdir() if x.suffix.lower() in (".csv", ".xlsx")) if p.is_dir() else [p]
        )
    for path in files:
        if path.suffix.lower() == ".csv":
            kind, day = _kind_and_date(path.name)
            if kind is None or day is None:
                out.issues.append(
                    Issue(str(path), None, None, "file name names no kind or no YYYY-MM-DD date")
                )
                continue
            with path.open(newline="", encoding="utf-8-sig") as handle:
                _table(out, str(path), None, kind, day, list(csv.reader(handle)))
        elif path.suffix.lower() == ".xlsx":
            import openpyxl

            _, file_day = _kind_and_date(path.name)
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
            for sheet in workbook.worksheets:
                kind, day = _kind_and_date(sheet.title, file_day)
                if kind is None or day is None:
                    out.issues.append(Issue(str(path), sheet.title, None, "sheet names no kind or no date"))
                    continue
                _table(
                    out,
                    str(path),
                    sheet.title,
                    kind,
                    day,
                    [list(r) for r in sheet.iter_rows(values_only=True)],
                )
        else:
            out.issues.append(Issue(str(path), None, None, "not a .csv or .xlsx file"))
    return out


def run_scoring_sql(store: Any, params: dict[str, Any], snapshot_id: str) -> None:
    """Run every scoring step for one snapshot (the same SQL files as the DAG's scoring group)."""
    for step in STEPS:
        run_step(store, step, params, snapshot_id)


def import_snapshots(cfg: Any, paths: list[str | Path]) -> dict[str, Any]:
    """Parse the exports and write + score one historical snapshot per date."""
    from hubspot_etl.operators.scoring import sql_params
    from hubspot_etl.scoring.store import store_for

    parsed = parse_exports(paths)
    store = store_for(cfg.destination)
    params = sql_params(cfg)
    mapping = load_mapping(cfg.scoring.stage_mapping_file, cfg.scoring)
    run_step(store, "tables", params, None)
    store.seed_mapping(mapping)
    snapshots = []
    for day, kinds in sorted(parsed.rows.items()):
        snapshot_id = f"import:{day.isoformat()}"
        store.clear_inputs(snapshot_id)
        owners = {o["id"] for o in kinds["owners"]}
        companies = {c["id"] for c in kinds["companies"]}
        for kind in ("companies", "deals"):
            for row in kinds[kind]:
                if owners and row["owner_id"] is not None and row["owner_id"] not in owners:
                    parsed.issues.append(
                        Issue(
                            "",
                            None,
                            None,
                            f"{day} {kind} {row['id']}: owner {row['owner_id']} not in the owners export (kept)",
                        )
                    )
        _insert(store, snapshot_id, kinds, companies)
        store.copy_stages(snapshot_id)
        unit = cfg.scoring.unit
        store.open_snapshot(
            snapshot_id=snapshot_id,
            source="import",
            unit=unit,
            snapshot_at=datetime(day.year, day.month, day.day, tzinfo=UTC),
            config_version=mapping.version,
            ingest_status="imported",
            num_input_units=len(kinds[unit]),
        )
        run_scoring_sql(store, params, snapshot_id)
        snapshots.append({"snapshot_id": snapshot_id, **{k: len(v) for k, v in kinds.items()}})
    return {"snapshots": snapshots, "issues": [asdict(i) for i in parsed.issues]}


def _insert(
    store: Any, snapshot_id: str, kinds: dict[str, list[dict[str, Any]]], companies: set[int]
) -> None:
    from hubspot_etl.warehouse.dialect import P

    t = store.t
    for c in kinds["companies"]:
        store.run(
            f"INSERT INTO {t('hs_scoring_input_companies')} (snapshot_id, id, owner_id, lifecycle_stage) "  # noqa: S608
            "VALUES (@s, @id, @o, @l)",
            {
                "s": snapshot_id,
                "id": c["id"],
                "o": P(c["owner_id"], "bigint"),
                "l": P(c["lifecycle_stage"], "text"),
            },
        )
    links: dict[tuple[int, int], None] = defaultdict(lambda: None)
    for d in kinds["deals"]:
        store.run(
            f"INSERT INTO {t('hs_scoring_input_deals')} (snapshot_id, id, owner_id, pipeline_id, stage_id, amount) "  # noqa: S608
            f"VALUES (@s, @id, @o, @p, @st, {store.cast('@a', 'numeric')})",
            {
                "s": snapshot_id,
                "id": d["id"],
                "o": P(d["owner_id"], "bigint"),
                "p": d["pipeline_id"],
                "st": d["stage_id"],
                "a": P(None if d["amount"] is None else str(d["amount"]), "text"),
            },
        )
        for company_id in d["company_id"]:
            if company_id in companies:
                links[(company_id, d["id"])] = None
    for company_id, deal_id in links:
        store.run(
            f"INSERT INTO {t('hs_scoring_input_company_deal')} (snapshot_id, company_id, deal_id) VALUES (@s, @c, @d)",  # noqa: S608
            {"s": snapshot_id, "c": company_id, "d": deal_id},
        )
