"""The run report's documented key order and its text table (the finalize task's log)."""

from __future__ import annotations

from hubspot_etl.sync.run_report import RUN_REPORT_KEYS, ordered_report, render_run_report

SAMPLE = {
    "changed": True,
    "object_name": "contacts",
    "run_id": "manual__2026-12-07T10:00:00+00:00",
    "dag_id": "hubspot_contacts",
    "mode": "incremental",
    "status": "healthy",
    "started_at": "2026-12-07T10:00:00+00:00",
    "finished_at": "2026-12-07T10:00:12.5+00:00",
    "duration_s": 12.5,
    "window_start": "2026-12-07T09:00:00+00:00",
    "window_end": "2026-12-07T10:00:00+00:00",
    "records_fetched": 1250,
    "records_upserted": 1250,
    "records_changed": 1200,
    "records_unchanged": 50,
    "rejects": 0,
    "api_calls": {"objects.search": 13, "objects.batch_read": 2, "associations.batch_read": 4},
    "search_splits": 0,
    "associations": {"companies": 900},
    "associations_changed": 12,
    "deletes": {"archived": 3, "merged": 1},
    "schema_changes": {
        "table": "contact",
        "created": False,
        "added": 2,
        "widened": 0,
        "spilled": 0,
        "renamed": 0,
    },
    "columns_spilled": 0,
    "columns_renamed": 0,
    "watermark": "2026-12-07T09:59:58+00:00",
    "complete": True,
    "zeta_extra": 1,
    "alpha_extra": 2,
}

EXPECTED = """\
run report contacts | run manual__2026-12-07T10:00:00+00:00 | mode incremental | status healthy | complete yes | changed yes
counts
  records fetched          1250
  records upserted         1250
  records changed          1200
  records unchanged          50
  rejects                     0
  search splits               0
  associations changed       12
  columns spilled             0
  columns renamed             0
api calls by endpoint
  associations.batch_read   4
  objects.batch_read        2
  objects.search           13
  total                    19
deletes by kind
  archived                 3
  merged                   1
schema changes (contact)
  added                    2
  created                  no
  renamed                  0
  spilled                  0
  widened                  0
timings
  started                  2026-12-07T10:00:00+00:00
  finished                 2026-12-07T10:00:12.5+00:00
  duration (s)             12.5
  window start             2026-12-07T09:00:00+00:00
  window end               2026-12-07T10:00:00+00:00
  watermark                2026-12-07T09:59:58+00:00"""


def test_render_is_an_aligned_table_of_the_five_sections():
    assert render_run_report(SAMPLE) == EXPECTED


def test_render_of_an_owners_report_says_none_for_empty_sections():
    owners = {
        "run_id": "r1",
        "object_name": "owners",
        "mode": "full",
        "status": "healthy",
        "records_fetched": 7,
        "api_calls": {},
        "deletes": {"archived": 2},
        "schema_changes": {},
        "watermark": None,
        "duration_s": 0.25,
    }
    assert render_run_report(owners) == "\n".join(
        [
            "run report owners | run r1 | mode full | status healthy",
            "counts",
            "  records fetched  7",
            "api calls by endpoint",
            "  (none)",
            "deletes by kind",
            "  archived         2",
            "schema changes",
            "  (none)",
            "timings",
            "  duration (s)     0.25",
            "  watermark        -",
        ]
    )


def test_known_keys_come_in_the_documented_order_then_unknown_ones_sorted():
    ordered = list(ordered_report(SAMPLE))
    known = [key for key in ordered if key in RUN_REPORT_KEYS]
    assert known == [key for key in RUN_REPORT_KEYS if key in SAMPLE]
    assert ordered[: len(known)] == known
    assert ordered[len(known) :] == ["alpha_extra", "zeta_extra"]
    assert ordered_report(SAMPLE) == SAMPLE  # same content


def test_every_run_report_key_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Run reports", 1)[1].split("\n## ", 1)[0]
    missing = [key for key in RUN_REPORT_KEYS if f"`{key}`" not in section]
    assert missing == []
