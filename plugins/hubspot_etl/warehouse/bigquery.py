"""BigQuery dialect: one dataset per destination, the same tables as every destination.

Types: numbers ``BIGNUMERIC`` (38 digits before and 38 after the point; values beyond are
``out_of_range`` rejects), ``TIMESTAMP``, ``DATE``, ``BOOL``, ``STRING``; ids ``INT64``; documents
``JSON``. Identifiers are validated (:func:`ident`) and backtick-quoted; values travel only as query
parameters or as NDJSON load data. Rows never go through streaming inserts: they are loaded with
``load_table_from_file`` into a uniquely named staging table, applied with one ``MERGE``, and the
staging table is dropped. BigQuery has no transactions across jobs: the core records a part only
after its merge (see :mod:`hubspot_etl.warehouse.core`) and keeps object locks as lease rows.
See ``docs/bigquery.md`` for the layouts and the emulator notes.
"""

# S608: the only interpolated pieces are identifiers that went through ident()/table() and fixed
# SQL fragments; values are always query parameters or load data.
# ruff: noqa: S608

from __future__ import annotations

import copy
import io
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import bigquery
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from hubspot_etl.warehouse.base import DEFAULT_MAX_PROPERTY_COLUMNS, WarehouseError
from hubspot_etl.warehouse.core import SqlWarehouse
from hubspot_etl.warehouse.dialect import Dialect, P, Result, Session
from hubspot_etl.warehouse.naming import BIGQUERY_MAX_COLUMN_CHARS
from hubspot_etl.warehouse.rows import json_default
from hubspot_etl.warehouse.tables import Table
from hubspot_etl.warehouse.types import BIGQUERY_BIGNUMERIC

log = logging.getLogger(__name__)

TYPES = {
    "numeric": "BIGNUMERIC",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "boolean": "BOOL",
    "text": "STRING",
    "bigint": "INT64",
    "integer": "INT64",
    "double": "FLOAT64",
    "json": "JSON",
    "row_id": "STRING",
}
#: Staged as text and read back exactly: a load job cannot write BIGNUMERIC on every backend.
_STAGE_TYPES = {"numeric": "STRING", "json": "STRING"}
#: DDL type name -> the name the tables API reports.
_API_TYPES = {"BOOL": "BOOLEAN", "INT64": "INTEGER", "FLOAT64": "FLOAT"}

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATASET_RE = re.compile(r"[A-Za-z0-9_]{1,1024}")
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,127}")
#: Column name prefixes BigQuery reserves.
_RESERVED_PREFIXES = ("_table_", "_file_", "_partition", "_row_timestamp", "__root__", "_colon_", "_change_")
_RETRYABLE = ("could not serialize access", "concurrent update", "ratelimitexceeded", "exceeded rate limits")


def ident(name: str) -> str:
    """Backtick-quoted identifier after validating it against BigQuery's column naming rules."""
    if (
        not isinstance(name, str)
        or not _IDENT_RE.fullmatch(name)
        or len(name) > BIGQUERY_MAX_COLUMN_CHARS
        or name.lower().startswith(_RESERVED_PREFIXES)
    ):
        raise WarehouseError(f"not a valid BigQuery identifier: {name!r}")
    return f"`{name}`"


def _is_retryable_dml(exc: BaseException) -> bool:
    """Concurrent DML on one table and rate limits: BigQuery asks to retry the statement."""
    text = str(exc).lower()
    return isinstance(exc, gexc.BadRequest | gexc.Forbidden | gexc.TooManyRequests) and (
        any(t in text for t in _RETRYABLE) or "too many dml statements" in text
    )


def _param(name: str, value: Any) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    type_ = TYPES[value.type] if isinstance(value, P) else _type_of(value)
    raw = value.value if isinstance(value, P) else value
    if isinstance(raw, list):
        return bigquery.ArrayQueryParameter(name, type_, raw)
    if isinstance(raw, datetime) and raw.tzinfo is None:
        raw = raw.replace(tzinfo=UTC)
    return bigquery.ScalarQueryParameter(name, type_, raw)


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float | Decimal):
        return "BIGNUMERIC"
    if isinstance(value, datetime):
        return "TIMESTAMP"
    return "STRING"


