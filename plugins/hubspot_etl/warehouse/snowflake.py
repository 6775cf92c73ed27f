"""Snowflake dialect (``snowflake-connector-python``, connections from the provider's ``SnowflakeHook``).

One schema per destination, in the database of the Airflow connection. Types: numbers
``NUMBER(38,10)`` (28 digits before and 10 after the point; values beyond are ``out_of_range``
rejects), ``TIMESTAMP_TZ``, ``DATE``, ``BOOLEAN``, ``VARCHAR``; ids ``NUMBER(19,0)``; documents
(``_rejects``, ``_extra_properties``, ...) ``VARIANT``.

Identifiers are quoted in upper case, so that a quoted name and the same name unquoted are one
identifier (``select email from contact`` works, as Snowflake users expect; the column mapper has
already made names unique regardless of case). Values are bound (``pyformat``) or bulk-load data.

Bulk path: rows are written as NDJSON, ``PUT`` to a temporary internal stage and loaded with
``COPY INTO`` a temporary table (``MATCH_BY_COLUMN_NAME``), then applied with one ``MERGE``. No
row-by-row inserts. Snowflake commits the open transaction on every DDL statement (and creating
the staging table is one), so statements run in autocommit and the core treats Snowflake as it
treats BigQuery: a part is recorded in the ledger only after its merge, which is idempotent.
"""

# S608: the SQL text interpolates only identifiers quoted by quote()/table() and fixed fragments;
# values are always bound parameters or load data.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from hubspot_etl.warehouse.base import DEFAULT_MAX_PROPERTY_COLUMNS, WarehouseError
from hubspot_etl.warehouse.core import SqlWarehouse
from hubspot_etl.warehouse.dialect import Dialect, P, Result, Session
from hubspot_etl.warehouse.rows import json_default
from hubspot_etl.warehouse.tables import Table
from hubspot_etl.warehouse.types import NumericLimits

TYPES = {
    "numeric": "NUMBER(38,10)",
    "timestamp": "TIMESTAMP_TZ",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "text": "VARCHAR",
    "bigint": "NUMBER(19,0)",
    "integer": "NUMBER(10,0)",
    "double": "FLOAT",
    "json": "VARIANT",
    "row_id": "VARCHAR",
}
#: Staged as text and read back exactly (numbers with TO_NUMBER, documents with PARSE_JSON).
_STAGE_TYPES = {"numeric": "VARCHAR", "json": "VARCHAR"}
SNOWFLAKE_NUMBER = NumericLimits(max_integer_digits=28, max_scale=10)
_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_TEXT_FORMS = {
    "TIMESTAMP_TZ": "TO_VARCHAR(CONVERT_TIMEZONE('UTC', {c}), 'YYYY-MM-DD\"T\"HH24:MI:SS.FF3') || 'Z'",
    "DATE": "TO_VARCHAR({c}, 'YYYY-MM-DD')",
    "BOOLEAN": "IFF({c}, 'true', 'false')",
    # fixed-scale numbers print their trailing zeros: 12.5000000000 -> 12.5
    "NUMBER": "IFF(CONTAINS(TO_VARCHAR({c}), '.'), RTRIM(RTRIM(TO_VARCHAR({c}), '0'), '.'), TO_VARCHAR({c}))",
}


