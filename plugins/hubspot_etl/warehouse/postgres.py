"""PostgreSQL implementation of :class:`~hubspot_etl.warehouse.base.Warehouse` (psycopg 3).

Every identifier goes through :class:`psycopg.sql.Identifier` and every value is a bound
parameter or COPY data; no value is ever pasted into SQL text.

Connections come from an Airflow connection (``postgres_conn_id``, via ``PostgresHook``), from a
libpq conninfo/URI (``conninfo``), or from any callable returning a psycopg 3 connection
(``connection_factory``). Sessions run with ``TimeZone=UTC``.

Bulk path of :meth:`PostgresWarehouse.load_part`: parse the NDJSON part, convert values in Python
(:mod:`hubspot_etl.warehouse.types`), ``COPY`` into a temporary table (``ON COMMIT DROP``), then one
``INSERT ... SELECT DISTINCT ON (id) ... ON CONFLICT (id) DO UPDATE ... WHERE newer`` and a row in
``_hubspot_loaded_parts``, all in one transaction.

Load semantics:

* A row is updated only when the incoming ``updatedAt`` is >= the stored one (or either is
  NULL), so an older part loaded late never overwrites newer data. The update also copies the
  deletion columns from the record: a live record clears ``_is_deleted``/``_deleted_at``/
  ``_deletion_kind``/``merged_into_id`` (HubSpot does not bump ``updatedAt`` on delete, so a record
  seen live again restores itself); a record with ``archived: true`` is flagged ``archived``.
* Duplicate ids in one part: newest ``updatedAt`` wins, then the later line.
* Only the properties present in the part are written; columns of properties the part does not
  carry keep their values. ``_rejects`` and ``_extra_properties`` keys of those properties are
  replaced (removed, then the part's keys merged in with ``||``), others kept. So spilled and
  unknown properties are merged into ``_extra_properties``, and a value moved there because its
  row was too wide for a page (see :mod:`hubspot_etl.warehouse.records`) does not linger once a
  later version of the record has it in its column again.

``PostgresHook`` and Unix sockets: an Airflow URI ``postgresql://user@/db?host=/socket/dir``
works as is (the ``host`` query parameter lands in the connection extras, which the hook passes to
``psycopg.connect`` and which override the empty host).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from hubspot_etl.warehouse.base import (
    DEFAULT_MAX_PROPERTY_COLUMNS,
    DELETION_KINDS,
    ColumnSpec,
    DeletedId,
    LoadResult,
    SchemaChange,
    SchemaChangeSummary,
    Warehouse,
    WarehouseError,
    WarehouseLockError,
    iter_chunks,
)
from hubspot_etl.warehouse.naming import (
    ColumnMapper,
    association_table_name,
    pipeline_table_names,
    sanitize_identifier,
    table_name_for_object,
)
from hubspot_etl.warehouse.planning import SchemaPlan, plan_schema
from hubspot_etl.warehouse.records import ROW_BYTES_BUDGET, RowBuilder, property_names_in, read_part
from hubspot_etl.warehouse.types import (
    POSTGRES_NUMERIC,
    LogicalType,
    convert,
    convert_boolean,
    convert_datetime,
)

ConnectionFactory = Callable[[], psycopg.Connection]

PG_TYPES: dict[LogicalType, str] = {
    LogicalType.NUMERIC: "numeric",
    LogicalType.TIMESTAMP: "timestamptz",
    LogicalType.DATE: "date",
    LogicalType.BOOLEAN: "boolean",
    LogicalType.TEXT: "text",
}

_SYSTEM_DDL = """
    _created_at timestamptz,
    _updated_at timestamptz,
    _is_deleted boolean NOT NULL DEFAULT false,
    _deleted_at timestamptz,
    _deletion_kind text,
    merged_into_id bigint,
    _synced_at timestamptz,
    _rejects jsonb,
    _extra_properties jsonb
"""

_METADATA_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {s}._hubspot_column_map (
        object_name text NOT NULL, property_name text NOT NULL, column_name text NOT NULL,
        logical_type text NOT NULL, hubspot_type text, spilled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (object_name, property_name), UNIQUE (object_name, column_name))""",
    """CREATE TABLE IF NOT EXISTS {s}.property_definition (
        object_name text NOT NULL, name text NOT NULL, label text, type text, field_type text,
        group_name text, description text, options jsonb, hubspot_defined boolean,
        archived boolean NOT NULL DEFAULT false, _synced_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (object_name, name))""",
    """CREATE TABLE IF NOT EXISTS {s}._hubspot_schema_changes (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, object_name text NOT NULL,
        change text NOT NULL, property_name text, column_name text, old_type text, new_type text,
        at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS {s}._hubspot_loaded_parts (
        object_name text NOT NULL, part_id text NOT NULL, rows bigint NOT NULL DEFAULT 0,
        loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (object_name, part_id))""",
    """CREATE TABLE IF NOT EXISTS {s}._hubspot_sync_state (
        object_name text PRIMARY KEY, watermark timestamptz, last_full_load_at timestamptz,
        last_run_id text, updated_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS {s}._hubspot_run_report (
        run_id text NOT NULL, object_name text NOT NULL, mode text, status text,
        started_at timestamptz, finished_at timestamptz, duration_s double precision,
        records_fetched bigint, records_upserted bigint, rejects bigint, api_calls jsonb,
        search_splits integer, associations jsonb, deletes jsonb, schema_changes jsonb,
        columns_spilled integer, columns_renamed integer, details jsonb,
        PRIMARY KEY (object_name, run_id))""",
    """CREATE TABLE IF NOT EXISTS {s}._hubspot_run_leases (
        object_name text PRIMARY KEY, run_id text NOT NULL, acquired_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}._hubspot_association_tables (
        table_name text PRIMARY KEY, from_object text NOT NULL, to_object text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.owner (
        id bigint PRIMARY KEY, email text, first_name text, last_name text, user_id bigint,
        user_id_including_inactive bigint, type text, teams jsonb, archived boolean NOT NULL DEFAULT false,
        created_at timestamptz, updated_at timestamptz, _synced_at timestamptz NOT NULL DEFAULT now())""",
)

RUN_REPORT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "object_name",
    "mode",
    "status",
    "started_at",
    "finished_at",
    "duration_s",
    "records_fetched",
    "records_upserted",
    "rejects",
    "api_calls",
    "search_splits",
    "associations",
    "deletes",
    "schema_changes",
    "columns_spilled",
    "columns_renamed",
    "details",
)
_JSON_REPORT_COLUMNS = frozenset({"api_calls", "associations", "deletes", "schema_changes", "details"})

_ADD_COLUMNS_PER_STATEMENT = 400