class BigQuerySession(Session):
    """Statements are query jobs; staging tables are dropped when the session ends."""

    def __init__(self, dialect: BigQueryDialect) -> None:
        self.d = dialect
        self.staged: list[str] = []

    def execute(
        self, statement: str, params: Mapping[str, Any] | None = None, *, dry_run: bool = False
    ) -> Result:
        config = bigquery.QueryJobConfig(
            query_parameters=[_param(k, v) for k, v in (params or {}).items()],
            use_legacy_sql=False,
            dry_run=dry_run,
        )
        for attempt in Retrying(
            retry=retry_if_exception(_is_retryable_dml),
            stop=stop_after_attempt(6),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        ):
            with attempt:
                job = self.d.client.query(statement, job_config=config, location=self.d.location)
                if dry_run:
                    return Result()
                rows = [dict(r.items()) for r in job.result()]
                return Result(rows, int(job.num_dml_affected_rows or 0))
        raise AssertionError("unreachable")  # pragma: no cover

    def stage(self, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> str:
        name = f"_hubspot_stage_{uuid.uuid4().hex}"
        self.staged.append(name)
        names = [c for c, _ in columns]
        data = "".join(
            json.dumps(dict(zip(names, r, strict=False)), ensure_ascii=False, default=json_default) + "\n"
            for r in rows
        )
        if data:
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
                create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
                schema=[bigquery.SchemaField(c, self.d.stage_type(t)) for c, t in columns],
                ignore_unknown_values=False,
                max_bad_records=0,
            )
            source = io.BytesIO(data.encode("utf-8"))
            self.d.client.load_table_from_file(
                source, self.d.ref(name), job_config=config, location=self.d.location
            ).result()
        else:
            cols = ", ".join(f"{ident(c)} {self.d.stage_type(t)}" for c, t in columns)
            self.execute(f"CREATE TABLE {self.d.table(name)} ({cols})")
        return self.d.table(name)

    def close(self) -> None:
        for name in self.staged:
            try:
                self.d.client.delete_table(self.d.ref(name), not_found_ok=True)
            except Exception:  # pragma: no cover - best effort, the name is unique
                log.warning("could not drop staging table %s", name, exc_info=True)


