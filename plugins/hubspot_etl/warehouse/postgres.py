"""PostgreSQL dialect (psycopg 3): one schema per destination.

Identifiers go through :class:`psycopg.sql.Identifier`; values are bound parameters or COPY data.
Bulk path: ``COPY`` into a temporary table (``ON COMMIT DROP``), then one
``INSERT ... SELECT ... ON CONFLICT ... DO UPDATE ... WHERE`` (or, where an update reads a staged
value that is not inserted as it is, ``UPDATE ... FROM`` and ``INSERT ... WHERE NOT EXISTS``), all
in one transaction with the part's ledger row. Sessions run with ``TimeZone=UTC``.

Connections come from an Airflow connection (``postgres_conn_id``, via ``PostgresHook``), from a
libpq conninfo/URI (``conninfo``), or from any callable returning a psycopg 3 connection
(``connection_factory``). An Airflow URI ``postgresql://user@/db?host=/socket/dir`` works as is.
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments;
# values are always bound parameters or bulk-load data.
# ruff: noqa: S608

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from hubspot_etl.warehouse.base import DEFAULT_MAX_PROPERTY_COLUMNS, WarehouseError
from hubspot_etl.warehouse.core import SqlWarehouse
from hubspot_etl.warehouse.dialect import Dialect, P, Result, Session, Upsert
from hubspot_etl.warehouse.naming import sanitize_identifier
from hubspot_etl.warehouse.records import ROW_BYTES_BUDGET
from hubspot_etl.warehouse.tables import Table
from hubspot_etl.warehouse.types import POSTGRES_NUMERIC

ConnectionFactory = Callable[[], psycopg.Connection]

TYPES = {
    "numeric": "numeric",
    "timestamp": "timestamptz",
    "date": "date",
    "boolean": "boolean",
    "text": "text",
    "bigint": "bigint",
    "integer": "integer",
    "double": "double precision",
    "json": "jsonb",
    "row_id": "bigint GENERATED ALWAYS AS IDENTITY",
}
_DEFAULTS = {"now": "now()", "false": "false", "0": "0"}

#: Server-side settings on every warehouse session (see ``PostgresDialect._detect_dead_clients``).
SESSION_LIVENESS_SETTINGS: tuple[tuple[str, str], ...] = (
    ("tcp_keepalives_idle", "60"),
    ("tcp_keepalives_interval", "10"),
    ("tcp_keepalives_count", "6"),
    ("client_connection_check_interval", "10000"),
)
_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


class PostgresSession(Session):
    def __init__(self, conn: psycopg.Connection, dialect: PostgresDialect) -> None:
        self.conn, self.d, self._stages = conn, dialect, 0

    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> Result:
        values = dict(params or {})

        def placeholder(match: re.Match) -> str:
            value = values.get(match.group(1))
            if isinstance(value, P):
                kind = TYPES[value.type] + ("[]" if isinstance(value.value, list) else "")
                return f"CAST(%({match.group(1)})s AS {kind})"
            return f"%({match.group(1)})s"

        text = _PARAM.sub(placeholder, statement)
        bound = {k: v.value if isinstance(v, P) else v for k, v in values.items()}
        cur = self.conn.cursor(row_factory=dict_row)
        cur.execute(text if bound else statement, bound or None)  # type: ignore[arg-type]
        return Result(cur.fetchall() if cur.description else [], max(cur.rowcount, 0))

    def stage(self, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> str:
        self._stages += 1
        name = f"_hubspot_stage_{self._stages}"
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(TYPES[t])) for c, t in columns
        )
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(sql.Identifier(name), cols)
        )
        names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
        with self.conn.cursor() as cur:
            # The server parses COPY data while Python builds the next rows: libpq sends without
            # blocking until its socket is full.
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(name), names)) as copy:
                for row in rows:
                    copy.write_row(row)
        return self.d.quote(name)


class PostgresDialect(Dialect):
    name = "postgres"
    numeric_limits = POSTGRES_NUMERIC
    row_bytes_budget = ROW_BYTES_BUDGET
    text_values = True
    generates_row_ids = True
    now = "now()"

    def __init__(self, schema: str, connect: Callable[[], psycopg.Connection]) -> None:
        if not schema:
            raise ValueError("schema must not be empty")
        self.schema, self._connect = schema, connect
        self.where = f"schema {schema!r}"

    # ------------------------------------------------------------------ text
    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def table(self, name: str) -> str:
        return f"{self.quote(self.schema)}.{self.quote(name)}"

    def type_sql(self, column_type: str) -> str:
        return TYPES[column_type]

    def column_sql(self, column_type: str, not_null: bool, default: str | None) -> str:
        text = TYPES[column_type] + (" NOT NULL" if not_null and column_type != "row_id" else "")
        return text + (f" DEFAULT {_DEFAULTS[default]}" if default else "")

    def in_list(self, expr: str, param: str) -> str:
        return f"{expr} = ANY(@{param})"

    def add_ms(self, expr: str, param: str) -> str:
        return f"({expr} + @{param} * interval '1 millisecond')"

    def text_to_bigint(self, expr: str) -> str:
        return f"CASE WHEN CAST({expr} AS text) ~ '^[0-9]{{1,18}}$' THEN CAST(CAST({expr} AS text) AS bigint) END"

    def json_merge(self, target: str, source: str, keys_param: str) -> str:
        return (
            f"NULLIF((COALESCE({target}, '{{}}'::jsonb) - @{keys_param}) || COALESCE({source}, '{{}}'::jsonb), "
            "'{}'::jsonb)"
        )

    # ------------------------------------------------------------------ I/O
    def _open(self) -> psycopg.Connection:
        conn = self._connect()
        if not isinstance(conn, psycopg.Connection):
            conn.close()
            raise WarehouseError(
                "PostgresWarehouse needs a psycopg 3 connection (got "
                f"{type(conn).__module__}.{type(conn).__name__}); install psycopg>=3 and SQLAlchemy>=2"
            )
        conn.autocommit = False
        conn.execute("SELECT set_config('TimeZone', 'UTC', false)")
        self._detect_dead_clients(conn)
        conn.commit()
        return conn

    @staticmethod
    def _detect_dead_clients(conn: psycopg.Connection) -> None:
        """Let the server notice a worker that vanished (host lost, not a clean exit).

        Otherwise its session, and the advisory lock and row locks it holds, could linger until
        the operating system's TCP keepalive gives up, often after hours, and block the task's
        retry. Keepalives apply to TCP connections; the client check (PostgreSQL 14+) also catches
        a client that disappears during a long statement.
        """
        for name, value in SESSION_LIVENESS_SETTINGS:
            conn.execute("SAVEPOINT liveness")
            try:
                conn.execute("SELECT set_config(%s, %s, false)", [name, value])
                conn.execute("RELEASE SAVEPOINT liveness")
            except psycopg.Error:  # an older server without the setting: keep going without it
                conn.execute("ROLLBACK TO SAVEPOINT liveness")

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A connection in a transaction: committed on success, rolled back on error, closed."""
        conn = self._open()
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    @contextmanager
    def session(self, lock: str | None = None) -> Iterator[PostgresSession]:
        with self.connect() as conn:
            if lock:  # serialise DDL on the same schema or object between transactions
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"hubspot_etl:{lock}:{self.schema}"],
                )
            yield PostgresSession(conn, self)

    def upsert(self, session: Session, spec: Upsert) -> int:
        """``INSERT ... ON CONFLICT`` when every staged value the update reads is inserted as it
        is (so ``EXCLUDED`` holds it); else ``UPDATE ... FROM`` then ``INSERT ... WHERE NOT EXISTS``."""
        q = self.quote
        target, cols = self.table(spec.table), ", ".join(map(q, spec.insert))
        select = f"SELECT {', '.join(spec.insert.values())} FROM {spec.source} AS S"
        keys = ", ".join(map(q, spec.keys))
        if all(spec.insert.get(c) == f"S.{q(c)}" for c in spec.source_refs()):
            action = "DO NOTHING"
            if spec.update:
                sets = ", ".join(f"{q(c)} = {_excluded(e)}" for c, e in spec.update.items())
                action = f"DO UPDATE SET {sets}" + (f" WHERE {_excluded(spec.when)}" if spec.when else "")
            statement = f"INSERT INTO {target} AS T ({cols}) {select} ON CONFLICT ({keys}) {action}"
            return session.execute(statement, spec.params).affected
        on = " AND ".join(f"T.{q(k)} = S.{q(k)}" for k in spec.keys)
        sets = ", ".join(f"{q(c)} = {e}" for c, e in spec.update.items())
        cond = f" AND ({spec.when})" if spec.when else ""
        updated = session.execute(
            f"UPDATE {target} AS T SET {sets} FROM {spec.source} AS S WHERE {on}{cond}", spec.params
        ).affected
        missing = f"NOT EXISTS (SELECT 1 FROM {target} AS T WHERE {on})"
        inserted = session.execute(
            f"INSERT INTO {target} ({cols}) {select} WHERE {missing} ON CONFLICT ({keys}) DO NOTHING",
            spec.params,
        ).affected
        return updated + inserted

    # ------------------------------------------------------------------ DDL
    def ensure_container(self) -> None:
        with self.session(lock="schema") as s:
            s.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.schema)}")

    def create_table(self, session: Session, table: Table) -> None:
        ddl = self.create_table_sql(table)
        if table.unique:
            ddl = ddl[:-1] + f", UNIQUE ({', '.join(map(self.quote, table.unique))}))"
        session.execute(ddl)
        for column in table.index:
            index = sanitize_identifier(f"{table.name}_{column}_idx")
            session.execute(
                f"CREATE INDEX IF NOT EXISTS {self.quote(index)} ON {self.table(table.name)} ({column})"
            )

    def table_exists(self, session: Session, table: str) -> bool:
        return bool(
            session.execute(
                "SELECT 1 AS x FROM pg_catalog.pg_tables WHERE schemaname = @s AND tablename = @t",
                {"s": self.schema, "t": table},
            ).rows
        )

    def column_types(self, session: Session, table: str) -> dict[str, str]:
        rows = session.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = @s AND table_name = @t",
            {"s": self.schema, "t": table},
        ).rows
        return {r["column_name"].lower(): r["data_type"] for r in rows}

    def column_ordinals(self, session: Session, table: str) -> dict[str, int]:
        rows = session.execute(
            "SELECT a.attname AS name, a.attnum AS num FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = @s AND c.relname = @t AND a.attnum > 0 AND NOT a.attisdropped",
            {"s": self.schema, "t": table},
        ).rows
        return {r["name"]: r["num"] for r in rows}

    def add_columns(self, session: Session, table: str, columns: Sequence[tuple[str, str]]) -> None:
        step = self.add_columns_per_statement
        for start in range(0, len(columns), step):
            clauses = [
                f"ADD COLUMN IF NOT EXISTS {self.quote(c)} {TYPES[t]}"
                for c, t in columns[start : start + step]
            ]
            session.execute(f"ALTER TABLE {self.table(table)} " + ", ".join(clauses))

    def widen_to_text(self, session: Session, table: str, columns: Mapping[str, str]) -> None:
        clauses = []
        for column, type_ in columns.items():
            ident = self.quote(column)
            using = f"{ident}::text"
            if type_.startswith("timestamp"):
                using = f"""to_char({ident} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
            clauses.append(f"ALTER COLUMN {ident} TYPE text USING {using}")
        if clauses:
            session.execute(f"ALTER TABLE {self.table(table)} " + ", ".join(clauses))

    def check_access(self, scratch: str) -> list[tuple[bool, str]]:
        notes: list[tuple[bool, str]] = []
        with self.session() as s:
            me = s.execute(
                "SELECT current_user AS u, current_database() AS db, current_setting('server_version') AS v"
            ).rows[0]
            user, database = me["u"], me["db"]
            notes.append((True, f"connected as {user} to {database} (PostgreSQL {me['v']})"))
            found = s.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = @s) AS e", {"s": self.schema}
            )
            if not found.rows[0]["e"]:
                can = s.execute("SELECT has_database_privilege(current_database(), 'CREATE') AS c").rows[0][
                    "c"
                ]
                if can:
                    notes.append(
                        (True, f"schema {self.schema} does not exist yet: the first sync creates it")
                    )
                else:
                    notes.append(
                        (
                            False,
                            f"schema {self.schema} does not exist and {user} may not CREATE in {database}",
                        )
                    )
                return notes
            rights = s.execute(
                "SELECT has_schema_privilege(@s, 'USAGE') AS u, has_schema_privilege(@s, 'CREATE') AS c",
                {"s": self.schema},
            ).rows[0]
            if not (rights["u"] and rights["c"]):
                notes.append((False, f"{user} lacks USAGE and CREATE on schema {self.schema}"))
                return notes
            t = self.table(scratch)
            s.execute(f"CREATE TABLE {t} (id bigint PRIMARY KEY, note text)")
            s.execute(f"INSERT INTO {t} VALUES (1, @n)", {"n": "healthcheck"})
            read = s.execute(f"SELECT note FROM {t}").rows[0]["note"]
            s.execute(f"DROP TABLE {t}")
            notes.append(
                (read == "healthcheck", f"CREATE on schema {self.schema}: scratch table created and dropped")
            )
        return notes

    # ------------------------------------------------------------------ views
    views_bind_columns = True
    max_identifier_bytes = 63

    def sibling(self, schema: str) -> PostgresDialect:
        return PostgresDialect(schema, self._connect)

    def list_relations(self, session: Session) -> dict[str, str]:
        rows = session.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = @s",
            {"s": self.schema},
        ).rows
        return {r["table_name"].lower(): "view" if r["table_type"] == "VIEW" else "table" for r in rows}

    def replace_view(self, session: Session, name: str, select: str) -> None:
        """``CREATE OR REPLACE VIEW`` keeps views built on this one, but only takes new columns
        at the end; any other change drops the view and creates it again (in the transaction)."""
        session.execute("SAVEPOINT replace_view")
        try:
            session.execute(f"CREATE OR REPLACE VIEW {self.table(name)} AS {select}")
        except psycopg.errors.InvalidTableDefinition:
            session.execute("ROLLBACK TO SAVEPOINT replace_view")
            session.execute(f"DROP VIEW IF EXISTS {self.table(name)}")
            session.execute(f"CREATE VIEW {self.table(name)} AS {select}")
        session.execute("RELEASE SAVEPOINT replace_view")

    # ------------------------------------------------------------------ leases
    @contextmanager
    def session_lock(self, key: str, wait: bool, timeout_s: float | None) -> Iterator[None]:
        """A session advisory lock on a dedicated connection (freed by the server if the worker dies)."""
        key = f"hubspot_etl:{key.replace('sync:', f'sync:{self.schema}:', 1)}"
        conn = self._open()
        conn.autocommit = True
        try:
            self._acquire(conn, key, wait, timeout_s)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
        finally:
            conn.close()

    @staticmethod
    def _acquire(conn: psycopg.Connection, key: str, wait: bool, timeout_s: float | None) -> None:
        started = time.monotonic()
        if not wait or (timeout_s is not None and timeout_s <= 0):
            row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key]).fetchone()
            if not (row and row[0]):
                raise TimeoutError("not waiting")
            return
        if timeout_s is not None:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", [f"{int(timeout_s * 1000)}ms"])
        try:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
        except psycopg.errors.LockNotAvailable as exc:
            raise TimeoutError(f"gave up after {time.monotonic() - started:.1f}s") from exc
        finally:
            if timeout_s is not None:
                conn.execute("SELECT set_config('lock_timeout', '0', false)")


def _excluded(expr: str) -> str:
    """Staged values of an ``ON CONFLICT`` update are the proposed row: ``EXCLUDED``."""
    return re.sub(r"\bS\.", "EXCLUDED.", expr)


class PostgresWarehouse(SqlWarehouse):
    """HubSpot warehouse in one PostgreSQL schema."""

    def __init__(
        self,
        schema: str,
        postgres_conn_id: str | None = None,
        conninfo: str | None = None,
        *,
        connection_factory: ConnectionFactory | None = None,
        max_property_columns: int = DEFAULT_MAX_PROPERTY_COLUMNS,
        fivetran_schema: str | None = None,
    ) -> None:
        sources = [x for x in (postgres_conn_id, conninfo, connection_factory) if x is not None]
        if len(sources) != 1:
            raise ValueError("pass exactly one of postgres_conn_id, conninfo, connection_factory")
        self.schema, self.postgres_conn_id = schema, postgres_conn_id
        self._hook: Any = None
        if connection_factory is None:
            connection_factory = (lambda: psycopg.connect(conninfo)) if conninfo else self._airflow_connection
        super().__init__(PostgresDialect(schema, connection_factory), max_property_columns, fivetran_schema)
        self.connect = self.d.connect

    def _airflow_connection(self) -> psycopg.Connection:
        """A psycopg 3 connection from the Airflow connection, on every supported Airflow.

        ``PostgresHook.get_conn()`` returns psycopg 3 only where the provider switched to it
        (SQLAlchemy 2, so Airflow 3.1 and newer). On Airflow 3.0 (SQLAlchemy 1.4) it returns
        psycopg2; there the same arguments the hook would pass (the connection's fields and the
        extras it does not consume itself, IAM tokens included) go to ``psycopg.connect``.
        """
        from airflow.providers.postgres.hooks import postgres as provider

        hook = self._provider_hook()
        if getattr(provider, "USE_PSYCOPG3", False):
            return hook.get_conn()  # type: ignore[return-value]
        conn = hook.connection
        extras = dict(conn.extra_dejson or {})
        login, password, port = conn.login, conn.password, conn.port
        if extras.get("iam"):
            login, password, port = hook.get_iam_token(conn)
        arguments: dict[str, Any] = {"host": conn.host, "user": login, "password": password}
        arguments |= {"dbname": conn.schema, "port": port}
        arguments.update((k, v) for k, v in extras.items() if k not in hook.ignored_extra_options)
        return psycopg.connect(**{k: v for k, v in arguments.items() if v not in (None, "")})

    def _provider_hook(self) -> Any:
        """One ``PostgresHook`` per warehouse: it looks the Airflow connection up once.

        Each lookup is a request to Airflow's API server from a task, and a sync opens a
        connection per transaction.
        """
        if self._hook is None:
            from airflow.providers.postgres.hooks.postgres import PostgresHook

            self._hook = PostgresHook(postgres_conn_id=self.postgres_conn_id)
        return self._hook


_PERMANENT = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # role or database
    "permission denied",
    "must be owner of",
)


def build_warehouse(destination: Any, max_property_columns: int | None = None) -> PostgresWarehouse:
    kwargs = {"max_property_columns": max_property_columns} if max_property_columns else {}
    return PostgresWarehouse(
        destination.tables_schema,
        postgres_conn_id=destination.conn_id,
        fivetran_schema=destination.fivetran_schema,
        **kwargs,
    )


def explain_error(exc: BaseException, destination: Any) -> str | None:
    """Refused logins and missing privileges: permanent, so the task fails without retrying."""
    if not isinstance(exc, psycopg.Error):
        return None
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    permanent = isinstance(exc, psycopg.errors.InsufficientPrivilege) or (
        isinstance(exc, psycopg.OperationalError) and any(p in text for p in _PERMANENT)
    )
    if not permanent:
        return None
    return (
        f"The PostgreSQL warehouse refused Airflow connection {destination.conn_id!r}: {text}. Fix the login, "
        f"database or privileges of that connection (it needs CREATE on the database and on "
        f"schema {destination.schema_name!r})."
    )
