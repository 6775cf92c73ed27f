"""Probe what the Snowflake emulator (fakesnow) does with the statements a loader needs.

``python -m hubspot_devtools.snowflake_probe`` starts an emulator, runs each probe through the
real ``snowflake-connector-python`` (each on a new connection whose session database and
schema are the quoted ``"hubspot_Probe"."crm"``) and prints every statement with what came
back. docs/snowflake.md sums the results up for the pinned fakesnow: run this again after
changing the pin. Not used by the product or the tests.
"""

# ruff: noqa: S608 (the identifiers are the probe's constants)
from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubspot_devtools.snowflake_emulator import LocalSnowflake, start_snowflake_emulator

DB = '"hubspot_Probe"'
SCHEMA = '"crm"'
FQ = f"{DB}.{SCHEMA}"
RECORDS = [{"id": 1, "Name": "a", "props": {"x": 1}}, {"id": 2, "Name": "b", "props": {"x": 2}}]
COLUMNS = '("id" NUMBER, "Name" VARCHAR, "props" VARIANT)'

Step = str | tuple[str, Any]
PROBES: list[tuple[str, Callable[[Any, Path], list[str]]]] = []


def probe(name: str) -> Callable[[Callable[[Any, Path], list[str]]], Callable[[Any, Path], list[str]]]:
    def register(fn: Callable[[Any, Path], list[str]]) -> Callable[[Any, Path], list[str]]:
        PROBES.append((name, fn))
        return fn

    return register


def q(name: str) -> str:
    """A table or stage of the probe schema, quoted and qualified."""
    return f'{FQ}."{name}"'