class BigQueryDialect(Dialect):
    name = "bigquery"
    transactional = False
    numeric_limits = BIGQUERY_BIGNUMERIC
    add_columns_per_statement = 1000

    def __init__(
        self, dataset: str, gcp_conn_id: str | None, project: str | None, location: str | None, client: Any
    ) -> None:
        if (gcp_conn_id is None) == (client is None):
            raise ValueError("pass exactly one of gcp_conn_id, client")
        if not dataset or not _DATASET_RE.fullmatch(dataset):
            raise ValueError(f"not a valid BigQuery dataset id: {dataset!r}")
        if project is not None and not _PROJECT_RE.fullmatch(project):
            raise ValueError(f"not a valid BigQuery project id: {project!r}")
        self.dataset, self.gcp_conn_id = dataset, gcp_conn_id
        self._project, self._location, self._client = project, location, client
        self._client_lock = threading.Lock()
        self._single_alter = False  # learnt: the server takes one ALTER action per statement
        self.where = f"dataset {dataset!r}"

    @property
    def client(self) -> bigquery.Client:
        """The BigQuery client (built from the Airflow connection on first use)."""
        with self._client_lock:
            if self._client is None:
                from hubspot_etl.hooks.bigquery import EndpointBigQueryHook

                hook = EndpointBigQueryHook(gcp_conn_id=self.gcp_conn_id, location=self._location)
                self._client = hook.get_client(project_id=self._project, location=self._location)
            return self._client

    @property
    def project(self) -> str:
        project = self._project or self.client.project
        if not project or not _PROJECT_RE.fullmatch(project):
            raise WarehouseError(f"no valid BigQuery project (got {project!r})")
        return project

    @property
    def location(self) -> str | None:
        return self._location or getattr(self.client, "location", None)

    def ref(self, table: str) -> str:
        """``project.dataset.table`` for the client API."""
        ident(table)
        return f"{self.project}.{self.dataset}.{table}"

    # ------------------------------------------------------------------ text
    def quote(self, name: str) -> str:
        return ident(name)

    def table(self, name: str) -> str:
        return f"`{self.ref(name)}`"

    def type_sql(self, column_type: str) -> str:
        return TYPES[column_type]

    def stage_type(self, column_type: str) -> str:
        return _STAGE_TYPES.get(column_type) or TYPES[column_type]

    def staged(self, expr: str, column_type: str) -> str:
        return {"numeric": f"CAST({expr} AS BIGNUMERIC)", "json": f"PARSE_JSON({expr})"}.get(
            column_type, expr
        )

    def in_list(self, expr: str, param: str) -> str:
        return f"{expr} IN UNNEST(@{param})"

    def text_to_bigint(self, expr: str) -> str:
        return f"SAFE_CAST(CAST({expr} AS STRING) AS INT64)"

    def add_ms(self, expr: str, param: str) -> str:
        return f"TIMESTAMP_ADD({expr}, INTERVAL @{param} MILLISECOND)"

    # ------------------------------------------------------------------ I/O
    @contextmanager
    def session(self, lock: str | None = None) -> Iterator[BigQuerySession]:
        session = BigQuerySession(self)
        try:
            yield session
        finally:
            session.close()

    # ------------------------------------------------------------------ DDL
    def ensure_container(self) -> None:
        ds = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.location:
            ds.location = self.location
        self.client.create_dataset(ds, exists_ok=True)

    def create_table_sql(self, table: Table) -> str:
        """All columns NULLABLE: a table rewrite (``CREATE OR REPLACE ... AS SELECT``) keeps the schema."""
        cols = ", ".join(f"{ident(c.name)} {TYPES[c.type]}" for c in table.columns)
        ddl = f"CREATE TABLE IF NOT EXISTS {self.table(table.name)} ({cols})"
        if table.partition:
            ddl += f" PARTITION BY DATE({ident(table.partition)})"
        if table.cluster:
            ddl += " CLUSTER BY " + ", ".join(map(ident, table.cluster))
        return ddl

    def table_exists(self, session: Session, table: str) -> bool:
        try:
            self.client.get_table(self.ref(table))
        except gexc.NotFound:
            return False
        return True

    def column_types(self, session: Session, table: str) -> dict[str, str]:
        try:
            return {f.name.lower(): f.field_type for f in self.client.get_table(self.ref(table)).schema}
        except gexc.NotFound:
            return {}

    def add_columns(self, session: Session, table: str, columns: Sequence[tuple[str, str]]) -> None:
        """``ADD COLUMN IF NOT EXISTS`` (all in one statement, or one per statement where the server
        takes only one); columns the tables API does not list afterwards are added to its schema
        too (a no-op on BigQuery; the emulator's ALTER changes storage but not that metadata)."""
        clauses = [f"ADD COLUMN IF NOT EXISTS {ident(c)} {TYPES[t]}" for c, t in columns]
        for start in range(0, len(clauses), self.add_columns_per_statement):
            chunk = clauses[start : start + self.add_columns_per_statement]
            if not self._single_alter:
                try:
                    session.execute(f"ALTER TABLE {self.table(table)} " + ", ".join(chunk))
                    continue
                except gexc.BadRequest as exc:
                    if len(chunk) == 1 or "one alter command per statement" not in str(exc).lower():
                        raise
                    self._single_alter = True
            for clause in chunk:
                session.execute(f"ALTER TABLE {self.table(table)} {clause}")
        if not columns:
            return
        tbl = self.client.get_table(self.ref(table))
        listed = {f.name.lower() for f in tbl.schema}
        unlisted = [(c, TYPES[t]) for c, t in columns if c.lower() not in listed]
        if unlisted:
            tbl.schema = [*tbl.schema, *(bigquery.SchemaField(c, _API_TYPES.get(t, t)) for c, t in unlisted)]
            self.client.update_table(tbl, ["schema"])

    def widen_to_text(self, session: Session, table: str, columns: Mapping[str, str]) -> None:
        """Rewrite the table with the columns cast to STRING: BigQuery cannot ``ALTER COLUMN`` a
        numeric, timestamp, date or bool column to STRING."""
        todo = {c: t for c, t in columns.items() if t != "STRING"}
        if not todo:
            return
        replaces = ", ".join(f"{_as_text(ident(c), t)} AS {ident(c)}" for c, t in todo.items())
        session.execute(
            f"CREATE OR REPLACE TABLE {self.table(table)} CLUSTER BY `id` AS "
            f"SELECT * REPLACE ({replaces}) FROM {self.table(table)}"
        )

    def verify_columns(self, session: Session, table: str, names: Sequence[str]) -> None:
        """Every column is in the table metadata and queryable (a dry run)."""
        types = self.column_types(session, table)
        absent = [c for c in names if c.lower() not in types]
        if absent:
            raise WarehouseError(
                f"table {table!r} does not match its column map after evolution (missing {absent[:5]})"
            )
        for start in range(0, len(names), 1000):
            chunk = names[start : start + 1000]
            try:
                session.execute(
                    f"SELECT {', '.join(map(ident, chunk))} FROM {self.table(table)}", dry_run=True
                )
            except gexc.BadRequest as exc:
                raise WarehouseError(f"columns of {table!r} are listed but not queryable: {exc}") from exc

    # ------------------------------------------------------------------ views
    max_identifier_bytes = BIGQUERY_MAX_COLUMN_CHARS

    def sibling(self, schema: str) -> BigQueryDialect:
        twin = copy.copy(self)
        if not _DATASET_RE.fullmatch(schema):
            raise ValueError(f"not a valid BigQuery dataset id: {schema!r}")
        twin.dataset, twin.where = schema, f"dataset {schema!r}"
        return twin

    def list_relations(self, session: Session) -> dict[str, str]:
        try:
            listed = list(self.client.list_tables(f"{self.project}.{self.dataset}"))
        except gexc.NotFound:
            return {}
        return {t.table_id.lower(): "view" if t.table_type == "VIEW" else "table" for t in listed}

    def check_access(self, scratch: str) -> list[tuple[bool, str]]:
        notes: list[tuple[bool, str]] = []
        with self.session() as s:
            s.execute("SELECT 1 AS ok")
            notes.append((True, f"query jobs run in project {self.project}"))
            try:
                self.client.get_dataset(f"{self.project}.{self.dataset}")
            except gexc.NotFound:
                notes.append((True, f"dataset {self.dataset} does not exist yet: the first sync creates it"))
                return notes
            s.execute(f"CREATE TABLE IF NOT EXISTS {self.table(scratch)} (id INT64, note STRING)")
            try:
                s.execute(
                    f"INSERT INTO {self.table(scratch)} (id, note) VALUES (1, @note)", {"note": "healthcheck"}
                )
                read = s.execute(f"SELECT note FROM {self.table(scratch)}").rows
            finally:
                self.client.delete_table(self.ref(scratch), not_found_ok=True)
        ok = [r["note"] for r in read] == ["healthcheck"]
        notes.append((ok, f"dataset {self.dataset}: scratch table created, written and dropped"))
        return notes