class SnowflakeSession(Session):
    def __init__(self, conn: Any, dialect: SnowflakeDialect) -> None:
        self.conn, self.d, self.staged = conn, dialect, []

    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> Result:
        values = dict(params or {})

        def placeholder(match: re.Match) -> str:
            value = values.get(match.group(1))
            if isinstance(value, P) and not isinstance(value.value, list):
                return f"CAST(%({match.group(1)})s AS {self.d.stage_type(value.type)})"
            return f"%({match.group(1)})s"

        text = _PARAM.sub(placeholder, statement)
        bound = {k: _bind(v.value if isinstance(v, P) else v) for k, v in values.items()}
        with self.conn.cursor() as cur:
            cur.execute(text if bound else statement, bound or None)
            names = [c[0].lower() for c in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()] if cur.description else []
            affected = _affected(rows, cur.rowcount)
        return Result(rows, affected)

    def stage(self, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> str:
        """``PUT`` the rows as NDJSON to a temporary stage, ``COPY INTO`` a one-``VARIANT`` temporary
        table, and return the typed view of it: ``(SELECT v:c0::<type> AS <column>, ...)``."""
        name = f"_hubspot_stage_{uuid.uuid4().hex[:16]}"
        self.execute(f"CREATE TEMPORARY TABLE {self.d.quote(name)} (v VARIANT)")
        self.staged.append(name)
        with tempfile.TemporaryDirectory(prefix="hubspot-etl-sf-") as folder:
            path = os.path.join(folder, f"{name}.json")
            with open(path, "w", encoding="utf-8") as handle:
                count = _write_ndjson(handle, rows)
            if count:
                stage = self.d.table(name)
                self.execute(f"CREATE TEMPORARY STAGE {stage}")
                self.execute(f"PUT 'file://{path}' @{stage} AUTO_COMPRESS = TRUE")
                self.execute(
                    f"COPY INTO {self.d.quote(name)} FROM @{stage} FILE_FORMAT = (TYPE = JSON) "
                    "ON_ERROR = ABORT_STATEMENT PURGE = TRUE"
                )
        typed = ", ".join(
            f"v:c{i}::{self.d.stage_type(t)} AS {self.d.quote(c)}" for i, (c, t) in enumerate(columns)
        )
        # temporary tables are found by their bare name only
        return f"(SELECT {typed} FROM {self.d.quote(name)})"

    def close(self) -> None:
        for name in self.staged:
            self.execute(f"DROP TABLE IF EXISTS {self.d.quote(name)}")


def _write_ndjson(handle: Any, rows: Iterable[Sequence[Any]]) -> int:
    """One JSON object per row, keys ``c0``, ``c1``... by position; returns the row count."""
    count = 0
    for row in rows:
        handle.write(json.dumps({f"c{i}": v for i, v in enumerate(row)}, default=json_default) + "\n")
        count += 1
    return count


def _bind(value: Any) -> Any:
    """Lists travel as JSON text (read with ``FLATTEN``); aware datetimes as UTC."""
    if isinstance(value, list):
        return json.dumps(value, default=str)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _affected(rows: list[dict[str, Any]], rowcount: int | None) -> int:
    """DML reports its counts as a result row (``number of rows inserted``, ``... updated``...)."""
    counted = ("number of rows inserted", "number of rows updated", "number of rows deleted")
    counts = [v for r in rows[:1] for k, v in r.items() if k in counted]
    if counts:
        return int(sum(counts))
    return max(rowcount or 0, 0)


class SnowflakeDialect(Dialect):
    name = "snowflake"
    transactional = False
    numeric_limits = SNOWFLAKE_NUMBER
    add_columns_per_statement = 500

    def __init__(self, schema: str, connect: Callable[[], Any]) -> None:
        if not schema:
            raise ValueError("schema must not be empty")
        self.schema, self._connect = schema, connect
        self.where = f"schema {schema!r}"
        self._database: str | None = None
        self._local = threading.local()

    # ------------------------------------------------------------------ text
    def quote(self, name: str) -> str:
        if not isinstance(name, str) or not name or len(name) > 255:
            raise WarehouseError(f"not a valid Snowflake identifier: {name!r}")
        return '"' + name.upper().replace('"', '""') + '"'

    def table(self, name: str) -> str:
        """``"DATABASE"."SCHEMA"."NAME"``: named in full, whatever the session's current schema."""
        return f"{self.quote(self.database)}.{self.quote(self.schema)}.{self.quote(name)}"

    @property
    def database(self) -> str:
        """The connection's database (asked once)."""
        if self._database is None:
            self._open()
        return self._database or ""

    def type_sql(self, column_type: str) -> str:
        return TYPES[column_type]

    def stage_type(self, column_type: str) -> str:
        return _STAGE_TYPES.get(column_type) or TYPES[column_type]

    def staged(self, expr: str, column_type: str) -> str:
        forms = {"numeric": f"CAST({expr} AS NUMBER(38,10))", "json": f"PARSE_JSON({expr})"}
        return forms.get(column_type, expr)

    def in_list(self, expr: str, param: str) -> str:
        return (
            f"{expr} IN (SELECT f.value::NUMBER(19,0) FROM TABLE(FLATTEN(INPUT => PARSE_JSON(@{param}))) f)"
        )

    def add_ms(self, expr: str, param: str) -> str:
        return f"DATEADD(millisecond, @{param}, {expr})"

    def text_to_bigint(self, expr: str) -> str:
        return f"TRY_TO_NUMBER(TO_VARCHAR({expr}), 19, 0)"

    # ------------------------------------------------------------------ I/O
    def _open(self) -> Any:
        """This thread's connection, opened on first use and kept: a Snowflake login costs a
        round trip or more, and a sync opens many sessions. Its current schema is the
        destination's once that exists (temporary tables and stages are created there)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.is_closed():
            if not self._local.in_schema:
                self._local.in_schema = self._use_schema(conn)
            return conn
        conn = self._connect()
        with conn.cursor() as cur:
            if self._database is None:
                cur.execute("SELECT CURRENT_DATABASE()")
                self._database = (cur.fetchone() or [None])[0]
                if not self._database:
                    conn.close()
                    raise WarehouseError(
                        "the Snowflake connection names no database: set its 'database' extra"
                    )
        self._local.conn, self._local.in_schema = conn, self._use_schema(conn)
        return conn

    def _use_schema(self, conn: Any) -> bool:
        from snowflake.connector.errors import ProgrammingError

        try:
            conn.cursor().execute(f"USE SCHEMA {self.quote(self.database)}.{self.quote(self.schema)}")
        except ProgrammingError:  # not created yet: ensure_container creates it
            return False
        return True

    @contextmanager
    def session(self, lock: str | None = None) -> Iterator[SnowflakeSession]:
        session = SnowflakeSession(self._open(), self)
        try:
            yield session
        except BaseException:
            self.close()  # a connection in an unknown state is not reused
            raise
        finally:
            if not session.conn.is_closed():
                session.close()

    def close(self) -> None:
        """Close this thread's connection (the next session opens a new one)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------------ DDL
    def ensure_container(self) -> None:
        with self.session() as s:
            s.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.database)}.{self.quote(self.schema)}")

    def create_table_sql(self, table: Table) -> str:
        cols = [
            f"{self.quote(c.name)} {TYPES[c.type]}" + (" NOT NULL" if c.not_null else "")
            for c in table.columns
        ]
        if table.key:
            cols.append(f"PRIMARY KEY ({', '.join(map(self.quote, table.key))})")
        return f"CREATE TABLE IF NOT EXISTS {self.table(table.name)} ({', '.join(cols)})"

    def table_exists(self, session: Session, table: str) -> bool:
        rows = session.execute(
            "SELECT 1 AS x FROM information_schema.tables WHERE UPPER(table_schema) = UPPER(@s) "
            "AND UPPER(table_name) = UPPER(@t)",
            {"s": self.schema, "t": table},
        ).rows
        return bool(rows)

    def column_types(self, session: Session, table: str) -> dict[str, str]:
        rows = session.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE UPPER(table_schema) = UPPER(@s) "
            "AND UPPER(table_name) = UPPER(@t)",
            {"s": self.schema, "t": table},
        ).rows
        return {r["column_name"].lower(): r["data_type"].upper() for r in rows}

    def add_columns(self, session: Session, table: str, columns: Sequence[tuple[str, str]]) -> None:
        step = self.add_columns_per_statement
        for start in range(0, len(columns), step):
            defs = ", ".join(f"{self.quote(c)} {TYPES[t]}" for c, t in columns[start : start + step])
            session.execute(f"ALTER TABLE {self.table(table)} ADD COLUMN {defs}")

    def widen_to_text(self, session: Session, table: str, columns: Mapping[str, str]) -> None:
        """Snowflake cannot change a column to another type family: add a text column, fill it
        with the text form, drop the old one and give the new one its name."""
        t = self.table(table)
        for column, type_ in columns.items():
            family = next((f for f in _TEXT_FORMS if type_.upper().startswith(f)), None)
            if type_.upper() in ("TEXT", "VARCHAR") or family is None:
                continue
            tmp = self.quote(f"{column}__widened")
            session.execute(f"ALTER TABLE {t} ADD COLUMN {tmp} VARCHAR")
            session.execute(f"UPDATE {t} SET {tmp} = {_TEXT_FORMS[family].format(c=self.quote(column))}")
            session.execute(f"ALTER TABLE {t} DROP COLUMN {self.quote(column)}")
            session.execute(f"ALTER TABLE {t} RENAME COLUMN {tmp} TO {self.quote(column)}")

    # ------------------------------------------------------------------ views
    def sibling(self, schema: str) -> SnowflakeDialect:
        """Its own connections: a session's current schema is its dialect's (temporary tables)."""
        twin = SnowflakeDialect(schema, self._connect)
        twin._database = self._database
        return twin

    def list_relations(self, session: Session) -> dict[str, str]:
        """Tables and views (``information_schema.views`` as well: the emulator lists views only
        there, Snowflake in both)."""
        where = "WHERE UPPER(table_schema) = UPPER(@s)"
        tables = session.execute(
            f"SELECT table_name, table_type FROM information_schema.tables {where}", {"s": self.schema}
        )
        found = {
            r["table_name"].lower(): "view" if r["table_type"] == "VIEW" else "table" for r in tables.rows
        }
        views = session.execute(
            f"SELECT table_name FROM information_schema.views {where}", {"s": self.schema}
        )
        return found | {r["table_name"].lower(): "view" for r in views.rows}

    def check_access(self, scratch: str) -> list[tuple[bool, str]]:
        notes: list[tuple[bool, str]] = []
        with self.session() as s:
            me = s.execute("SELECT CURRENT_USER() AS u, CURRENT_ROLE() AS r, CURRENT_VERSION() AS v").rows[0]
            notes.append(
                (True, f"connected as {me['u']} (role {me['r']}) to {self.database} (Snowflake {me['v']})")
            )
            found = s.execute(
                "SELECT 1 AS x FROM information_schema.schemata WHERE UPPER(schema_name) = UPPER(@s)",
                {"s": self.schema},
            ).rows
            if not found:
                notes.append((True, f"schema {self.schema} does not exist yet: the first sync creates it"))
                return notes
            t = self.table(scratch)
            s.execute(f"CREATE TABLE {t} (id NUMBER(19,0), note VARCHAR)")
            try:
                s.execute(f"INSERT INTO {t} (id, note) SELECT 1, @n", {"n": "healthcheck"})
                read = s.execute(f"SELECT note FROM {t}").rows
            finally:
                s.execute(f"DROP TABLE IF EXISTS {t}")
        ok = [r["note"] for r in read] == ["healthcheck"]
        notes.append((ok, f"schema {self.schema}: scratch table created, written, read and dropped"))
        return notes


