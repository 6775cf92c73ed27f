"""Print the score history (used by the demo)."""

from __future__ import annotations

from typing import Any


def score_history_rows(view: Any) -> list[dict[str, Any]]:
    """History rows joined to owner names, oldest snapshot first.

    ``view`` is anything with ``rows(table) -> list[dict]`` over one schema/dataset, e.g.
    ``hubspot_devtools.views.WarehouseView(uri, schema)`` / ``BigQueryView(client, dataset)``.
    """
    owners = {}
    try:
        owners = {o["id"]: o for o in view.rows("owner")}
    except Exception:  # no owners synced
        owners = {}
    rows = []
    for r in view.rows("hs_pipeline_score_history"):
        owner = owners.get(r["owner_id"]) or {}
        name = " ".join(x for x in (owner.get("first_name"), owner.get("last_name")) if x) or (
            str(r["owner_id"]) if r["owner_id"] is not None else "(no owner)"
        )
        rows.append({**r, "owner": name})
    return sorted(
        rows, key=lambda r: (str(r["snapshot_at"]), r["snapshot_id"], r["owner"], r["combined_stage"])
    )


def score_history_table(view: Any) -> str:
    """The score history as a text table: snapshot, owner, combined stage, units, score, amounts."""
    header = ("snapshot_at", "owner", "combined_stage", "units", "total_score", "total_amount", "weighted")
    lines = [header]
    for r in score_history_rows(view):
        lines.append(
            (
                str(r["snapshot_at"])[:19],
                r["owner"],
                r["combined_stage"],
                str(r["num_units"]),
                f"{float(r['total_score']):.2f}",
                f"{float(r['total_amount']):.2f}",
                f"{float(r['weighted_amount']):.2f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines)
