"""The run report's key order and its text rendering (the ``finalize`` task's log).

The report is a dict (:class:`~hubspot_etl.sync.contracts.RunReport`); :data:`RUN_REPORT_KEYS`
fixes the order of its keys in the XCom and the log, whatever order a step built it in (the
README's "Run reports" section says what each key means). Keys not listed there follow in
sorted order, so a new key never reorders the known ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The documented order of the run report's keys (README, "Run reports").
RUN_REPORT_KEYS: tuple[str, ...] = (
    # which run
    "run_id",
    "dag_id",
    "object_name",
    "mode",
    "status",
    "complete",
    "changed",
    # when, and which window
    "started_at",
    "finished_at",
    "duration_s",
    "window_start",
    "window_end",
    "watermark",
    # records
    "records_fetched",
    "records_upserted",
    "records_changed",
    "records_unchanged",
    "rejects",
    # HubSpot API
    "api_calls",
    "search_splits",
    # associations
    "associations",
    "association_refresh",
    "associations_changed",
    # deletes
    "deletes",
    "deletes_checked",
    "deletes_checked_at",
    # schema
    "schema_changes",
    "columns_spilled",
    "columns_renamed",
    # staged parts and property history
    "parts",
    "history",
)

_COUNTS = (
    ("records fetched", "records_fetched"),
    ("records upserted", "records_upserted"),
    ("records changed", "records_changed"),
    ("records unchanged", "records_unchanged"),
    ("rejects", "rejects"),
    ("search splits", "search_splits"),
    ("associations changed", "associations_changed"),
    ("columns spilled", "columns_spilled"),
    ("columns renamed", "columns_renamed"),
)
_TIMINGS = (
    ("started", "started_at"),
    ("finished", "finished_at"),
    ("duration (s)", "duration_s"),
    ("window start", "window_start"),
    ("window end", "window_end"),
    ("watermark", "watermark"),
)
_INDENT = "  "


def ordered_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report with its keys in :data:`RUN_REPORT_KEYS` order, unknown keys after (sorted)."""
    known = [key for key in RUN_REPORT_KEYS if key in report]
    extra = sorted(key for key in report if key not in RUN_REPORT_KEYS)
    return {key: report[key] for key in (*known, *extra)}


def render_run_report(report: Mapping[str, Any]) -> str:
    """The report as an aligned text table: a header line, then counts, API calls by endpoint,
    deletes by kind, schema changes and timings (a section without entries says ``(none)``)."""
    sections = [
        ("counts", [(label, report[key]) for label, key in _COUNTS if key in report]),
        ("api calls by endpoint", _with_total(_numbers(report.get("api_calls")))),
        ("deletes by kind", _numbers(report.get("deletes"))),
        (_schema_title(report.get("schema_changes")), _numbers(report.get("schema_changes"), skip="table")),
        ("timings", [(label, report[key]) for label, key in _TIMINGS if key in report]),
    ]
    labels = [label for _, rows in sections for label, _ in rows]
    width = max(map(len, labels), default=0)
    lines = [_header(report)]
    for title, rows in sections:
        lines.append(title)
        lines.extend(_aligned(rows, width) if rows else [f"{_INDENT}(none)"])
    return "\n".join(lines)


def _header(report: Mapping[str, Any]) -> str:
    fields = [
        f"run report {report.get('object_name', '?')}",
        f"run {report.get('run_id', '?')}",
        f"mode {report.get('mode', '?')}",
        f"status {report.get('status', '?')}",
    ]
    if "complete" in report:
        fields.append(f"complete {_text(report['complete'])}")
    if "changed" in report:
        fields.append(f"changed {_text(report['changed'])}")
    return " | ".join(fields)


def _schema_title(summary: Any) -> str:
    table = summary.get("table") if isinstance(summary, Mapping) else None
    return f"schema changes ({table})" if table else "schema changes"


def _numbers(counter: Any, skip: str = "") -> list[tuple[str, Any]]:
    """A counter's entries sorted by key (a missing or non-dict counter has none)."""
    if not isinstance(counter, Mapping):
        return []
    return [(str(key), value) for key, value in sorted(counter.items()) if key != skip]


def _with_total(rows: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    if not rows:
        return rows
    total = sum(v for _, v in rows if _is_number(v))
    return [*rows, ("total", total)]


def _aligned(rows: Iterable[tuple[str, Any]], width: int) -> list[str]:
    """Labels padded to ``width``; a section of numbers is right-aligned, any other left-aligned."""
    rows = list(rows)
    numeric = all(_is_number(value) for _, value in rows)
    cells = [(label, _text(value)) for label, value in rows]
    value_width = max(len(text) for _, text in cells)
    align = ">" if numeric else "<"
    return [f"{_INDENT}{label:<{width}}  {text:{align}{value_width}}".rstrip() for label, text in cells]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