class SnowflakeWarehouse(SqlWarehouse):
    """HubSpot warehouse in one Snowflake schema."""

    def __init__(
        self,
        schema: str,
        snowflake_conn_id: str | None = None,
        *,
        connection_factory: Callable[[], Any] | None = None,
        max_property_columns: int = DEFAULT_MAX_PROPERTY_COLUMNS,
        fivetran_schema: str | None = None,
    ) -> None:
        if (snowflake_conn_id is None) == (connection_factory is None):
            raise ValueError("pass exactly one of snowflake_conn_id, connection_factory")
        self.schema, self.snowflake_conn_id = schema, snowflake_conn_id
        super().__init__(
            SnowflakeDialect(schema, connection_factory or self._airflow_connection),
            max_property_columns,
            fivetran_schema,
        )

    def _airflow_connection(self) -> Any:
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        return SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()


def build_warehouse(destination: Any, max_property_columns: int | None = None) -> SnowflakeWarehouse:
    kwargs = {"max_property_columns": max_property_columns} if max_property_columns else {}
    return SnowflakeWarehouse(
        destination.tables_schema,
        snowflake_conn_id=destination.conn_id,
        fivetran_schema=destination.fivetran_schema,
        **kwargs,
    )


def explain_error(exc: BaseException, destination: Any) -> str | None:
    """Refused logins and missing privileges: permanent, so the task fails without retrying."""
    try:
        from snowflake.connector import errors
    except ImportError:  # pragma: no cover - the snowflake extra is not installed
        return None
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    refused = isinstance(exc, errors.DatabaseError) and getattr(exc, "errno", None) in (
        250001,
        390100,
        390144,
    )
    if refused or (isinstance(exc, errors.ProgrammingError) and "insufficient privileges" in text.lower()):
        return (
            f"Snowflake refused Airflow connection {destination.conn_id!r}: {text}. Fix the user, role or grants "
            f"of that connection (it needs USAGE on the database and CREATE SCHEMA, or ownership of schema "
            f"{destination.schema_name!r})."
        )
    return None