def _q(template: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """``sql.SQL(template).format(...)`` with str arguments wrapped as identifiers."""
    args = {k: v if isinstance(v, sql.Composable) else sql.Identifier(v) for k, v in identifiers.items()}
    return sql.SQL(template).format(**args)  # type: ignore[arg-type]


def _idents(names: Sequence[str]) -> sql.Composed:
    """``"a", "b", "c"``"""
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _placeholders(count: int) -> sql.Composed:
    """``%s, %s, %s``"""
    return sql.SQL(", ").join(sql.Placeholder() for _ in range(count))


def _set_excluded(names: Sequence[str]) -> sql.Composed:
    """``"a" = EXCLUDED."a", ...``"""
    return sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in names)


def _ts(value: Any) -> datetime | None:
    """HubSpot timestamp (ISO string, ms epoch string/int, datetime) -> datetime or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    parsed, _ = convert_datetime(str(value))
    return parsed


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value).strip())


#: Server-side settings on every warehouse session (see ``PostgresWarehouse._detect_dead_clients``).
SESSION_LIVENESS_SETTINGS: tuple[tuple[str, str], ...] = (
    ("tcp_keepalives_idle", "60"),
    ("tcp_keepalives_interval", "10"),
    ("tcp_keepalives_count", "6"),
    ("client_connection_check_interval", "10000"),
)


class PostgresWarehouse(Warehouse):
    """HubSpot warehouse in one PostgreSQL schema."""

    numeric_limits = POSTGRES_NUMERIC
    #: Per-row size limit: values of wider rows are moved to ``_extra_properties`` (see records.py).
    row_bytes_budget = ROW_BYTES_BUDGET

    def __init__(
        self,
        schema: str,
        postgres_conn_id: str | None = None,
        conninfo: str | None = None,
        *,
        connection_factory: ConnectionFactory | None = None,
        max_property_columns: int = DEFAULT_MAX_PROPERTY_COLUMNS,
    ) -> None:
        sources = [x for x in (postgres_conn_id, conninfo, connection_factory) if x is not None]
        if len(sources) != 1:
            raise ValueError("pass exactly one of postgres_conn_id, conninfo, connection_factory")
        if not schema:
            raise ValueError("schema must not be empty")
        self.schema = schema
        self.postgres_conn_id = postgres_conn_id
        self.conninfo = conninfo
        self.connection_factory = connection_factory
        self.max_property_columns = max_property_columns

    # ------------------------------------------------------------------ connections
    def _raw_connection(self) -> psycopg.Connection:
        if self.connection_factory is not None:
            return self.connection_factory()
        if self.conninfo is not None:
            return psycopg.connect(self.conninfo)
        return self._airflow_connection()

    def _airflow_connection(self) -> psycopg.Connection:
        """A psycopg 3 connection from the Airflow connection, on every supported Airflow.

        ``PostgresHook.get_conn()`` returns psycopg 3 only where the provider switched to it
        (SQLAlchemy 2, so Airflow 3.1 and newer). On Airflow 3.0 (SQLAlchemy 1.4) it returns
        psycopg2; there the same arguments the hook would pass (the connection's fields and the
        extras it does not consume itself, IAM tokens included) go to ``psycopg.connect``.
        """
        from airflow.providers.postgres.hooks import postgres as provider

        hook = provider.PostgresHook(postgres_conn_id=self.postgres_conn_id)
        if getattr(provider, "USE_PSYCOPG3", False):
            return hook.get_conn()  # type: ignore[return-value]
        conn = hook.get_connection(self.postgres_conn_id)
        extras = dict(conn.extra_dejson or {})
        login, password, port = conn.login, conn.password, conn.port
        if extras.get("iam"):
            login, password, port = hook.get_iam_token(conn)
        arguments: dict[str, Any] = {
            "host": conn.host,
            "user": login,
            "password": password,
            "dbname": conn.schema,
            "port": port,
        }
        arguments.update((k, v) for k, v in extras.items() if k not in hook.ignored_extra_options)
        return psycopg.connect(**{k: v for k, v in arguments.items() if v not in (None, "")})

    def _open(self) -> psycopg.Connection:
        conn = self._raw_connection()
        if not isinstance(conn, psycopg.Connection):
            conn.close()
            raise WarehouseError(
                "PostgresWarehouse needs a psycopg 3 connection (got "
                f"{type(conn).__module__}.{type(conn).__name__}); install psycopg>=3 and SQLAlchemy>=2"
            )
        conn.row_factory = tuple_row
        conn.autocommit = False
        conn.execute("SELECT set_config('TimeZone', 'UTC', false)")
        self._detect_dead_clients(conn)
        conn.commit()
        return conn

    @staticmethod
    def _detect_dead_clients(conn: psycopg.Connection) -> None:
        """Let the server notice a worker that vanished (host lost, not a clean exit).

        Otherwise its session, and the advisory lock and row locks it holds, could linger
        until the operating system's TCP keepalive gives up, often after hours, and block
        the task's retry. Keepalives apply to TCP connections; the client check (PostgreSQL
        14+) also catches a client that disappears during a long statement.
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

    def _t(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    def _xact_lock(self, conn: psycopg.Connection, purpose: str) -> None:
        """Serialise DDL on the same schema/object between concurrent transactions."""
        key = f"hubspot_etl:{purpose}:{self.schema}"
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])

    # ------------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        """Create the schema and the metadata tables (idempotent, safe to run concurrently)."""
        with self.connect() as conn:
            self._xact_lock(conn, "schema")
            conn.execute(_q("CREATE SCHEMA IF NOT EXISTS {s}", s=self.schema))
            for ddl in _METADATA_DDL:
                conn.execute(_q(ddl, s=self.schema))

    def exists(self) -> bool:
        """True when :meth:`ensure_schema` has run (the schema and its metadata tables exist)."""
        with self.connect() as conn:
            return self._table_exists(conn, "_hubspot_sync_state")

    def column_specs(self, object_name: str) -> dict[str, ColumnSpec]:
        """Recorded mapping of an object (property name -> :class:`ColumnSpec`)."""
        with self.connect() as conn:
            return self._load_specs(conn, object_name)

    def _load_specs(self, conn: psycopg.Connection, object_name: str) -> dict[str, ColumnSpec]:
        rows = conn.execute(
            _q(
                "SELECT property_name, column_name, logical_type, hubspot_type, spilled "
                "FROM {t} WHERE object_name = %s",
                t=self._t("_hubspot_column_map"),
            ),
            [object_name],
        ).fetchall()
        return {r[0]: ColumnSpec(r[0], r[1], LogicalType(r[2]), r[3] or "", r[4]) for r in rows}

    def _table_exists(self, conn: psycopg.Connection, table: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s",
            [self.schema, table],
        ).fetchone()
        return row is not None

    def ensure_object_table(self, object_name: str, properties: Sequence[Mapping]) -> SchemaChangeSummary:
        """Create/evolve the object table; see :meth:`Warehouse.ensure_object_table`."""
        table = table_name_for_object(object_name)
        with self.connect() as conn:
            self._xact_lock(conn, f"ddl:{object_name}")
            created = not self._table_exists(conn, table)
            if created:
                conn.execute(
                    _q(
                        "CREATE TABLE {t} (id bigint PRIMARY KEY, " + _SYSTEM_DDL + ")",
                        t=self._t(table),
                    )
                )
            existing = self._load_specs(conn, object_name)
            mapper = ColumnMapper({p: s.column_name for p, s in existing.items()})
            plan = plan_schema(
                existing, properties, max_property_columns=self.max_property_columns, mapper=mapper
            )
            self._apply_plan(conn, table, plan)
            changes = ([SchemaChange("table_created", new_type=table)] if created else []) + plan.changes
            self._record_specs(conn, object_name, plan.changed)
            self._record_changes(conn, object_name, changes)
            self._upsert_property_definitions(conn, object_name, properties)
        return SchemaChangeSummary(
            table=table,
            created=created,
            added=len(plan.added),
            widened=len(plan.widened),
            spilled=len(plan.spilled),
            renamed=plan.renamed,
            changes=changes,
        )

    def _apply_plan(self, conn: psycopg.Connection, table: str, plan: SchemaPlan) -> None:
        for chunk in iter_chunks(plan.added, _ADD_COLUMNS_PER_STATEMENT):
            clauses = [
                sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(
                    sql.Identifier(spec.column_name), sql.SQL(PG_TYPES[spec.logical_type])
                )
                for spec in chunk
            ]
            conn.execute(sql.SQL("ALTER TABLE {} ").format(self._t(table)) + sql.SQL(", ").join(clauses))
        if plan.widened:
            clauses = [self._widen_clause(conn, table, spec.column_name) for spec in plan.widened]
            conn.execute(sql.SQL("ALTER TABLE {} ").format(self._t(table)) + sql.SQL(", ").join(clauses))

    def _widen_clause(self, conn: psycopg.Connection, table: str, column: str) -> sql.Composed:
        """``ALTER COLUMN c TYPE text USING <readable text form>`` (timestamps as ISO-8601 Z)."""
        row = conn.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            [self.schema, table, column],
        ).fetchone()
        ident = sql.Identifier(column)
        using: sql.Composable = sql.SQL("{}::text").format(ident)
        if row and row[0].startswith("timestamp"):
            using = sql.SQL("""to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""").format(
                ident
            )
        return sql.SQL("ALTER COLUMN {} TYPE text USING {}").format(ident, using)

    def _record_specs(self, conn: psycopg.Connection, object_name: str, specs: Sequence[ColumnSpec]) -> None:
        if not specs:
            return
        query = _q(
            "INSERT INTO {t} AS m (object_name, property_name, column_name, logical_type, hubspot_type, spilled) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (object_name, property_name) DO UPDATE SET "
            "logical_type = EXCLUDED.logical_type, hubspot_type = EXCLUDED.hubspot_type, updated_at = now()",
            t=self._t("_hubspot_column_map"),
        )
        with conn.cursor() as cur:
            cur.executemany(
                query,
                [
                    (
                        object_name,
                        s.property_name,
                        s.column_name,
                        s.logical_type.value,
                        s.hubspot_type,
                        s.spilled,
                    )
                    for s in specs
                ],
            )

    def _record_changes(
        self, conn: psycopg.Connection, object_name: str, changes: Sequence[SchemaChange]
    ) -> None:
        if not changes:
            return
        query = _q(
            "INSERT INTO {t} (object_name, change, property_name, column_name, old_type, new_type) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            t=self._t("_hubspot_schema_changes"),
        )
        with conn.cursor() as cur:
            cur.executemany(
                query,
                [
                    (object_name, c.change, c.property_name, c.column_name, c.old_type, c.new_type)
                    for c in changes
                ],
            )

    def _upsert_property_definitions(
        self, conn: psycopg.Connection, object_name: str, properties: Sequence[Mapping]
    ) -> None:
        if not properties:
            return
        columns = (
            "label",
            "type",
            "field_type",
            "group_name",
            "description",
            "options",
            "hubspot_defined",
            "archived",
        )
        query = _q(
            "INSERT INTO {t} (object_name, name, label, type, field_type, group_name, description, options, "
            "hubspot_defined, archived, _synced_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now()) "
            "ON CONFLICT (object_name, name) DO UPDATE SET {sets}, _synced_at = now()",
            t=self._t("property_definition"),
            sets=_set_excluded(columns),
        )
        rows = [
            (
                object_name,
                str(p["name"]),
                p.get("label"),
                p.get("type"),
                p.get("fieldType"),
                p.get("groupName"),
                p.get("description"),
                Jsonb(p.get("options") or []),
                p.get("hubspotDefined"),
                bool(p.get("archived", False)),
            )
            for p in properties
        ]
        with conn.cursor() as cur:
            cur.executemany(query, rows)

    # ------------------------------------------------------------------ load
    def load_part(self, object_name: str, part_id: str, path: str | Path) -> LoadResult:
        """Upsert one NDJSON part in one transaction (COPY -> temp table -> INSERT ON CONFLICT)."""
        records = read_part(path)
        table = table_name_for_object(object_name)
        with self.connect() as conn:
            if not self._claim_part(conn, object_name, part_id, len(records)):
                conn.rollback()
                return LoadResult(rows=0, rejects=0, skipped=True)
            specs = self._load_specs(conn, object_name)
            builder = RowBuilder(
                specs,
                property_names_in(records),
                self.numeric_limits,
                column_order=self._column_ordinals(conn, table),
                row_bytes_budget=self.row_bytes_budget,
                postgres_text=True,
            )
            self._create_stage(conn, builder)
            self._copy_stage(conn, builder, records)
            upserted = self._merge_stage(conn, table, builder)
        stats = builder.stats
        return LoadResult(
            rows=len(records),
            rejects=sum(stats.rejects.values()),
            skipped=False,
            upserted=upserted,
            reject_reasons=dict(stats.rejects),
            unmapped=stats.unmapped,
            overflowed_rows=stats.overflowed_rows,
            overflowed_values=stats.overflowed_values,
        )

    def _column_ordinals(self, conn: psycopg.Connection, table: str) -> dict[str, int]:
        """``column name -> attnum`` of the object table (empty if it does not exist)."""
        rows = conn.execute(
            "SELECT a.attname, a.attnum FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            [self.schema, table],
        ).fetchall()
        return {name: num for name, num in rows}

    def _claim_part(self, conn: psycopg.Connection, object_name: str, part_id: str, rows: int) -> bool:
        """Insert the loaded-part marker; False if the part was loaded before (or concurrently)."""
        cur = conn.execute(
            _q(
                "INSERT INTO {t} (object_name, part_id, rows) VALUES (%s, %s, %s) "
                "ON CONFLICT (object_name, part_id) DO NOTHING",
                t=self._t("_hubspot_loaded_parts"),
            ),
            [object_name, part_id, rows],
        )
        return cur.rowcount == 1

    def _create_stage(self, conn: psycopg.Connection, builder: RowBuilder) -> None:
        cols = [sql.SQL("id bigint")]
        cols += [
            sql.SQL("{} {}").format(sql.Identifier(c.column_name), sql.SQL(PG_TYPES[c.logical_type]))
            for c in builder.columns
        ]
        cols.append(sql.SQL(_SYSTEM_DDL.replace("_synced_at timestamptz,", "") + ", _seq integer"))
        conn.execute(
            sql.SQL("CREATE TEMP TABLE _hubspot_stage ({}) ON COMMIT DROP").format(sql.SQL(", ").join(cols))
        )

    def _copy_stage(self, conn: psycopg.Connection, builder: RowBuilder, records: list[Any]) -> None:
        """COPY the rows of ``records`` into the stage; each record is dropped from the list (set
        to None) once its row is sent, so their memory is freed and reused while the server still
        parses, instead of all at once after the load (measured ~8% of a 500-property load)."""
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in builder.column_names)
        statement = sql.SQL("COPY _hubspot_stage ({}) FROM STDIN").format(columns)
        with conn.cursor() as cur:
            # The server parses COPY data while Python converts the next rows: libpq sends without
            # blocking until its socket is full. (A queued writer thread measured slower: it only
            # adds thread hand-offs and GIL contention to the converting thread.)
            with cur.copy(statement) as copy:
                for i, row in enumerate(builder.rows(records)):
                    copy.write_row(row)
                    records[i] = None  # built and sent

    def _merge_stage(self, conn: psycopg.Connection, table: str, builder: RowBuilder) -> int:
        prop_cols = [sql.Identifier(c.column_name) for c in builder.columns]
        plain = ["_is_deleted", "_deleted_at", "_deletion_kind", "merged_into_id"]
        insert_cols = [
            sql.Identifier("id"),
            *prop_cols,
            *(sql.Identifier(c) for c in ["_created_at", "_updated_at", *plain]),
            sql.Identifier("_synced_at"),
            sql.Identifier("_rejects"),
            sql.Identifier("_extra_properties"),
        ]
        select_cols = [*insert_cols]
        select_cols[-3] = sql.SQL("now()")
        sets = [sql.SQL("{0} = EXCLUDED.{0}").format(c) for c in prop_cols]
        sets += [sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in ["_updated_at", *plain]]
        sets += [
            sql.SQL("_created_at = COALESCE(EXCLUDED._created_at, t._created_at)"),
            sql.SQL("_synced_at = EXCLUDED._synced_at"),
            sql.SQL(
                "_rejects = NULLIF((COALESCE(t._rejects, '{}'::jsonb) - %s::text[]) "
                "|| COALESCE(EXCLUDED._rejects, '{}'::jsonb), '{}'::jsonb)"
            ),
            # Keys of the part's properties are replaced: a value moved out of a too-wide row is
            # dropped from here when a later version has it in its column again.
            sql.SQL(
                "_extra_properties = NULLIF((COALESCE(t._extra_properties, '{}'::jsonb) - %s::text[]) "
                "|| COALESCE(EXCLUDED._extra_properties, '{}'::jsonb), '{}'::jsonb)"
            ),
        ]
        # Duplicate ids in one part: the newest updatedAt wins, then the last line.
        dedupe = sql.SQL(
            "SELECT DISTINCT ON (id) {sel} FROM _hubspot_stage ORDER BY id, _updated_at DESC NULLS FIRST, _seq DESC"
            if builder.has_duplicates
            else "SELECT {sel} FROM _hubspot_stage"
        ).format(sel=sql.SQL(", ").join(select_cols))
        query = sql.SQL(
            "INSERT INTO {target} AS t ({cols}) {dedupe} "
            "ON CONFLICT (id) DO UPDATE SET {sets} "
            "WHERE t._updated_at IS NULL OR EXCLUDED._updated_at IS NULL OR EXCLUDED._updated_at >= t._updated_at"
        ).format(
            target=self._t(table),
            cols=sql.SQL(", ").join(insert_cols),
            dedupe=dedupe,
            sets=sql.SQL(", ").join(sets),
        )
        reject_keys = [*builder.property_names, "createdAt", "updatedAt", "archivedAt"]
        return conn.execute(query, [reject_keys, builder.property_names]).rowcount

    # ------------------------------------------------------------------ deletes
    def mark_deleted(self, object_name: str, ids_with_kind: Sequence[DeletedId]) -> int:
        """Flag ids deleted in bulk (one UPDATE + one INSERT of tombstones for unknown ids)."""
        if not ids_with_kind:
            return 0
        for _, kind, _, _ in ids_with_kind:
            if kind not in DELETION_KINDS:
                raise ValueError(f"deletion kind must be one of {DELETION_KINDS}, got {kind!r}")
        ids, kinds, deleted_at, merged = (list(col) for col in zip(*ids_with_kind, strict=True))
        params = [
            [int(i) for i in ids],
            kinds,
            [_ts(d) for d in deleted_at],
            [_int_or_none(m) for m in merged],
        ]
        source = sql.SQL(
            "(SELECT DISTINCT ON (id) * FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::bigint[]) "
            "AS u(id, kind, deleted_at, merged_into_id) ORDER BY id)"
        )
        table = self._t(table_name_for_object(object_name))
        with self.connect() as conn:
            updated = conn.execute(
                sql.SQL(
                    "UPDATE {t} AS t SET _is_deleted = true, _deletion_kind = u.kind, "
                    "merged_into_id = u.merged_into_id, _synced_at = now(), "
                    "_deleted_at = COALESCE(u.deleted_at, CASE WHEN t._is_deleted THEN t._deleted_at END, now()) "
                    "FROM {source} AS u WHERE t.id = u.id"
                ).format(t=table, source=source),
                params,
            ).rowcount
            inserted = conn.execute(
                sql.SQL(
                    "INSERT INTO {t} (id, _is_deleted, _deleted_at, _deletion_kind, merged_into_id, _synced_at) "
                    "SELECT u.id, true, COALESCE(u.deleted_at, now()), u.kind, u.merged_into_id, now() "
                    "FROM {source} AS u ON CONFLICT (id) DO NOTHING"
                ).format(t=table, source=source),
                params,
            ).rowcount
        return updated + inserted

    def restore(self, object_name: str, ids: Sequence[int]) -> int:
        """Clear delete flags of ``ids``."""
        if not ids:
            return 0
        with self.connect() as conn:
            return conn.execute(
                _q(
                    "UPDATE {t} SET _is_deleted = false, _deleted_at = NULL, _deletion_kind = NULL, "
                    "merged_into_id = NULL, _synced_at = now() WHERE id = ANY(%s::bigint[]) AND _is_deleted",
                    t=self._t(table_name_for_object(object_name)),
                ),
                [[int(i) for i in ids]],
            ).rowcount

    def live_ids(self, object_name: str, synced_before: datetime | None = None) -> set[int]:
        """Ids not flagged deleted (only those last synced before ``synced_before`` if given).

        An object whose table does not exist yet has no live ids.
        """
        table = table_name_for_object(object_name)
        with self.connect() as conn:
            if not self._table_exists(conn, table):
                return set()
            rows = conn.execute(
                _q(
                    "SELECT id FROM {t} WHERE NOT _is_deleted "
                    "AND (%(before)s::timestamptz IS NULL OR _synced_at < %(before)s::timestamptz)",
                    t=self._t(table),
                ),
                {"before": synced_before},
            ).fetchall()
        return {r[0] for r in rows}

    def deletion_kinds(self, object_name: str) -> dict[int, str | None]:
        """``id -> _deletion_kind`` (``None`` for live rows) of every row of the object's table."""
        table = table_name_for_object(object_name)
        with self.connect() as conn:
            if not self._table_exists(conn, table):
                return {}
            rows = conn.execute(
                _q("SELECT id, CASE WHEN _is_deleted THEN _deletion_kind END FROM {t}", t=self._t(table))
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def merge_targets(self, object_name: str) -> dict[int, int]:
        """``id -> merged_into_id`` of the rows flagged merged."""
        table = table_name_for_object(object_name)
        with self.connect() as conn:
            if not self._table_exists(conn, table):
                return {}
            rows = conn.execute(
                _q(
                    "SELECT id, merged_into_id FROM {t} WHERE _is_deleted AND _deletion_kind = 'merged' "
                    "AND merged_into_id IS NOT NULL",
                    t=self._t(table),
                )
            ).fetchall()
        return {int(i): int(m) for i, m in rows}

    # ------------------------------------------------------------------ associations
    def _ensure_association_table(
        self, conn: psycopg.Connection, table: str, from_object: str = "", to_object: str = ""
    ) -> None:
        self._xact_lock(conn, f"assoc:{table}")
        if from_object and to_object:
            conn.execute(
                _q(
                    "INSERT INTO {r} (table_name, from_object, to_object) VALUES (%s, %s, %s) "
                    "ON CONFLICT (table_name) DO NOTHING",
                    r=self._t("_hubspot_association_tables"),
                ),
                [table, table_name_for_object(from_object), table_name_for_object(to_object)],
            )
        conn.execute(
            _q(
                "CREATE TABLE IF NOT EXISTS {t} (from_id bigint NOT NULL, to_id bigint NOT NULL, "
                "type_id integer NOT NULL, category text, label text, "
                "_synced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (from_id, to_id, type_id))",
                t=self._t(table),
            )
        )
        conn.execute(
            _q(
                "CREATE INDEX IF NOT EXISTS {i} ON {t} (to_id)",
                i=sanitize_identifier(f"{table}_to_id_idx"),
                t=self._t(table),
            )
        )

    def replace_associations(
        self, from_object: str, to_object: str, from_ids: Sequence[int], rows: Sequence[Mapping]
    ) -> int:
        """Make the associations of ``from_ids`` equal ``rows``, in one transaction.

        Only differences are written: rows HubSpot no longer returns are deleted, new ones
        inserted, and rows whose category or label changed updated. Returns how many rows
        changed (0 when nothing did), so a refresh of unchanged associations writes nothing.
        """
        table = association_table_name(from_object, to_object)
        ids = [int(i) for i in from_ids]
        with self.connect() as conn:
            self._ensure_association_table(conn, table, from_object, to_object)
            conn.execute(
                "CREATE TEMP TABLE _hubspot_assoc_stage (from_id bigint, to_id bigint, type_id integer, "
                "category text, label text, _seq integer) ON COMMIT DROP"
            )
            with conn.cursor() as cur:
                with cur.copy("COPY _hubspot_assoc_stage FROM STDIN") as copy:
                    for seq, row in enumerate(rows):
                        copy.write_row(
                            (
                                int(row["from_id"]),
                                int(row["to_id"]),
                                int(row["type_id"]),
                                row.get("category"),
                                row.get("label"),
                                seq,
                            )
                        )
            removed = conn.execute(
                _q(
                    "DELETE FROM {t} AS t WHERE t.from_id = ANY(%s::bigint[]) AND NOT EXISTS (SELECT 1 FROM "
                    "_hubspot_assoc_stage s WHERE s.from_id = t.from_id AND s.to_id = t.to_id "
                    "AND s.type_id = t.type_id)",
                    t=self._t(table),
                ),
                [ids],
            ).rowcount
            upserted = conn.execute(
                _q(
                    "INSERT INTO {t} AS t (from_id, to_id, type_id, category, label, _synced_at) "
                    "SELECT DISTINCT ON (from_id, to_id, type_id) from_id, to_id, type_id, category, label, now() "
                    "FROM _hubspot_assoc_stage ORDER BY from_id, to_id, type_id, _seq DESC "
                    "ON CONFLICT (from_id, to_id, type_id) DO UPDATE SET category = EXCLUDED.category, "
                    "label = EXCLUDED.label, _synced_at = EXCLUDED._synced_at "
                    "WHERE t.category IS DISTINCT FROM EXCLUDED.category OR t.label IS DISTINCT FROM EXCLUDED.label",
                    t=self._t(table),
                )
            ).rowcount
        return removed + upserted

    def delete_associations_for(
        self, from_object: str, to_object: str, ids: Sequence[int], side: str = "both"
    ) -> int:
        """Delete associations touching ``ids`` on the given side (``from``, ``to`` or ``both``)."""
        conditions = {
            "from": sql.SQL("from_id = ANY(%(ids)s::bigint[])"),
            "to": sql.SQL("to_id = ANY(%(ids)s::bigint[])"),
            "both": sql.SQL("from_id = ANY(%(ids)s::bigint[]) OR to_id = ANY(%(ids)s::bigint[])"),
        }
        if side not in conditions:
            raise ValueError(f"side must be one of {sorted(conditions)}, got {side!r}")
        if not ids:
            return 0
        table = association_table_name(from_object, to_object)
        with self.connect() as conn:
            if not self._table_exists(conn, table):
                return 0
            return conn.execute(
                _q("DELETE FROM {t} WHERE {cond}", t=self._t(table), cond=conditions[side]),
                {"ids": [int(i) for i in ids]},
            ).rowcount

    def follow_merges_and_deletes(
        self, object_name: str, merged_into: Mapping[int, int], deleted: Sequence[int]
    ) -> int:
        """Make associations follow merged and deleted records, in every association table.

        HubSpot moves a merged record's associations to the survivor and stops returning
        associations of deleted records. Rows of this object's own tables (``from`` side)
        are dropped for both; rows of other objects' tables that point at a merged record
        (``to`` side) are re-pointed to the survivor, and those pointing at a deleted record
        are dropped. Returns the number of rows changed.
        """
        gone = [int(i) for i in (*merged_into.keys(), *deleted)]
        if not gone:
            return 0
        table_name = table_name_for_object(object_name)
        pairs = [[int(k) for k in merged_into], [int(v) for v in merged_into.values()]]
        changed = 0
        with self.connect() as conn:
            if not self._table_exists(conn, "_hubspot_association_tables"):
                return 0
            tables = conn.execute(
                _q(
                    "SELECT table_name, from_object = %(o)s, to_object = %(o)s FROM {r} "
                    "WHERE from_object = %(o)s OR to_object = %(o)s ORDER BY table_name",
                    r=self._t("_hubspot_association_tables"),
                ),
                {"o": table_name},
            ).fetchall()
            for table, is_from, is_to in tables:
                t = self._t(table)
                if is_to and merged_into:
                    changed += conn.execute(
                        _q(
                            "INSERT INTO {t} (from_id, to_id, type_id, category, label, _synced_at) "
                            "SELECT a.from_id, m.survivor, a.type_id, a.category, a.label, now() FROM {t} a "
                            "JOIN unnest(%s::bigint[], %s::bigint[]) AS m(merged, survivor) ON a.to_id = m.merged "
                            "ON CONFLICT (from_id, to_id, type_id) DO NOTHING",
                            t=t,
                        ),
                        pairs,
                    ).rowcount
                if is_to:
                    changed += conn.execute(
                        _q("DELETE FROM {t} WHERE to_id = ANY(%s::bigint[])", t=t), [gone]
                    ).rowcount
                if is_from:
                    changed += conn.execute(
                        _q("DELETE FROM {t} WHERE from_id = ANY(%s::bigint[])", t=t), [gone]
                    ).rowcount
        return changed

    # ------------------------------------------------------------------ pipelines
    def _ensure_pipeline_tables(self, conn: psycopg.Connection, pipeline: str, stage: str) -> None:
        self._xact_lock(conn, f"pipeline:{pipeline}")
        common = (
            "archived boolean NOT NULL DEFAULT false, archived_at timestamptz, created_at timestamptz, "
            "updated_at timestamptz, _is_deleted boolean NOT NULL DEFAULT false, _deleted_at timestamptz, "
            "_synced_at timestamptz NOT NULL DEFAULT now()"
        )
        conn.execute(
            _q(
                "CREATE TABLE IF NOT EXISTS {t} (id text PRIMARY KEY, label text, display_order integer, "
                + common
                + ")",
                t=self._t(pipeline),
            )
        )
        conn.execute(
            _q(
                "CREATE TABLE IF NOT EXISTS {t} (pipeline_id text NOT NULL, id text NOT NULL, label text, "
                "display_order integer, probability numeric, is_closed boolean, ticket_state text, "
                "metadata jsonb, write_permissions text, " + common + ", PRIMARY KEY (pipeline_id, id))",
                t=self._t(stage),
            )
        )

    def upsert_pipelines(self, object_name: str, pipelines: Sequence[Mapping]) -> dict[str, int]:
        """Upsert pipelines + stages; archived or no-longer-returned ones get ``_is_deleted``."""
        pipeline_table, stage_table = pipeline_table_names(object_name)
        p_rows = [_pipeline_row(p) for p in pipelines]
        s_rows = [_stage_row(p, s) for p in pipelines for s in p.get("stages") or []]
        with self.connect() as conn:
            self._ensure_pipeline_tables(conn, pipeline_table, stage_table)
            deleted_case = sql.SQL(
                "CASE WHEN EXCLUDED._is_deleted THEN COALESCE(t._deleted_at, EXCLUDED._deleted_at) END"
            )
            with conn.cursor() as cur:
                cur.executemany(
                    _q(
                        "INSERT INTO {t} AS t (id, label, display_order, archived, archived_at, created_at, "
                        "updated_at, _is_deleted, _deleted_at, _synced_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now()) ON CONFLICT (id) DO UPDATE SET "
                        "label = EXCLUDED.label, display_order = EXCLUDED.display_order, "
                        "archived = EXCLUDED.archived, archived_at = EXCLUDED.archived_at, "
                        "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, "
                        "_is_deleted = EXCLUDED._is_deleted, _deleted_at = {deleted_case}, "
                        "_synced_at = now()",
                        t=self._t(pipeline_table),
                        deleted_case=deleted_case,
                    ),
                    p_rows,
                )
                cur.executemany(
                    _q(
                        "INSERT INTO {t} AS t (pipeline_id, id, label, display_order, probability, is_closed, "
                        "ticket_state, metadata, write_permissions, archived, archived_at, created_at, updated_at, "
                        "_is_deleted, _deleted_at, _synced_at) VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now()) "
                        "ON CONFLICT (pipeline_id, id) DO UPDATE SET label = EXCLUDED.label, "
                        "display_order = EXCLUDED.display_order, probability = EXCLUDED.probability, "
                        "is_closed = EXCLUDED.is_closed, ticket_state = EXCLUDED.ticket_state, "
                        "metadata = EXCLUDED.metadata, write_permissions = EXCLUDED.write_permissions, "
                        "archived = EXCLUDED.archived, archived_at = EXCLUDED.archived_at, "
                        "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, "
                        "_is_deleted = EXCLUDED._is_deleted, _deleted_at = {deleted_case}, "
                        "_synced_at = now()",
                        t=self._t(stage_table),
                        deleted_case=deleted_case,
                    ),
                    s_rows,
                )
            gone_p = conn.execute(
                _q(
                    "UPDATE {t} SET _is_deleted = true, _deleted_at = now(), _synced_at = now() "
                    "WHERE NOT _is_deleted AND NOT (id = ANY(%s::text[]))",
                    t=self._t(pipeline_table),
                ),
                [[r[0] for r in p_rows]],
            ).rowcount
            gone_s = conn.execute(
                _q(
                    "UPDATE {t} AS s SET _is_deleted = true, _deleted_at = now(), _synced_at = now() "
                    "WHERE NOT s._is_deleted AND NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) "
                    "AS u(pipeline_id, id) WHERE u.pipeline_id = s.pipeline_id AND u.id = s.id)",
                    t=self._t(stage_table),
                ),
                [[r[0] for r in s_rows], [r[1] for r in s_rows]],
            ).rowcount
        return {
            "pipelines": len(p_rows),
            "stages": len(s_rows),
            "pipelines_gone": gone_p,
            "stages_gone": gone_s,
        }

    # ------------------------------------------------------------------ owners
    def upsert_owners(self, owners: Sequence[Mapping]) -> int:
        """Upsert owners into ``owner`` (active and archived lists may be passed together)."""
        if not owners:
            return 0
        cols = (
            "id",
            "email",
            "first_name",
            "last_name",
            "user_id",
            "user_id_including_inactive",
            "type",
            "teams",
            "archived",
            "created_at",
            "updated_at",
        )
        query = _q(
            "INSERT INTO {t} ({cols}, _synced_at) VALUES ({values}, now()) "
            "ON CONFLICT (id) DO UPDATE SET {sets}, _synced_at = now()",
            t=self._t("owner"),
            cols=_idents(cols),
            values=_placeholders(len(cols)),
            sets=_set_excluded(cols[1:]),
        )
        rows = [
            (
                int(o["id"]),
                o.get("email"),
                o.get("firstName"),
                o.get("lastName"),
                _int_or_none(o.get("userId")),
                _int_or_none(o.get("userIdIncludingInactive")),
                o.get("type"),
                Jsonb(o.get("teams") or []),
                bool(o.get("archived", False)),
                _ts(o.get("createdAt")),
                _ts(o.get("updatedAt")),
            )
            for o in owners
        ]
        with self.connect() as conn, conn.cursor() as cur:
            cur.executemany(query, rows)
        return len(rows)

    def check_access(self, scratch_suffix: str) -> list[tuple[bool, str]]:
        """See :meth:`Warehouse.check_access`; the scratch table lives in one transaction."""
        notes: list[tuple[bool, str]] = []
        with self.connect() as conn:
            user, database, version = conn.execute(
                "SELECT current_user, current_database(), current_setting('server_version')"
            ).fetchone()
            notes.append((True, f"connected as {user} to {database} (PostgreSQL {version})"))
            schema_exists = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", [self.schema]
            ).fetchone()[0]
            if not schema_exists:
                can_create = conn.execute(
                    "SELECT has_database_privilege(current_database(), 'CREATE')"
                ).fetchone()[0]
                notes.append(
                    (bool(can_create), f"schema {self.schema} does not exist yet: the first sync creates it")
                    if can_create
                    else (
                        False,
                        f"schema {self.schema} does not exist and {user} may not CREATE in {database}",
                    )
                )
                return notes
            usage, create = conn.execute(
                "SELECT has_schema_privilege(%s, 'USAGE'), has_schema_privilege(%s, 'CREATE')",
                [self.schema, self.schema],
            ).fetchone()
            if not (usage and create):
                notes.append((False, f"{user} lacks USAGE and CREATE on schema {self.schema}"))
                return notes
            scratch = self._t(f"_hubspot_healthcheck_{scratch_suffix}")
            conn.execute(_q("CREATE TABLE {t} (id bigint PRIMARY KEY, note text)", t=scratch))
            conn.execute(_q("INSERT INTO {t} VALUES (1, %s)", t=scratch), ["healthcheck"])
            read = conn.execute(_q("SELECT note FROM {t}", t=scratch)).fetchone()[0]
            conn.execute(_q("DROP TABLE {t}", t=scratch))
            notes.append(
                (read == "healthcheck", f"CREATE on schema {self.schema}: scratch table created and dropped")
            )
        return notes

    def owner_versions(self) -> dict[int, tuple[datetime | None, bool]]:
        """``id -> (updated_at, archived)`` of the stored owners (empty before the first sync)."""
        with self.connect() as conn:
            if not self._table_exists(conn, "owner"):
                return {}
            rows = conn.execute(_q("SELECT id, updated_at, archived FROM {t}", t=self._t("owner"))).fetchall()
        return {int(i): (updated, bool(archived)) for i, updated, archived in rows}

    # ------------------------------------------------------------------ state / reports
    def get_sync_state(self, object_name: str) -> dict | None:
        """The stored sync state or None."""
        with self.connect() as conn:
            cur = conn.execute(
                _q(
                    "SELECT object_name, watermark, last_full_load_at, last_run_id, updated_at "
                    "FROM {t} WHERE object_name = %s",
                    t=self._t("_hubspot_sync_state"),
                ),
                [object_name],
            )
            row = cur.fetchone()
            names = [d.name for d in cur.description or []]
        return dict(zip(names, row, strict=True)) if row else None

    def set_sync_state(
        self,
        object_name: str,
        watermark: datetime | None,
        last_full_load_at: datetime | None = None,
        run_id: str | None = None,
    ) -> None:
        """Upsert the sync state (``last_full_load_at=None`` keeps the stored value)."""
        with self.connect() as conn:
            conn.execute(
                _q(
                    "INSERT INTO {t} AS s (object_name, watermark, last_full_load_at, last_run_id, updated_at) "
                    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (object_name) DO UPDATE SET "
                    "watermark = EXCLUDED.watermark, "
                    "last_full_load_at = COALESCE(EXCLUDED.last_full_load_at, s.last_full_load_at), "
                    "last_run_id = EXCLUDED.last_run_id, updated_at = now()",
                    t=self._t("_hubspot_sync_state"),
                ),
                [object_name, watermark, last_full_load_at, run_id],
            )

    def write_run_report(self, report: Mapping[str, Any]) -> None:
        """Upsert a run report; unknown keys are merged into ``details``."""
        row = _report_row(report)
        cols = list(row)
        query = _q(
            "INSERT INTO {t} ({cols}) VALUES ({values}) ON CONFLICT (object_name, run_id) DO UPDATE SET {sets}",
            t=self._t("_hubspot_run_report"),
            cols=_idents(cols),
            values=_placeholders(len(cols)),
            sets=_set_excluded([c for c in cols if c not in ("object_name", "run_id")]),
        )
        with self.connect() as conn:
            conn.execute(query, list(row.values()))

    def get_run_report(self, object_name: str, run_id: str) -> dict | None:
        """One run report as a dict, or None."""
        with self.connect() as conn:
            cur = conn.execute(
                _q(
                    "SELECT {cols} FROM {t} WHERE object_name = %s AND run_id = %s",
                    t=self._t("_hubspot_run_report"),
                    cols=_idents(RUN_REPORT_COLUMNS),
                ),
                [object_name, run_id],
            )
            row = cur.fetchone()
        return dict(zip(RUN_REPORT_COLUMNS, row, strict=True)) if row else None

    # ------------------------------------------------------------------ locking
    def _lock_key(self, object_name: str) -> str:
        return f"hubspot_etl:sync:{self.schema}:{object_name}"

    @contextmanager
    def object_lock(
        self, object_name: str, wait: bool = True, timeout_s: float | None = None
    ) -> Iterator[None]:
        """Session advisory lock on a dedicated connection, held for the ``with`` block."""
        key = self._lock_key(object_name)
        conn = self._open()
        conn.autocommit = True
        try:
            self._acquire(conn, object_name, key, wait, timeout_s)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
        finally:
            conn.close()

    # ------------------------------------------------------------------ run leases
    def acquire_run_lease(self, object_name: str, run_id: str, ttl: timedelta) -> None:
        """Claim ``object_name`` for one DAG run, or renew this run's claim, for ``ttl``.

        A lease held by another run that has not expired raises :class:`WarehouseLockError`
        naming that run; an expired one (a run that died without releasing) is taken over.
        """
        with self.connect() as conn:
            row = conn.execute(
                _q(
                    "INSERT INTO {t} AS l (object_name, run_id, acquired_at, expires_at) "
                    "VALUES (%(o)s, %(r)s, now(), now() + %(ttl)s) ON CONFLICT (object_name) DO UPDATE SET "
                    "run_id = EXCLUDED.run_id, expires_at = EXCLUDED.expires_at, acquired_at = "
                    "CASE WHEN l.run_id = EXCLUDED.run_id THEN l.acquired_at ELSE now() END "
                    "WHERE l.run_id = EXCLUDED.run_id OR l.expires_at < now() RETURNING run_id",
                    t=self._t("_hubspot_run_leases"),
                ),
                {"o": object_name, "r": run_id, "ttl": ttl},
            ).fetchone()
            if row is None:
                raise self._lease_error(conn, object_name, run_id)

    def check_run_lease(self, object_name: str, run_id: str) -> None:
        """Raise :class:`WarehouseLockError` unless ``run_id`` holds the object's lease."""
        with self.connect() as conn:
            row = conn.execute(
                _q("SELECT run_id FROM {t} WHERE object_name = %s", t=self._t("_hubspot_run_leases")),
                [object_name],
            ).fetchone()
            if row is None or row[0] != run_id:
                raise self._lease_error(conn, object_name, run_id)

    def release_run_lease(self, object_name: str, run_id: str) -> None:
        """Give the object's lease back (only if ``run_id`` holds it)."""
        with self.connect() as conn:
            conn.execute(
                _q(
                    "DELETE FROM {t} WHERE object_name = %s AND run_id = %s", t=self._t("_hubspot_run_leases")
                ),
                [object_name, run_id],
            )

    def _lease_error(self, conn: psycopg.Connection, object_name: str, run_id: str) -> WarehouseLockError:
        holder = conn.execute(
            _q(
                "SELECT run_id, acquired_at, expires_at FROM {t} WHERE object_name = %s",
                t=self._t("_hubspot_run_leases"),
            ),
            [object_name],
        ).fetchone()
        if holder is None:
            return WarehouseLockError(
                f"run {run_id!r} no longer holds the sync lease of {object_name!r} in schema {self.schema!r} "
                "(it expired and was released); run the DAG run again"
            )
        return WarehouseLockError(
            f"another sync of {object_name!r} is running in schema {self.schema!r}: run {holder[0]!r} holds "
            f"the lease since {holder[1]:%Y-%m-%d %H:%M:%S} UTC (expires {holder[2]:%Y-%m-%d %H:%M:%S} UTC); "
            f"run {run_id!r} will not interleave with it: retry when it has finished"
        )

    def _acquire(
        self, conn: psycopg.Connection, object_name: str, key: str, wait: bool, timeout_s: float | None
    ) -> None:
        started = time.monotonic()
        if not wait or (timeout_s is not None and timeout_s <= 0):
            row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key]).fetchone()
            if not (row and row[0]):
                raise self._lock_error(conn, object_name, "not waiting")
            return
        if timeout_s is not None:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", [f"{int(timeout_s * 1000)}ms"])
        try:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
        except psycopg.errors.LockNotAvailable as exc:
            waited = time.monotonic() - started
            raise self._lock_error(conn, object_name, f"gave up after {waited:.1f}s") from exc
        finally:
            if timeout_s is not None:
                conn.execute("SELECT set_config('lock_timeout', '0', false)")

    def _lock_error(self, conn: psycopg.Connection, object_name: str, how: str) -> WarehouseLockError:
        return WarehouseLockError(
            f"another sync of {object_name!r} holds the lock in schema {self.schema!r} ({how}); "
            "wait for it to finish or retry later"
        )