def _error(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"ERR {type(exc).__name__}: {text[:220]}"


def run_steps(cur: Any, steps: list[Step]) -> list[str]:
    """Run each statement; one line per statement with its rows (first 4) or its error."""
    out = []
    for step in steps:
        sql, params = step if isinstance(step, tuple) else (step, None)
        try:
            rows = cur.execute(sql, params).fetchall()
            out.append(f"{sql} -> {rows[:4]!r} (rowcount {cur.rowcount})")
        except Exception as exc:
            out.append(f"{sql} -> {_error(exc)}")
    return out


def _ndjson(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def _loads(stage: str, name: str) -> list[Step]:
    """The COPY forms a loader would use, from ``@stage`` into tables named after ``name``."""
    typed, variant = q(name), q(name + "_v")
    return [
        f"CREATE OR REPLACE TABLE {typed} {COLUMNS}",
        f"COPY INTO {typed} FROM @{stage} FILE_FORMAT=(TYPE=JSON) MATCH_BY_COLUMN_NAME=CASE_SENSITIVE",
        f'COPY INTO {typed} ("id", "Name") FROM (SELECT $1:id, $1:Name FROM @{stage}) FILE_FORMAT=(TYPE=JSON)',
        f"SELECT * FROM {typed}",
        f'CREATE OR REPLACE TABLE {variant} ("v" VARIANT)',
        f'COPY INTO {variant}("v") FROM (SELECT $1 FROM @{stage}) FILE_FORMAT=(TYPE=JSON)',
        f"COPY INTO {variant} FROM @{stage} FILE_FORMAT=(TYPE=JSON)",
        f'SELECT "v":id::NUMBER, "v":Name::VARCHAR, "v":props FROM {variant}',
    ]


@probe("a1 PUT to a table stage (quoted and unquoted table names)")
def put_table_stage(conn: Any, tmp: Path) -> list[str]:
    path = _ndjson(tmp, "table_stage.json")
    return run_steps(
        conn.cursor(),
        [
            f"CREATE OR REPLACE TABLE {q('t_stage')} {COLUMNS}",
            f"PUT 'file://{path}' @{FQ}.%\"t_stage\"",
            f"CREATE OR REPLACE TABLE {FQ}.T_STAGE_U {COLUMNS}",
            f"PUT 'file://{path}' @{FQ}.%T_STAGE_U",
            f"LIST @{FQ}.%T_STAGE_U",
            f"COPY INTO {FQ}.T_STAGE_U FROM @{FQ}.%T_STAGE_U FILE_FORMAT=(TYPE=JSON) "
            "MATCH_BY_COLUMN_NAME=CASE_SENSITIVE",
        ],
    )


@probe("a2 PUT to a named internal stage (qualified, quoted db/schema), COPY")
def put_named_stage(conn: Any, tmp: Path) -> list[str]:
    path = _ndjson(tmp, "named.json")
    stage = q("named_stage")
    return run_steps(
        conn.cursor(),
        [f"CREATE OR REPLACE STAGE {stage}", f"PUT 'file://{path}' @{stage}", f"LIST @{stage}"]
        + _loads(stage, "t_named"),
    )


@probe("a3 PUT to a temporary stage after USE SCHEMA quoted, COPY")
def put_temp_stage(conn: Any, tmp: Path) -> list[str]:
    path = _ndjson(tmp, "temp.json")
    return run_steps(
        conn.cursor(),
        [
            f"USE SCHEMA {FQ}",
            'CREATE OR REPLACE TEMPORARY STAGE "tmp_stage"',
            f"PUT 'file://{path}' @\"tmp_stage\"",
            "CREATE OR REPLACE TEMPORARY STAGE TMP_STAGE_U",
            f"PUT 'file://{path}' @TMP_STAGE_U",
            f"CREATE OR REPLACE TEMPORARY STAGE {q('tmp_stage_q')}",
            f"PUT 'file://{path}' @{q('tmp_stage_q')}",
        ]
        + _loads(q("tmp_stage_q"), "t_temp"),
    )


@probe("a4 parquet: PUT + COPY MATCH_BY_COLUMN_NAME (what write_pandas does)")
def parquet_by_name(conn: Any, tmp: Path) -> list[str]:
    import pandas as pd

    path = tmp / "rows.parquet"
    pd.DataFrame({"id": [1, 2], "Name": ["a", "b"]}).to_parquet(path)
    stage, table = q("pq_stage"), q("t_pq")
    return run_steps(
        conn.cursor(),
        [
            f"CREATE OR REPLACE STAGE {stage}",
            f"PUT 'file://{path}' @{stage}",
            f'CREATE OR REPLACE TABLE {table} ("id" NUMBER, "Name" VARCHAR)',
            f"COPY INTO {table} FROM @{stage} FILE_FORMAT=(TYPE=PARQUET) MATCH_BY_COLUMN_NAME=CASE_SENSITIVE",
            f"SELECT * FROM {table}",
            f"COPY INTO {table} FROM @{stage} FILE_FORMAT=(TYPE=PARQUET) "
            "MATCH_BY_COLUMN_NAME=CASE_INSENSITIVE FORCE=TRUE",
            f"SELECT * FROM {table}",
        ],
    )


@probe("b write_pandas")
def write_pandas_probe(conn: Any, tmp: Path) -> list[str]:
    import pandas as pd
    from snowflake.connector.pandas_tools import write_pandas

    cur = conn.cursor()
    cur.execute(f'CREATE OR REPLACE TABLE {q("wp")} ("id" NUMBER, "name" VARCHAR)')
    df = pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})
    out = []
    for label, kwargs in (
        ("existing table", {"table_name": "wp", "quote_identifiers": True}),
        ("auto_create_table", {"table_name": "wp_auto", "auto_create_table": True}),
        ("use_logical_type", {"table_name": "wp", "use_logical_type": True}),
    ):
        try:
            result = write_pandas(conn, df, database="hubspot_Probe", schema="crm", **kwargs)
            out.append(f"write_pandas({label}) -> {result[:3]}")
        except Exception as exc:
            out.append(f"write_pandas({label}) -> {_error(exc)}")
    return out + run_steps(cur, [f"SELECT * FROM {q('wp')}"])