def _as_text(column: str, field_type: str) -> str:
    """SQL turning a column into its text form (timestamps as ``YYYY-MM-DDTHH:MM:SS.mmmZ``)."""
    if field_type == "TIMESTAMP":
        return (
            f"FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%S', {column}, 'UTC') || '.' || "
            f"LPAD(CAST(MOD(MOD(UNIX_MILLIS({column}), 1000) + 1000, 1000) AS STRING), 3, '0') || 'Z'"
        )
    if field_type in ("BOOLEAN", "BOOL"):
        return f"IF({column}, 'true', 'false')"
    return f"CAST({column} AS STRING)"


class BigQueryWarehouse(SqlWarehouse):
    """HubSpot warehouse in one BigQuery dataset."""

    def __init__(
        self,
        dataset: str,
        gcp_conn_id: str | None = None,
        project: str | None = None,
        location: str | None = None,
        *,
        client: bigquery.Client | None = None,
        max_property_columns: int = DEFAULT_MAX_PROPERTY_COLUMNS,
        fivetran_schema: str | None = None,
    ) -> None:
        super().__init__(
            BigQueryDialect(dataset, gcp_conn_id, project, location, client),
            max_property_columns,
            fivetran_schema,
        )
        self.dataset, self.gcp_conn_id = dataset, gcp_conn_id

    @property
    def client(self) -> bigquery.Client:
        return self.d.client

    @property
    def project(self) -> str:
        return self.d.project


def build_warehouse(destination: Any, max_property_columns: int | None = None) -> BigQueryWarehouse:
    kwargs = {"max_property_columns": max_property_columns} if max_property_columns else {}
    return BigQueryWarehouse(
        destination.tables_schema,
        gcp_conn_id=destination.conn_id,
        fivetran_schema=destination.fivetran_schema,
        project=destination.project,
        location=destination.location,
        **kwargs,
    )


def explain_error(exc: BaseException, destination: Any) -> str | None:
    """Refused credentials (not quotas or rate limits): permanent, so the task fails at once."""
    if not type(exc).__module__.startswith(("google.auth", "google.api_core")):
        return None
    name = type(exc).__name__
    text = (str(exc).strip().splitlines() or [name])[0]
    if name in ("DefaultCredentialsError", "RefreshError", "Unauthorized") or (
        name == "Forbidden" and "quota" not in text.lower() and "rate" not in text.lower()
    ):
        return (
            f"BigQuery refused the credentials of Airflow connection {destination.conn_id!r}: {text}. Give that "
            f"connection a key or Application Default Credentials with BigQuery Data Editor and Job User "
            f"on project {destination.project or '(the connection project)'}."
        )
    return None