# ---------------------------------------------------------------------- row helpers
def _pipeline_row(p: Mapping) -> tuple:
    archived = bool(p.get("archived", False))
    archived_at = _ts(p.get("archivedAt"))
    return (
        str(p["id"]),
        p.get("label"),
        _int_or_none(p.get("displayOrder")),
        archived,
        archived_at,
        _ts(p.get("createdAt")),
        _ts(p.get("updatedAt")),
        archived,
        (archived_at or datetime.now().astimezone()) if archived else None,
    )


def _stage_row(p: Mapping, s: Mapping) -> tuple:
    metadata = dict(s.get("metadata") or {})
    probability, _ = convert(_str_or_none(metadata.get("probability")), LogicalType.NUMERIC)
    is_closed = None
    if metadata.get("isClosed") is not None:
        is_closed, _ = convert_boolean(str(metadata["isClosed"]))
    archived = bool(s.get("archived", False))
    archived_at = _ts(s.get("archivedAt"))
    return (
        str(p["id"]),
        str(s["id"]),
        s.get("label"),
        _int_or_none(s.get("displayOrder")),
        probability,
        is_closed,
        metadata.get("ticketState"),
        Jsonb(metadata),
        s.get("writePermissions"),
        archived,
        archived_at,
        _ts(s.get("createdAt")),
        _ts(s.get("updatedAt")),
        archived,
        (archived_at or datetime.now().astimezone()) if archived else None,
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _report_row(report: Mapping[str, Any]) -> dict[str, Any]:
    """Map a report dict onto the run-report columns (JSON columns wrapped, extras into details)."""
    if not report.get("run_id") or not report.get("object_name"):
        raise ValueError("a run report needs run_id and object_name")
    row: dict[str, Any] = {c: report.get(c) for c in RUN_REPORT_COLUMNS}
    extra = {k: v for k, v in report.items() if k not in RUN_REPORT_COLUMNS}
    if extra:
        row["details"] = {**(row["details"] or {}), **extra}
    started, finished = row["started_at"], row["finished_at"]
    if row["duration_s"] is None and isinstance(started, datetime) and isinstance(finished, datetime):
        row["duration_s"] = (finished - started).total_seconds()
    for col in _JSON_REPORT_COLUMNS:
        if row[col] is not None:
            row[col] = Jsonb(json.loads(json.dumps(row[col], default=str)))
    return row