@probe("c executemany INSERT with pyformat binds")
def executemany_probe(conn: Any, tmp: Path) -> list[str]:
    from snowflake.connector.cursor import SnowflakeCursor

    cur = conn.cursor()
    cur.execute(f'CREATE OR REPLACE TABLE {q("em")} ("id" NUMBER, "s" VARCHAR, "v" VARIANT)')
    sent: list[str] = []
    original = SnowflakeCursor._execute_helper

    def counting(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return original(self, query, *args, **kwargs)

    out = []
    cases: list[tuple[str, str, list[Any]]] = [
        (
            "INSERT VALUES, pyformat",
            f'INSERT INTO {q("em")} ("id", "s") VALUES (%(id)s, %(s)s)',
            [{"id": i, "s": f"r{i}"} for i in range(100)],
        ),
        (
            "INSERT SELECT PARSE_JSON, pyformat",
            f'INSERT INTO {q("em")} ("id", "v") SELECT %s, PARSE_JSON(%s)',
            [(1, '{"a": 1}'), (2, "[1]")],
        ),
        (
            "UPDATE, pyformat",
            f'UPDATE {q("em")} SET "s" = %(s)s WHERE "id" = %(id)s',
            [{"id": 1, "s": "u"}, {"id": 2, "s": "v"}],
        ),
    ]
    SnowflakeCursor._execute_helper = counting  # type: ignore[method-assign]
    try:
        for label, sql, rows in cases:
            sent.clear()
            try:
                cur.executemany(sql, rows)
                out.append(
                    f"{label}: {len(rows)} rows -> {len(sent)} request(s), rowcount {cur.rowcount}; "
                    f"sent {sent[0][:90]!r}"
                )
            except Exception as exc:
                out.append(f"{label}: {_error(exc)}")
        qmark = type(conn)(**{**conn._probe_params, "paramstyle": "qmark"})
        try:
            sent.clear()
            qcur = qmark.cursor()
            qcur.executemany(
                f'INSERT INTO {q("em")} ("id", "v") SELECT ?, PARSE_JSON(?)',
                [(i, json.dumps({"i": i})) for i in range(50)],
            )
            out.append(
                f"INSERT SELECT PARSE_JSON, qmark: 50 rows -> {len(sent)} request(s), rowcount {qcur.rowcount}"
            )
        finally:
            qmark.close()
    finally:
        SnowflakeCursor._execute_helper = original  # type: ignore[method-assign]
    return out + run_steps(cur, [f'SELECT COUNT(*), COUNT("v") FROM {q("em")}'])


@probe("d CREATE TEMPORARY TABLE, unqualified, after USE SCHEMA quoted")
def temp_table_probe(conn: Any, tmp: Path) -> list[str]:
    return run_steps(
        conn.cursor(),
        [
            f"USE SCHEMA {FQ}",
            'CREATE OR REPLACE TEMPORARY TABLE "tmp_t" ("id" NUMBER, "v" VARIANT)',
            """INSERT INTO "tmp_t" SELECT 1, PARSE_JSON('{"a": 1}') UNION ALL SELECT 2, NULL""",
            'SELECT * FROM "tmp_t"',
            f"SELECT * FROM {q('tmp_t')}",
            f'CREATE OR REPLACE TABLE {q("tgt")} ("id" NUMBER, "v" VARIANT)',
            f'MERGE INTO {q("tgt")} t USING "tmp_t" s ON t."id" = s."id" '
            'WHEN MATCHED THEN UPDATE SET t."v" = s."v" '
            'WHEN NOT MATCHED THEN INSERT ("id", "v") VALUES (s."id", s."v")',
            f"SELECT * FROM {q('tgt')}",
            f'CREATE OR REPLACE TEMPORARY TABLE {q("tmp_q")} ("id" NUMBER)',
            'DROP TABLE "tmp_t"',
        ],
    )


@probe("e MERGE ... WHEN NOT MATCHED BY SOURCE")
def merge_by_source(conn: Any, tmp: Path) -> list[str]:
    return run_steps(
        conn.cursor(),
        [
            f'CREATE OR REPLACE TABLE {q("m_t")} ("id" NUMBER)',
            f"INSERT INTO {q('m_t')} VALUES (1), (2)",
            f'MERGE INTO {q("m_t")} t USING (SELECT 1 AS "id") s ON t."id" = s."id" '
            "WHEN NOT MATCHED BY SOURCE THEN DELETE",
            f'MERGE INTO {q("m_t")} t USING (SELECT 1 AS "id") s ON t."id" = s."id" WHEN MATCHED THEN DELETE',
            f"SELECT * FROM {q('m_t')}",
        ],
    )


@probe("f TABLE(FLATTEN(INPUT => PARSE_JSON(%(ids)s)))")
def flatten_probe(conn: Any, tmp: Path) -> list[str]:
    return run_steps(
        conn.cursor(),
        [
            (
                "SELECT f.value::NUMBER AS id, f.index FROM TABLE(FLATTEN(INPUT => PARSE_JSON(%(ids)s))) f "
                "ORDER BY 2",
                {"ids": json.dumps([11, 12, 13])},
            ),
            (
                "SELECT f.value::VARCHAR FROM TABLE(FLATTEN(INPUT => PARSE_JSON(%(ids)s))) f",
                {"ids": json.dumps(["a", "b"])},
            ),
            (
                f'SELECT COUNT(*) FROM {q("m_t")} WHERE "id" IN '
                "(SELECT f.value::NUMBER FROM TABLE(FLATTEN(INPUT => PARSE_JSON(%(ids)s))) f)",
                {"ids": "[1, 2]"},
            ),
            ("SELECT COUNT(*) FROM TABLE(FLATTEN(INPUT => PARSE_JSON(%(ids)s)))", {"ids": "[]"}),
        ],
    )


@probe("g TIMESTAMP_TZ NULL read-back; TO_VARCHAR workaround")
def timestamp_tz_probe(conn: Any, tmp: Path) -> list[str]:
    table = q("ts")
    fmt = "'YYYY-MM-DD\"T\"HH24:MI:SS.FF3TZH:TZM'"
    return run_steps(
        conn.cursor(),
        [
            f'CREATE OR REPLACE TABLE {table} ("id" NUMBER, "tz" TIMESTAMP_TZ, "ntz" TIMESTAMP_NTZ, '
            '"ltz" TIMESTAMP_LTZ, "d" DATE)',
            f"INSERT INTO {table} VALUES (1, NULL, NULL, NULL, NULL)",
            f"INSERT INTO {table} VALUES (2, '2024-05-06 07:08:09.123 +02:00', NULL, NULL, NULL)",
            f"INSERT INTO {table} SELECT 2, '2024-05-06T07:08:09.123+02:00'::TIMESTAMP_TZ, "
            "'2024-05-06 07:08:09.123'::TIMESTAMP_NTZ, '2024-05-06T07:08:09.123+02:00'::TIMESTAMP_LTZ, "
            "'2024-05-06'::DATE",
            f'SELECT *, "tz" IS NULL FROM {table} ORDER BY "id"',
            f'SELECT "id", TO_VARCHAR("tz", {fmt}) FROM {table} ORDER BY "id"',
            f'SELECT "id", TO_VARCHAR("tz"), "tz"::VARCHAR FROM {table} ORDER BY "id"',
            f'SELECT "id", DATE_PART(EPOCH_MILLISECOND, "tz") FROM {table} ORDER BY "id"',
            ("SELECT %s::TIMESTAMP_TZ", (None,)),
        ],
    )


@probe("h OBJECT_CONSTRUCT / OBJECT_DELETE / OBJECT_INSERT / ARRAY_CONSTRUCT")
def object_probe(conn: Any, tmp: Path) -> list[str]:
    return run_steps(
        conn.cursor(),
        [
            "SELECT OBJECT_CONSTRUCT('a', 1, 'b', 'x', 'n', NULL)",
            "SELECT OBJECT_CONSTRUCT_KEEP_NULL('a', 1, 'n', NULL)",
            "SELECT OBJECT_DELETE(OBJECT_CONSTRUCT('a', 1, 'b', 2), 'a')",
            "SELECT OBJECT_INSERT(OBJECT_CONSTRUCT('a', 1), 'c', 3)",
            "SELECT OBJECT_INSERT(OBJECT_CONSTRUCT('a', 1), 'a', 9, TRUE)",
            "SELECT ARRAY_CONSTRUCT(1, 'two', NULL), ARRAY_CONSTRUCT(), ARRAY_SIZE(ARRAY_CONSTRUCT(1, 2))",
            "SELECT OBJECT_KEYS(OBJECT_CONSTRUCT('a', 1))",
            "SELECT OBJECT_PICK(OBJECT_CONSTRUCT('a', 1, 'b', 2), 'a')",
            ("SELECT PARSE_JSON(%s):b.c::NUMBER", ('{"a": 1, "b": {"c": 2}}',)),
        ],
    )


@probe("i cursor.rowcount after INSERT / MERGE / UPDATE / DELETE")
def rowcount_probe(conn: Any, tmp: Path) -> list[str]:
    table = q("rc")
    return run_steps(
        conn.cursor(),
        [
            f'CREATE OR REPLACE TABLE {table} ("id" NUMBER, "n" NUMBER)',
            f"INSERT INTO {table} VALUES (1, 0), (2, 0), (3, 0)",
            f'MERGE INTO {table} t USING (SELECT 2 AS "id" UNION ALL SELECT 3 UNION ALL SELECT 4) s '
            'ON t."id" = s."id" WHEN MATCHED AND s."id" = 3 THEN DELETE '
            'WHEN MATCHED THEN UPDATE SET t."n" = 1 WHEN NOT MATCHED THEN INSERT ("id", "n") VALUES (s."id", 2)',
            f'UPDATE {table} SET "n" = 5 WHERE "id" > 1',
            f'UPDATE {table} SET "n" = 5 WHERE "id" > 100',
            f'DELETE FROM {table} WHERE "id" = 1',
        ],
    )


@probe("j ALTER TABLE ADD several columns / RENAME COLUMN / DROP COLUMN")
def alter_probe(conn: Any, tmp: Path) -> list[str]:
    table = q("alt")
    return run_steps(
        conn.cursor(),
        [
            f'CREATE OR REPLACE TABLE {table} ("id" NUMBER)',
            f'ALTER TABLE {table} ADD COLUMN "a" VARCHAR, "b" NUMBER(38, 9)',
            f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "a" VARCHAR',
            f'ALTER TABLE {table} ADD COLUMN "c" VARIANT, COLUMN "d" BOOLEAN',
            f'ALTER TABLE {table} RENAME COLUMN "a" TO "a2"',
            f'ALTER TABLE {table} DROP COLUMN "b"',
            f'ALTER TABLE {table} DROP COLUMN "c", "d"',
            'SELECT column_name, data_type, numeric_scale FROM "hubspot_Probe".information_schema.columns '
            "WHERE table_name = 'alt' ORDER BY ordinal_position",
        ],
    )


@probe("k DATEADD(millisecond, %s, CURRENT_TIMESTAMP())")
def dateadd_probe(conn: Any, tmp: Path) -> list[str]:
    return run_steps(
        conn.cursor(),
        [
            (
                "SELECT DATEADD(millisecond, %s, CURRENT_TIMESTAMP()) > CURRENT_TIMESTAMP(), "
                "DATEADD(millisecond, %s, '2024-01-01 00:00:00'::TIMESTAMP_NTZ)",
                (1500, -1),
            ),
            ("SELECT DATEADD(millisecond, %(ms)s, '2024-01-01T00:00:00Z'::TIMESTAMP_TZ)", {"ms": 250}),
        ],
    )


@probe("l BEGIN / COMMIT / ROLLBACK")
def transaction_probe(conn: Any, tmp: Path) -> list[str]:
    table = q("tx")
    cur = conn.cursor()
    out = run_steps(
        cur,
        [
            f'CREATE OR REPLACE TABLE {table} ("id" NUMBER)',
            "BEGIN",
            f"INSERT INTO {table} VALUES (1)",
            "ROLLBACK",
            f"SELECT COUNT(*) FROM {table}",
            "BEGIN TRANSACTION",
            f"INSERT INTO {table} VALUES (2)",
            f'UPDATE {table} SET "id" = 3',
            "COMMIT",
            f"SELECT * FROM {table}",
        ],
    )
    conn.autocommit(False)
    cur.execute(f"INSERT INTO {table} VALUES (4)")
    conn.rollback()
    conn.autocommit(True)
    out.append(
        f"autocommit(False); INSERT 4; conn.rollback() -> {cur.execute(f'SELECT * FROM {table}').fetchall()}"
    )
    return out


@probe("m TRY_TO_NUMBER(x, 38, 9) / TRY_TO_DECIMAL")
def try_number_probe(conn: Any, tmp: Path) -> list[str]:
    return run_steps(
        conn.cursor(),
        [
            "SELECT TRY_TO_NUMBER('12.3456789012', 38, 9), TRY_TO_NUMBER('abc', 38, 9), TRY_TO_NUMBER('', 38, 9)",
            "SELECT TRY_TO_DECIMAL('1.5', 38, 9), TRY_TO_DECIMAL('x', 38, 9), TRY_TO_NUMERIC('7', 38, 0)",
            "SELECT TRY_TO_NUMBER('1e3', 38, 9), TRY_TO_NUMBER(' 42 ', 38, 9), TRY_TO_NUMBER('12')",
            (
                "SELECT TRY_TO_NUMBER(%s, 38, 9), TRY_TO_NUMBER(PARSE_JSON(%s):x::VARCHAR, 38, 9)",
                ("3.25", '{"x": "4.5"}'),
            ),
            "SELECT TRY_TO_DOUBLE('1.5x'), TRY_TO_BOOLEAN('true'), TRY_TO_DATE('2024-02-30')",
        ],
    )


def run(emulator: LocalSnowflake) -> list[tuple[str, list[str]]]:
    setup = emulator.connect()
    setup.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    setup.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {FQ}")
    setup.close()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in PROBES:
            # the session's database and schema, quoted as in SQL (the connector sends them as is)
            params = emulator.connect_params(database=DB, schema=SCHEMA)
            conn = emulator.connect(database=DB, schema=SCHEMA)
            conn._probe_params = params
            try:
                results.append((name, fn(conn, Path(tmp))))
            except Exception as exc:
                results.append((name, [_error(exc)]))
            finally:
                conn.close()
    return results


def main() -> int:
    emulator = start_snowflake_emulator()
    try:
        for name, lines in run(emulator):
            print(f"## {name}")
            for line in lines:
                print(f"  {line}")
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
