"""The scoring SQL files (package data, ``hubspot_etl/resources/sql/<dialect>/scoring_<step>.sql``).

The files are plain SQL, templated only for the schema (PostgreSQL and Snowflake,
``{{ params.schema }}``) or dataset (BigQuery, ``{{ params.dataset_ref }}``); the snapshot id is
a bound parameter (``%(snapshot_id)s``; BigQuery ``@snapshot_id``). The DAG's scoring tasks and the historical import
run them the same way, through :func:`run_step`.
"""

from __future__ import annotations

from typing import Any

from hubspot_etl.resources import read_text

STEPS = ("tables", "stage_mapping", "units", "history", "finish")


def read_sql(dialect: str, step: str) -> str:
    """Text of ``sql/<dialect>/scoring_<step>.sql``."""
    return read_text(f"sql/{dialect}/scoring_{step}.sql")


def split_statements(text: str) -> list[str]:
    """The statements of rendered SQL text (pieces holding only comments are dropped)."""
    import sqlparse

    pieces = [s.rstrip().rstrip(";") for s in sqlparse.split(text)]
    return [s for s in pieces if sqlparse.format(s, strip_comments=True).strip()]


def statements(dialect: str, step: str, params: dict[str, Any]) -> list[str]:
    """The step's statements, rendered with ``params`` (what Airflow renders for the DAG's tasks)."""
    import jinja2

    return split_statements(jinja2.Template(read_sql(dialect, step)).render(params=params))


def run_step(store: Any, step: str, params: dict[str, Any], snapshot_id: str | None) -> int:
    """Run one scoring step on ``store`` (a :class:`~hubspot_etl.scoring.store.ScoringStore`).

    ``tables`` takes no snapshot; every other step binds ``snapshot_id``. Returns the number of
    statements run.
    """
    bound = {} if step == "tables" else {"snapshot_id": snapshot_id}
    run = statements(store.dialect, step, params)
    for statement in run:
        store.run(statement, bound)
    return len(run)
