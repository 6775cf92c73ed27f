"""BigQuery implementation of :class:`~hubspot_etl.warehouse.base.Warehouse`.

Same tables and columns as the PostgreSQL adapter (same names: the column mapper uses the
PostgreSQL naming rules, whose names are also valid BigQuery names), one dataset per
destination. Types: numbers ``BIGNUMERIC`` (38 digits before and 38 after the point; values
beyond are ``out_of_range`` rejects), ``TIMESTAMP``, ``DATE``, ``BOOL``, ``STRING``; ids
``INT64``; ``_rejects``/``_extra_properties`` and other documents ``JSON``. See
``docs/bigquery.md`` for the layouts (clustering/partitioning) and the emulator notes.

Rules of this module:

* Identifiers are validated (:func:`ident`: letters, digits, underscores, at most 300
  characters, not starting with a digit) and backtick-quoted; values travel only as query
  parameters (``ScalarQueryParameter``/``ArrayQueryParameter``) or as NDJSON load data. No value
  is ever pasted into SQL text.
* Data never goes through streaming inserts: row sets are written as NDJSON, loaded with
  ``load_table_from_file`` into a uniquely named staging table (``WRITE_TRUNCATE``), applied
  with one ``MERGE``, and the staging table is dropped.

Load semantics (:meth:`BigQueryWarehouse.load_part`) are those of the PostgreSQL adapter: newer
``updatedAt`` wins whatever the load order (equal or NULL timestamps update), a live record clears
the delete flags, duplicates within a part are reduced to the newest (then last) line, only the
part's properties are written, and the ``_rejects``/``_extra_properties`` keys of the part's
properties are replaced while other keys are kept. BigQuery has no per-row page limit, so no value
is moved out of a wide row (PostgreSQL's per-row overflow does not apply).

Crash safety without cross-job transactions: a part is recorded in ``_hubspot_loaded_parts`` only
after its ``MERGE`` succeeded, and the ``MERGE`` is idempotent (re-running it on its own result
gives the same table, apart from ``_synced_at``), so a crash between the two just re-applies the
part on retry. Syncs of one object are serialised by :meth:`BigQueryWarehouse.object_lock` (a
lease row in ``_hubspot_locks``), which also protects the table rewrite used for widening.
"""

# S608 flags every f-string that builds SQL. Here the only interpolated pieces are identifiers that
# went through ident()/_t() (validated, backtick-quoted) and fixed SQL fragments; values are
# always query parameters or load data.
# ruff: noqa: S608

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import bigquery

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
    BIGQUERY_MAX_COLUMN_CHARS,
    ColumnMapper,
    association_table_name,
    pipeline_table_names,
    table_name_for_object,
)
from hubspot_etl.warehouse.planning import plan_schema
from hubspot_etl.warehouse.records import RowBuilder, property_names_in, read_part
from hubspot_etl.warehouse.types import (
    BIGQUERY_BIGNUMERIC,
    LogicalType,
    convert,
    convert_boolean,
    convert_datetime,
)

log = logging.getLogger(__name__)

SchemaField = bigquery.SchemaField

#: Logical type -> BigQuery column type of object tables.
BQ_TYPES: dict[LogicalType, str] = {
    LogicalType.NUMERIC: "BIGNUMERIC",
    LogicalType.TIMESTAMP: "TIMESTAMP",
    LogicalType.DATE: "DATE",
    LogicalType.BOOLEAN: "BOOL",
    LogicalType.TEXT: "STRING",
}

#: Type of a property column in a staging table: numbers travel as decimal strings and are cast
#: in the MERGE (a load job cannot write BIGNUMERIC on every backend, and strings are exact).
_STAGE_TYPES: dict[LogicalType, str] = {**BQ_TYPES, LogicalType.NUMERIC: "STRING"}

#: DDL type name -> the name the tables API reports (what ``get_table()`` returns).
_API_TYPES = {"BOOL": "BOOLEAN", "INT64": "INTEGER", "FLOAT64": "FLOAT"}

#: System columns of every object table, in table order (after ``id``), with BigQuery types.
#: All columns are NULLABLE (``_is_deleted`` is always written): a table rewrite with
#: ``CREATE OR REPLACE TABLE ... AS SELECT`` keeps exactly this schema.
SYSTEM_COLUMNS_BQ: tuple[tuple[str, str], ...] = (
    ("_created_at", "TIMESTAMP"),
    ("_updated_at", "TIMESTAMP"),
    ("_is_deleted", "BOOL"),
    ("_deleted_at", "TIMESTAMP"),
    ("_deletion_kind", "STRING"),
    ("merged_into_id", "INT64"),
    ("_synced_at", "TIMESTAMP"),
    ("_rejects", "JSON"),
    ("_extra_properties", "JSON"),
)

#: Metadata tables: name -> (columns, PARTITION BY expression or "", CLUSTER BY columns).
METADATA_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], str, tuple[str, ...]]] = {
    "_hubspot_column_map": (
        (
            ("object_name", "STRING"),
            ("property_name", "STRING"),
            ("column_name", "STRING"),
            ("logical_type", "STRING"),
            ("hubspot_type", "STRING"),
            ("spilled", "BOOL"),
            ("created_at", "TIMESTAMP"),
            ("updated_at", "TIMESTAMP"),
        ),
        "",
        ("object_name", "property_name"),
    ),
    "property_definition": (
        (
            ("object_name", "STRING"),
            ("name", "STRING"),
            ("label", "STRING"),
            ("type", "STRING"),
            ("field_type", "STRING"),
            ("group_name", "STRING"),
            ("description", "STRING"),
            ("options", "JSON"),
            ("hubspot_defined", "BOOL"),
            ("archived", "BOOL"),
            ("_synced_at", "TIMESTAMP"),
        ),
        "",
        ("object_name", "name"),
    ),
    "_hubspot_schema_changes": (
        (
            ("id", "STRING"),
            ("object_name", "STRING"),
            ("change", "STRING"),
            ("property_name", "STRING"),
            ("column_name", "STRING"),
            ("old_type", "STRING"),
            ("new_type", "STRING"),
            ("at", "TIMESTAMP"),
        ),
        "DATE(`at`)",
        ("object_name",),
    ),
    "_hubspot_loaded_parts": (
        (
            ("object_name", "STRING"),
            ("part_id", "STRING"),
            ("rows", "INT64"),
            ("loaded_at", "TIMESTAMP"),
        ),
        "",
        ("object_name", "part_id"),
    ),
    "_hubspot_sync_state": (
        (
            ("object_name", "STRING"),
            ("watermark", "TIMESTAMP"),
            ("last_full_load_at", "TIMESTAMP"),
            ("last_run_id", "STRING"),
            ("updated_at", "TIMESTAMP"),
        ),
        "",
        (),
    ),
    "_hubspot_run_report": (
        (
            ("run_id", "STRING"),
            ("object_name", "STRING"),
            ("mode", "STRING"),
            ("status", "STRING"),
            ("started_at", "TIMESTAMP"),
            ("finished_at", "TIMESTAMP"),
            ("duration_s", "FLOAT64"),
            ("records_fetched", "INT64"),
            ("records_upserted", "INT64"),
            ("rejects", "INT64"),
            ("api_calls", "JSON"),
            ("search_splits", "INT64"),
            ("associations", "JSON"),
            ("deletes", "JSON"),
            ("schema_changes", "JSON"),
            ("columns_spilled", "INT64"),
            ("columns_renamed", "INT64"),
            ("details", "JSON"),
        ),
        "DATE(started_at)",
        ("object_name", "run_id"),
    ),
    "_hubspot_association_tables": (
        (("table_name", "STRING"), ("from_object", "STRING"), ("to_object", "STRING")),
        "",
        (),
    ),
    "owner": (
        (
            ("id", "INT64"),
            ("email", "STRING"),
            ("first_name", "STRING"),
            ("last_name", "STRING"),
            ("user_id", "INT64"),
            ("user_id_including_inactive", "INT64"),
            ("type", "STRING"),
            ("teams", "JSON"),
            ("archived", "BOOL"),
            ("created_at", "TIMESTAMP"),
            ("updated_at", "TIMESTAMP"),
            ("_synced_at", "TIMESTAMP"),
        ),
        "",
        ("id",),
    ),
    "_hubspot_locks": (
        (
            ("object_name", "STRING"),
            ("owner", "STRING"),
            ("acquired_at", "TIMESTAMP"),
            ("expires_at", "TIMESTAMP"),
        ),
        "",
        (),
    ),
    "_hubspot_run_leases": (
        (
            ("object_name", "STRING"),
            ("run_id", "STRING"),
            ("acquired_at", "TIMESTAMP"),
            ("expires_at", "TIMESTAMP"),
        ),
        "",
        (),
    ),
}

ASSOCIATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("from_id", "INT64"),
    ("to_id", "INT64"),
    ("type_id", "INT64"),
    ("category", "STRING"),
    ("label", "STRING"),
    ("_synced_at", "TIMESTAMP"),
)

_PIPELINE_COMMON: tuple[tuple[str, str], ...] = (
    ("archived", "BOOL"),
    ("archived_at", "TIMESTAMP"),
    ("created_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
    ("_is_deleted", "BOOL"),
    ("_deleted_at", "TIMESTAMP"),
)
PIPELINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "STRING"),
    ("label", "STRING"),
    ("display_order", "INT64"),
    *_PIPELINE_COMMON,
    ("_synced_at", "TIMESTAMP"),
)
STAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("pipeline_id", "STRING"),
    ("id", "STRING"),
    ("label", "STRING"),
    ("display_order", "INT64"),
    ("probability", "BIGNUMERIC"),
    ("is_closed", "BOOL"),
    ("ticket_state", "STRING"),
    ("metadata", "JSON"),
    ("write_permissions", "STRING"),
    *_PIPELINE_COMMON,
    ("_synced_at", "TIMESTAMP"),
)

RUN_REPORT_COLUMNS: tuple[str, ...] = tuple(c for c, _ in METADATA_TABLES["_hubspot_run_report"][0])
_REPORT_TYPES: dict[str, str] = dict(METADATA_TABLES["_hubspot_run_report"][0])

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATASET_RE = re.compile(r"[A-Za-z0-9_]{1,1024}")
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,127}")
#: Column name prefixes BigQuery reserves.
_RESERVED_PREFIXES = ("_table_", "_file_", "_partition", "_row_timestamp", "__root__", "_colon_", "_change_")

_ADD_COLUMNS_PER_STATEMENT = 1000
_COLUMNS_PER_CHECK = 1000
_IDS_PER_QUERY = 10_000
_DML_ATTEMPTS = 6


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


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _ndjson(rows: Iterable[Mapping[str, Any]]) -> bytes:
    dumps = json.dumps
    return "".join(dumps(r, ensure_ascii=False, default=_json_default) + "\n" for r in rows).encode("utf-8")


def _json_text(value: Any) -> str | None:
    """A document as JSON text for a ``PARSE_JSON`` (None stays NULL)."""
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _ts(value: Any) -> datetime | None:
    """HubSpot timestamp (ISO string, ms epoch string/int, datetime) -> aware datetime or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed, _ = convert_datetime(str(value))
    return parsed


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value).strip())


def _p(name: str, type_: str, value: Any) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter(name, type_, value)


def _a(name: str, type_: str, values: Sequence[Any]) -> bigquery.ArrayQueryParameter:
    return bigquery.ArrayQueryParameter(name, type_, list(values))


def _is_retryable_dml(exc: Exception) -> bool:
    text = str(exc).lower()
    return (
        "could not serialize access" in text
        or "concurrent update" in text
        or "ratelimitexceeded" in text
        or "exceeded rate limits" in text
        or "too many dml statements" in text
    )


@dataclass
class QueryResult:
    """Rows (as dicts) and the DML row count of one query job."""

    rows: list[dict[str, Any]]
    affected: int


class BigQueryWarehouse(Warehouse):
    """HubSpot warehouse in one BigQuery dataset."""

    numeric_limits = BIGQUERY_BIGNUMERIC
    #: Lease length of :meth:`object_lock`; a holder renews it every third of that.
    lock_ttl_s: float = 600.0
    #: Poll interval while waiting for a lock.
    lock_poll_s: float = 0.5

    def __init__(
        self,
        dataset: str,
        gcp_conn_id: str | None = None,
        project: str | None = None,
        location: str | None = None,
        *,
        client: bigquery.Client | None = None,
        max_property_columns: int = DEFAULT_MAX_PROPERTY_COLUMNS,
    ) -> None:
        if (gcp_conn_id is None) == (client is None):
            raise ValueError("pass exactly one of gcp_conn_id, client")
        if not dataset or not _DATASET_RE.fullmatch(dataset):
            raise ValueError(f"not a valid BigQuery dataset id: {dataset!r}")
        if project is not None and not _PROJECT_RE.fullmatch(project):
            raise ValueError(f"not a valid BigQuery project id: {project!r}")
        self.dataset = dataset
        self.gcp_conn_id = gcp_conn_id
        self._project = project
        self._location = location
        self._client = client
        self._client_lock = threading.Lock()
        self.max_property_columns = max_property_columns
        self._single_alter = False  # learnt: the server takes one ALTER action per statement

    # ------------------------------------------------------------------ client
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
        """The project holding the dataset."""
        project = self._project or self.client.project
        if not project or not _PROJECT_RE.fullmatch(project):
            raise WarehouseError(f"no valid BigQuery project (got {project!r})")
        return project

    @property
    def location(self) -> str | None:
        """Job/dataset location (None: the client's default)."""
        return self._location or getattr(self.client, "location", None)

    def _ref(self, table: str) -> str:
        """``project.dataset.table`` for the client API."""
        ident(table)
        return f"{self.project}.{self.dataset}.{table}"

    def _t(self, table: str) -> str:
        """Backtick-quoted ``project.dataset.table`` for SQL text."""
        ident(table)
        return f"`{self.project}.{self.dataset}.{table}`"

    # ------------------------------------------------------------------ query helpers
    def _query(
        self, statement: str, params: Sequence[Any] = (), *, dry_run: bool = False, retry_dml: bool = True
    ) -> QueryResult:
        """Run one GoogleSQL statement with query parameters; retries concurrent-update conflicts."""
        config = bigquery.QueryJobConfig(query_parameters=list(params), use_legacy_sql=False, dry_run=dry_run)
        delay = 0.5
        for attempt in range(1, _DML_ATTEMPTS + 1):
            try:
                job = self.client.query(statement, job_config=config, location=self.location)
                if dry_run:
                    return QueryResult([], 0)
                rows = [dict(r.items()) for r in job.result()]
                return QueryResult(rows, int(job.num_dml_affected_rows or 0))
            except (gexc.BadRequest, gexc.Forbidden, gexc.TooManyRequests) as exc:
                if not retry_dml or attempt == _DML_ATTEMPTS or not _is_retryable_dml(exc):
                    raise
                log.info("BigQuery statement conflicted (%s); retry %d in %.1fs", exc, attempt, delay)
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _table_exists(self, table: str) -> bool:
        try:
            self.client.get_table(self._ref(table))
        except gexc.NotFound:
            return False
        return True

    def _get_table(self, table: str) -> bigquery.Table | None:
        try:
            return self.client.get_table(self._ref(table))
        except gexc.NotFound:
            return None

    @contextmanager
    def _staged(
        self, kind: str, columns: Sequence[tuple[str, str]], rows: Sequence[Mapping]
    ) -> Iterator[str]:
        """Load ``rows`` into a new staging table (NDJSON load job); yields its SQL name; drops it."""
        name = f"_hubspot_stage_{kind}_{uuid.uuid4().hex}"
        ref = self._ref(name)
        try:
            if rows:
                config = bigquery.LoadJobConfig(
                    source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                    write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
                    create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
                    schema=[SchemaField(c, t) for c, t in columns],
                    ignore_unknown_values=False,
                    max_bad_records=0,
                )
                job = self.client.load_table_from_file(
                    io.BytesIO(_ndjson(rows)), ref, job_config=config, location=self.location
                )
                job.result()
            else:
                cols = ", ".join(f"{ident(c)} {t}" for c, t in columns)
                self._query(f"CREATE TABLE {self._t(name)} ({cols})")
            yield self._t(name)
        finally:
            try:
                self.client.delete_table(ref, not_found_ok=True)
            except Exception:  # pragma: no cover - best effort, the name is unique
                log.warning("could not drop staging table %s", ref, exc_info=True)

    # ------------------------------------------------------------------ schema
    def _create_table_ddl(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        partition: str = "",
        cluster: Sequence[str] = (),
    ) -> str:
        cols = ", ".join(f"{ident(c)} {t}" for c, t in columns)
        ddl = f"CREATE TABLE IF NOT EXISTS {self._t(table)} ({cols})"
        if partition:
            ddl += f" PARTITION BY {partition}"
        if cluster:
            ddl += " CLUSTER BY " + ", ".join(ident(c) for c in cluster)
        return ddl

    def ensure_schema(self) -> None:
        """Create the dataset and the metadata tables (idempotent)."""
        ds = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.location:
            ds.location = self.location
        self.client.create_dataset(ds, exists_ok=True)
        for table, (columns, partition, cluster) in METADATA_TABLES.items():
            self._query(self._create_table_ddl(table, columns, partition, cluster))

    def exists(self) -> bool:
        """True when :meth:`ensure_schema` has run (the dataset and its metadata tables exist)."""
        try:
            return self._table_exists("_hubspot_sync_state")
        except gexc.NotFound:  # pragma: no cover - dataset missing on some backends
            return False

    def column_specs(self, object_name: str) -> dict[str, ColumnSpec]:
        """Recorded mapping of an object (property name -> :class:`ColumnSpec`)."""
        rows = self._query(
            "SELECT property_name, column_name, logical_type, hubspot_type, spilled "
            f"FROM {self._t('_hubspot_column_map')} WHERE object_name = @o",
            [_p("o", "STRING", object_name)],
        ).rows
        return {
            r["property_name"]: ColumnSpec(
                r["property_name"],
                r["column_name"],
                LogicalType(r["logical_type"]),
                r["hubspot_type"] or "",
                bool(r["spilled"]),
            )
            for r in rows
        }

    def ensure_object_table(self, object_name: str, properties: Sequence[Mapping]) -> SchemaChangeSummary:
        """Create/evolve the object table; see :meth:`Warehouse.ensure_object_table`.

        New columns: ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` (all in one statement, or one
        per statement where the server only takes one), then the table metadata is checked with
        ``get_table()`` and columns it does not list are added to the schema with
        ``update_table`` (a no-op on BigQuery; needed on the emulator). Widening to STRING rewrites
        the table with ``CREATE OR REPLACE TABLE ... CLUSTER BY id AS SELECT * REPLACE (...)``
        (BigQuery cannot ``ALTER COLUMN`` a numeric/timestamp/date/bool to STRING). Both are
        verified afterwards by ``get_table()`` and a dry-run query of every column.
        """
        table = table_name_for_object(object_name)
        existing = self.column_specs(object_name)
        mapper = ColumnMapper({p: s.column_name for p, s in existing.items()})
        plan = plan_schema(
            existing, properties, max_property_columns=self.max_property_columns, mapper=mapper
        )
        wanted = [s for s in plan.specs.values() if not s.spilled]
        created = not self._table_exists(table)
        if created:
            columns = [
                ("id", "INT64"),
                *SYSTEM_COLUMNS_BQ,
                *((s.column_name, BQ_TYPES[s.logical_type]) for s in wanted),
            ]
            self._query(self._create_table_ddl(table, columns, cluster=("id",)))
        else:
            self._add_columns(table, wanted)
            self._widen_columns(table, [s for s in plan.widened if not s.spilled])
        self._verify_columns(table, wanted)
        changes = ([SchemaChange("table_created", new_type=table)] if created else []) + plan.changes
        self._record_specs(object_name, plan.changed)
        self._record_changes(object_name, changes)
        self._upsert_property_definitions(object_name, properties)
        return SchemaChangeSummary(
            table=table,
            created=created,
            added=len(plan.added),
            widened=len(plan.widened),
            spilled=len(plan.spilled),
            renamed=plan.renamed,
            changes=changes,
        )

    def _schema_types(self, table: str) -> dict[str, str]:
        """``lower(column) -> type`` as ``get_table()`` reports them."""
        tbl = self.client.get_table(self._ref(table))
        return {f.name.lower(): f.field_type for f in tbl.schema}

    def _add_columns(self, table: str, wanted: Sequence[ColumnSpec]) -> None:
        """Add the columns of ``wanted`` the table lacks (storage and metadata)."""
        present = self._schema_types(table)
        missing = [s for s in wanted if s.column_name.lower() not in present]
        if not missing:
            return
        clauses = [
            f"ADD COLUMN IF NOT EXISTS {ident(s.column_name)} {BQ_TYPES[s.logical_type]}" for s in missing
        ]
        for chunk in iter_chunks(clauses, _ADD_COLUMNS_PER_STATEMENT):
            if not self._single_alter:
                try:
                    self._query(f"ALTER TABLE {self._t(table)} " + ", ".join(chunk))
                    continue
                except gexc.BadRequest as exc:
                    if len(chunk) == 1 or "one alter command per statement" not in str(exc).lower():
                        raise
                    self._single_alter = True
            for clause in chunk:
                self._query(f"ALTER TABLE {self._t(table)} {clause}")
        # The emulator's ALTER changes storage but not the metadata get_table() reports.
        tbl = self.client.get_table(self._ref(table))
        listed = {f.name.lower() for f in tbl.schema}
        unlisted = [s for s in missing if s.column_name.lower() not in listed]
        if unlisted:
            tbl.schema = [
                *tbl.schema,
                *(
                    SchemaField(s.column_name, _API_TYPES.get(t, t))
                    for s in unlisted
                    for t in [BQ_TYPES[s.logical_type]]
                ),
            ]
            self.client.update_table(tbl, ["schema"])

    def _widen_columns(self, table: str, widened: Sequence[ColumnSpec]) -> None:
        """Rewrite the table with the widened columns cast to STRING (skips ones already STRING)."""
        types = self._schema_types(table)
        todo = [s for s in widened if types.get(s.column_name.lower(), "STRING") != "STRING"]
        if not todo:
            return
        replaces = ", ".join(
            f"{self._as_text(ident(s.column_name), types[s.column_name.lower()])} AS {ident(s.column_name)}"
            for s in todo
        )
        self._query(
            f"CREATE OR REPLACE TABLE {self._t(table)} CLUSTER BY `id` AS "
            f"SELECT * REPLACE ({replaces}) FROM {self._t(table)}"
        )

    @staticmethod
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

    def _verify_columns(self, table: str, wanted: Sequence[ColumnSpec]) -> None:
        """Every wanted column is in the metadata (widened ones as STRING) and queryable."""
        types = self._schema_types(table)
        absent = [s.column_name for s in wanted if s.column_name.lower() not in types]
        wrong = [
            s.column_name
            for s in wanted
            if s.logical_type is LogicalType.TEXT and types.get(s.column_name.lower(), "STRING") != "STRING"
        ]
        if absent or wrong:
            raise WarehouseError(
                f"table {table!r} does not match its column map after evolution "
                f"(missing {absent[:5]}, not STRING {wrong[:5]})"
            )
        names = ["id", *(c for c, _ in SYSTEM_COLUMNS_BQ), *(s.column_name for s in wanted)]
        for chunk in iter_chunks(names, _COLUMNS_PER_CHECK):
            try:
                self._query(
                    f"SELECT {', '.join(ident(c) for c in chunk)} FROM {self._t(table)}", dry_run=True
                )
            except gexc.BadRequest as exc:
                raise WarehouseError(f"columns of {table!r} are listed but not queryable: {exc}") from exc

    def _record_specs(self, object_name: str, specs: Sequence[ColumnSpec]) -> None:
        if not specs:
            return
        columns = [
            ("object_name", "STRING"),
            ("property_name", "STRING"),
            ("column_name", "STRING"),
            ("logical_type", "STRING"),
            ("hubspot_type", "STRING"),
            ("spilled", "BOOL"),
        ]
        rows = [
            {
                "object_name": object_name,
                "property_name": s.property_name,
                "column_name": s.column_name,
                "logical_type": s.logical_type.value,
                "hubspot_type": s.hubspot_type,
                "spilled": s.spilled,
            }
            for s in specs
        ]
        with self._staged("colmap", columns, rows) as stage:
            self._query(
                f"MERGE {self._t('_hubspot_column_map')} T USING {stage} S "
                "ON T.object_name = S.object_name AND T.property_name = S.property_name "
                "WHEN MATCHED THEN UPDATE SET logical_type = S.logical_type, hubspot_type = S.hubspot_type, "
                "updated_at = CURRENT_TIMESTAMP() "
                "WHEN NOT MATCHED THEN INSERT (object_name, property_name, column_name, logical_type, "
                "hubspot_type, spilled, created_at, updated_at) VALUES (S.object_name, S.property_name, "
                "S.column_name, S.logical_type, S.hubspot_type, S.spilled, CURRENT_TIMESTAMP(), "
                "CURRENT_TIMESTAMP())"
            )

    def _record_changes(self, object_name: str, changes: Sequence[SchemaChange]) -> None:
        if not changes:
            return
        columns = [
            ("id", "STRING"),
            ("object_name", "STRING"),
            ("change", "STRING"),
            ("property_name", "STRING"),
            ("column_name", "STRING"),
            ("old_type", "STRING"),
            ("new_type", "STRING"),
        ]
        rows = [
            {
                "id": uuid.uuid4().hex,
                "object_name": object_name,
                "change": c.change,
                "property_name": c.property_name,
                "column_name": c.column_name,
                "old_type": c.old_type,
                "new_type": c.new_type,
            }
            for c in changes
        ]
        with self._staged("changes", columns, rows) as stage:
            self._query(
                f"INSERT INTO {self._t('_hubspot_schema_changes')} (id, object_name, change, property_name, "
                "column_name, old_type, new_type, `at`) SELECT id, object_name, change, property_name, "
                f"column_name, old_type, new_type, CURRENT_TIMESTAMP() FROM {stage}"
            )

    def _upsert_property_definitions(self, object_name: str, properties: Sequence[Mapping]) -> None:
        if not properties:
            return
        columns = [
            ("object_name", "STRING"),
            ("name", "STRING"),
            ("label", "STRING"),
            ("type", "STRING"),
            ("field_type", "STRING"),
            ("group_name", "STRING"),
            ("description", "STRING"),
            ("options", "STRING"),
            ("hubspot_defined", "BOOL"),
            ("archived", "BOOL"),
        ]
        latest: dict[str, dict] = {}
        for p in properties:
            latest[str(p["name"])] = {
                "object_name": object_name,
                "name": str(p["name"]),
                "label": p.get("label"),
                "type": p.get("type"),
                "field_type": p.get("fieldType"),
                "group_name": p.get("groupName"),
                "description": p.get("description"),
                "options": _json_text(p.get("options") or []),
                "hubspot_defined": p.get("hubspotDefined"),
                "archived": bool(p.get("archived", False)),
            }
        sets = ", ".join(f"{c} = S.{c}" for c, _ in columns[2:] if c != "options")
        with self._staged("propdefs", columns, list(latest.values())) as stage:
            self._query(
                f"MERGE {self._t('property_definition')} T USING {stage} S "
                "ON T.object_name = S.object_name AND T.name = S.name "
                f"WHEN MATCHED THEN UPDATE SET {sets}, options = PARSE_JSON(S.options), "
                "_synced_at = CURRENT_TIMESTAMP() "
                "WHEN NOT MATCHED THEN INSERT (object_name, name, label, type, field_type, group_name, "
                "description, options, hubspot_defined, archived, _synced_at) VALUES (S.object_name, S.name, "
                "S.label, S.type, S.field_type, S.group_name, S.description, PARSE_JSON(S.options), "
                "S.hubspot_defined, S.archived, CURRENT_TIMESTAMP())"
            )

    # ------------------------------------------------------------------ load
    def _part_loaded(self, object_name: str, part_id: str) -> bool:
        rows = self._query(
            f"SELECT 1 AS x FROM {self._t('_hubspot_loaded_parts')} WHERE object_name = @o AND part_id = @p",
            [_p("o", "STRING", object_name), _p("p", "STRING", part_id)],
        ).rows
        return bool(rows)

    def _record_part(self, object_name: str, part_id: str, rows: int) -> None:
        self._query(
            f"MERGE {self._t('_hubspot_loaded_parts')} T USING (SELECT @o AS object_name, @p AS part_id) S "
            "ON T.object_name = S.object_name AND T.part_id = S.part_id "
            "WHEN NOT MATCHED THEN INSERT (object_name, part_id, `rows`, loaded_at) "
            "VALUES (S.object_name, S.part_id, @n, CURRENT_TIMESTAMP())",
            [_p("o", "STRING", object_name), _p("p", "STRING", part_id), _p("n", "INT64", rows)],
        )

    def load_part(self, object_name: str, part_id: str, path: str | Path) -> LoadResult:
        """Upsert one NDJSON part: load job into a staging table, one MERGE, record the part."""
        records = read_part(path)
        if self._part_loaded(object_name, part_id):
            return LoadResult(rows=0, rejects=0, skipped=True)
        table = table_name_for_object(object_name)
        builder = RowBuilder(
            self.column_specs(object_name),
            property_names_in(records),
            self.numeric_limits,
            row_bytes_budget=None,  # BigQuery has no per-row page limit
        )
        names = builder.column_names  # id, property columns, TRAILING_COLUMNS (incl. _seq)
        winners: dict[int, tuple[Any, ...]] = {}
        for row in builder.rows(records):
            current = winners.get(row[0])
            if current is None or _newer_or_later(row, current, names):
                winners[row[0]] = row
        upserted = 0
        if winners:
            staged = self._stage_rows(table, builder, list(winners.values()))
            upserted = self._merge_part(table, builder, staged)
        self._record_part(object_name, part_id, len(records))
        stats = builder.stats
        return LoadResult(
            rows=len(records),
            rejects=sum(stats.rejects.values()),
            skipped=False,
            upserted=upserted,
            reject_reasons=dict(stats.rejects),
            unmapped=stats.unmapped,
        )

    def _stage_rows(self, table: str, builder: RowBuilder, rows: list[tuple[Any, ...]]) -> list[dict]:
        """Staging rows (``c<i>`` for property columns) with the JSON keys merged as PostgreSQL does."""
        names = builder.column_names
        n_props = len(builder.columns)
        i_rejects = names.index("_rejects")
        i_extra = names.index("_extra_properties")
        reject_keys = {*builder.property_names, "createdAt", "updatedAt", "archivedAt"}
        extra_keys = set(builder.property_names)
        old = self._existing_documents(table, [r[0] for r in rows])
        staged: list[dict] = []
        for row in rows:
            doc: dict[str, Any] = {"id": row[0]}
            for i in range(n_props):
                doc[f"c{i}"] = row[1 + i]
            for offset, name in enumerate(names[1 + n_props :], start=1 + n_props):
                if name != "_seq":
                    doc[name] = row[offset]
            before = old.get(row[0])
            doc["_rejects"] = _merge_doc(before[0] if before else None, row[i_rejects], reject_keys)
            doc["_extra_properties"] = _merge_doc(before[1] if before else None, row[i_extra], extra_keys)
            staged.append(doc)
        return staged

    def _existing_documents(self, table: str, ids: Sequence[int]) -> dict[int, tuple[Any, Any]]:
        """``id -> (_rejects, _extra_properties)`` of stored rows that have either."""
        found: dict[int, tuple[Any, Any]] = {}
        for chunk in iter_chunks(list(ids), _IDS_PER_QUERY):
            rows = self._query(
                f"SELECT id, _rejects, _extra_properties FROM {self._t(table)} "
                "WHERE id IN UNNEST(@ids) AND (_rejects IS NOT NULL OR _extra_properties IS NOT NULL)",
                [_a("ids", "INT64", chunk)],
            ).rows
            for r in rows:
                found[r["id"]] = (_as_obj(r["_rejects"]), _as_obj(r["_extra_properties"]))
        return found

    def _merge_part(self, table: str, builder: RowBuilder, staged: list[dict]) -> int:
        stage_columns: list[tuple[str, str]] = [("id", "INT64")]
        stage_columns += [(f"c{i}", _STAGE_TYPES[c.logical_type]) for i, c in enumerate(builder.columns)]
        stage_columns += [
            ("_created_at", "TIMESTAMP"),
            ("_updated_at", "TIMESTAMP"),
            ("_is_deleted", "BOOL"),
            ("_deleted_at", "TIMESTAMP"),
            ("_deletion_kind", "STRING"),
            ("merged_into_id", "INT64"),
            ("_rejects", "STRING"),
            ("_extra_properties", "STRING"),
        ]
        targets = [ident(c.column_name) for c in builder.columns]
        values = [
            f"CAST(S.c{i} AS BIGNUMERIC)" if c.logical_type is LogicalType.NUMERIC else f"S.c{i}"
            for i, c in enumerate(builder.columns)
        ]
        plain = ["_updated_at", "_is_deleted", "_deleted_at", "_deletion_kind", "merged_into_id"]
        sets = [f"{t} = {v}" for t, v in zip(targets, values, strict=True)]
        sets += [f"{c} = S.{c}" for c in plain]
        sets += [
            "_created_at = COALESCE(S._created_at, T._created_at)",
            "_synced_at = CURRENT_TIMESTAMP()",
            "_rejects = PARSE_JSON(S._rejects)",
            "_extra_properties = PARSE_JSON(S._extra_properties)",
        ]
        insert_cols = ["id", *targets, "_created_at", *plain, "_synced_at", "_rejects", "_extra_properties"]
        insert_vals = [
            "S.id",
            *values,
            "S._created_at",
            *(f"S.{c}" for c in plain),
            "CURRENT_TIMESTAMP()",
            "PARSE_JSON(S._rejects)",
            "PARSE_JSON(S._extra_properties)",
        ]
        with self._staged("part", stage_columns, staged) as stage:
            return self._query(
                f"MERGE {self._t(table)} T USING {stage} S ON T.id = S.id "
                "WHEN MATCHED AND (T._updated_at IS NULL OR S._updated_at IS NULL "
                "OR S._updated_at >= T._updated_at) THEN UPDATE SET "
                + ", ".join(sets)
                + " WHEN NOT MATCHED THEN INSERT ("
                + ", ".join(insert_cols)
                + ") VALUES ("
                + ", ".join(insert_vals)
                + ")"
            ).affected

    # ------------------------------------------------------------------ deletes
    def mark_deleted(self, object_name: str, ids_with_kind: Sequence[DeletedId]) -> int:
        """Flag ids deleted (one MERGE: update known rows, insert tombstones for unknown ids)."""
        if not ids_with_kind:
            return 0
        for _, kind, _, _ in ids_with_kind:
            if kind not in DELETION_KINDS:
                raise ValueError(f"deletion kind must be one of {DELETION_KINDS}, got {kind!r}")
        latest: dict[int, dict] = {}
        for rid, kind, deleted_at, merged in ids_with_kind:
            latest[int(rid)] = {
                "id": int(rid),
                "kind": kind,
                "deleted_at": _ts(deleted_at),
                "merged_into_id": _int_or_none(merged),
            }
        columns = [
            ("id", "INT64"),
            ("kind", "STRING"),
            ("deleted_at", "TIMESTAMP"),
            ("merged_into_id", "INT64"),
        ]
        table = table_name_for_object(object_name)
        with self._staged("deletes", columns, list(latest.values())) as stage:
            return self._query(
                f"MERGE {self._t(table)} T USING {stage} U ON T.id = U.id "
                "WHEN MATCHED THEN UPDATE SET _is_deleted = TRUE, _deletion_kind = U.kind, "
                "merged_into_id = U.merged_into_id, _synced_at = CURRENT_TIMESTAMP(), "
                "_deleted_at = COALESCE(U.deleted_at, IF(T._is_deleted, T._deleted_at, NULL), CURRENT_TIMESTAMP()) "
                "WHEN NOT MATCHED THEN INSERT (id, _is_deleted, _deleted_at, _deletion_kind, merged_into_id, "
                "_synced_at) VALUES (U.id, TRUE, COALESCE(U.deleted_at, CURRENT_TIMESTAMP()), U.kind, "
                "U.merged_into_id, CURRENT_TIMESTAMP())"
            ).affected

    def restore(self, object_name: str, ids: Sequence[int]) -> int:
        """Clear delete flags of ``ids``."""
        if not ids:
            return 0
        table = self._t(table_name_for_object(object_name))
        touched = 0
        for chunk in iter_chunks([int(i) for i in ids], _IDS_PER_QUERY):
            touched += self._query(
                f"UPDATE {table} SET _is_deleted = FALSE, _deleted_at = NULL, _deletion_kind = NULL, "
                "merged_into_id = NULL, _synced_at = CURRENT_TIMESTAMP() "
                "WHERE id IN UNNEST(@ids) AND _is_deleted",
                [_a("ids", "INT64", chunk)],
            ).affected
        return touched

    def live_ids(self, object_name: str, synced_before: datetime | None = None) -> set[int]:
        """Ids not flagged deleted (only those last synced before ``synced_before`` if given)."""
        table = table_name_for_object(object_name)
        if not self._table_exists(table):
            return set()
        rows = self._query(
            f"SELECT id FROM {self._t(table)} WHERE NOT COALESCE(_is_deleted, FALSE) "
            "AND (@before IS NULL OR _synced_at < @before)",
            [_p("before", "TIMESTAMP", _ts(synced_before))],
        ).rows
        return {r["id"] for r in rows}

    def deletion_kinds(self, object_name: str) -> dict[int, str | None]:
        """``id -> _deletion_kind`` (``None`` for live rows) of every row of the object's table."""
        table = table_name_for_object(object_name)
        if not self._table_exists(table):
            return {}
        rows = self._query(
            f"SELECT id, IF(_is_deleted, _deletion_kind, NULL) AS kind FROM {self._t(table)}"
        ).rows
        return {r["id"]: r["kind"] for r in rows}

    def merge_targets(self, object_name: str) -> dict[int, int]:
        """``id -> merged_into_id`` of the rows flagged merged."""
        table = table_name_for_object(object_name)
        if not self._table_exists(table):
            return {}
        rows = self._query(
            f"SELECT id, merged_into_id FROM {self._t(table)} WHERE _is_deleted "
            "AND _deletion_kind = 'merged' AND merged_into_id IS NOT NULL"
        ).rows
        return {int(r["id"]): int(r["merged_into_id"]) for r in rows}

    # ------------------------------------------------------------------ associations
    def _ensure_association_table(self, table: str, from_object: str = "", to_object: str = "") -> None:
        self._query(self._create_table_ddl(table, ASSOCIATION_COLUMNS, cluster=("from_id",)))
        if from_object and to_object:
            self._query(
                f"MERGE {self._t('_hubspot_association_tables')} T "
                "USING (SELECT @t AS table_name, @f AS from_object, @o AS to_object) S "
                "ON T.table_name = S.table_name WHEN NOT MATCHED THEN INSERT (table_name, from_object, "
                "to_object) VALUES (S.table_name, S.from_object, S.to_object)",
                [
                    _p("t", "STRING", table),
                    _p("f", "STRING", table_name_for_object(from_object)),
                    _p("o", "STRING", table_name_for_object(to_object)),
                ],
            )

    def replace_associations(
        self, from_object: str, to_object: str, from_ids: Sequence[int], rows: Sequence[Mapping]
    ) -> int:
        """Make the associations of ``from_ids`` equal ``rows`` in one MERGE (atomic).

        Only differences are written (deleted, inserted, relabelled rows); returns how many."""
        table = association_table_name(from_object, to_object)
        self._ensure_association_table(table, from_object, to_object)
        latest: dict[tuple[int, int, int], dict] = {}
        for row in rows:
            key = (int(row["from_id"]), int(row["to_id"]), int(row["type_id"]))
            latest[key] = {
                "from_id": key[0],
                "to_id": key[1],
                "type_id": key[2],
                "category": row.get("category"),
                "label": row.get("label"),
            }
        ids = sorted({int(i) for i in from_ids})
        if not latest:
            if not ids:
                return 0
            return self._query(
                f"DELETE FROM {self._t(table)} WHERE from_id IN UNNEST(@ids)", [_a("ids", "INT64", ids)]
            ).affected
        columns = [c for c in ASSOCIATION_COLUMNS if c[0] != "_synced_at"]
        with self._staged("assoc", columns, list(latest.values())) as stage:
            return self._query(
                f"MERGE {self._t(table)} T USING {stage} S "
                "ON T.from_id = S.from_id AND T.to_id = S.to_id AND T.type_id = S.type_id "
                "WHEN MATCHED AND (T.category IS DISTINCT FROM S.category OR T.label IS DISTINCT FROM S.label) "
                "THEN UPDATE SET category = S.category, label = S.label, _synced_at = CURRENT_TIMESTAMP() "
                "WHEN NOT MATCHED BY TARGET THEN INSERT (from_id, to_id, type_id, category, label, _synced_at) "
                "VALUES (S.from_id, S.to_id, S.type_id, S.category, S.label, CURRENT_TIMESTAMP()) "
                "WHEN NOT MATCHED BY SOURCE AND T.from_id IN UNNEST(@ids) THEN DELETE",
                [_a("ids", "INT64", ids)],
            ).affected

    def delete_associations_for(
        self, from_object: str, to_object: str, ids: Sequence[int], side: str = "both"
    ) -> int:
        """Delete associations touching ``ids`` on the given side (``from``, ``to`` or ``both``)."""
        conditions = {
            "from": "from_id IN UNNEST(@ids)",
            "to": "to_id IN UNNEST(@ids)",
            "both": "from_id IN UNNEST(@ids) OR to_id IN UNNEST(@ids)",
        }
        if side not in conditions:
            raise ValueError(f"side must be one of {sorted(conditions)}, got {side!r}")
        if not ids:
            return 0
        table = association_table_name(from_object, to_object)
        if not self._table_exists(table):
            return 0
        return self._query(
            f"DELETE FROM {self._t(table)} WHERE {conditions[side]}",
            [_a("ids", "INT64", [int(i) for i in ids])],
        ).affected

    def follow_merges_and_deletes(
        self, object_name: str, merged_into: Mapping[int, int], deleted: Sequence[int]
    ) -> int:
        """Make associations follow merged and deleted records, in every association table.

        Same rules as the PostgreSQL adapter: rows of this object's own tables (``from`` side)
        are dropped for merged and deleted records; rows of other tables pointing at a merged
        record (``to`` side) are re-pointed to the survivor, those pointing at a deleted record
        dropped. Returns the number of rows changed.
        """
        gone = sorted({int(i) for i in (*merged_into.keys(), *deleted)})
        if not gone or not self._table_exists("_hubspot_association_tables"):
            return 0
        table_name = table_name_for_object(object_name)
        tables = self._query(
            "SELECT table_name, from_object = @o AS is_from, to_object = @o AS is_to "
            f"FROM {self._t('_hubspot_association_tables')} WHERE from_object = @o OR to_object = @o "
            "ORDER BY table_name",
            [_p("o", "STRING", table_name)],
        ).rows
        merged = [int(k) for k in merged_into]
        survivors = [int(v) for v in merged_into.values()]
        changed = 0
        for entry in tables:
            t = self._t(entry["table_name"])
            if entry["is_to"] and merged:
                changed += self._query(
                    f"MERGE {t} T USING (SELECT a.from_id, m.survivor AS to_id, a.type_id, "
                    "ANY_VALUE(a.category) AS category, ANY_VALUE(a.label) AS label "
                    f"FROM {t} a JOIN (SELECT merged, survivor FROM UNNEST(@merged) AS merged WITH OFFSET o1 "
                    "JOIN UNNEST(@survivors) AS survivor WITH OFFSET o2 ON o1 = o2) m ON a.to_id = m.merged "
                    "GROUP BY a.from_id, m.survivor, a.type_id) S "
                    "ON T.from_id = S.from_id AND T.to_id = S.to_id AND T.type_id = S.type_id "
                    "WHEN NOT MATCHED THEN INSERT (from_id, to_id, type_id, category, label, _synced_at) "
                    "VALUES (S.from_id, S.to_id, S.type_id, S.category, S.label, CURRENT_TIMESTAMP())",
                    [_a("merged", "INT64", merged), _a("survivors", "INT64", survivors)],
                ).affected
            if entry["is_to"]:
                changed += self._query(
                    f"DELETE FROM {t} WHERE to_id IN UNNEST(@ids)", [_a("ids", "INT64", gone)]
                ).affected
            if entry["is_from"]:
                changed += self._query(
                    f"DELETE FROM {t} WHERE from_id IN UNNEST(@ids)", [_a("ids", "INT64", gone)]
                ).affected
        return changed

    # ------------------------------------------------------------------ pipelines
    def upsert_pipelines(self, object_name: str, pipelines: Sequence[Mapping]) -> dict[str, int]:
        """Upsert pipelines + stages; archived or no-longer-returned ones get ``_is_deleted``."""
        pipeline_table, stage_table = pipeline_table_names(object_name)
        self._query(self._create_table_ddl(pipeline_table, PIPELINE_COLUMNS, cluster=("id",)))
        self._query(self._create_table_ddl(stage_table, STAGE_COLUMNS, cluster=("pipeline_id", "id")))
        p_rows = list({r["id"]: r for r in (_pipeline_row(p) for p in pipelines)}.values())
        s_rows = list(
            {
                (r["pipeline_id"], r["id"]): r
                for r in (_stage_row(p, s) for p in pipelines for s in p.get("stages") or [])
            }.values()
        )
        common = [c for c, _ in _PIPELINE_COMMON]
        deleted_at = "_deleted_at = IF(S._is_deleted, COALESCE(T._deleted_at, S._deleted_at), NULL)"
        p_cols = [("id", "STRING"), ("label", "STRING"), ("display_order", "INT64"), *_PIPELINE_COMMON]
        gone_p = self._upsert_and_flag_gone(
            pipeline_table, "pipeline", p_cols, p_rows, ["id"], common, deleted_at, {}
        )
        s_cols = [
            ("pipeline_id", "STRING"),
            ("id", "STRING"),
            ("label", "STRING"),
            ("display_order", "INT64"),
            ("probability", "STRING"),
            ("is_closed", "BOOL"),
            ("ticket_state", "STRING"),
            ("metadata", "STRING"),
            ("write_permissions", "STRING"),
            *_PIPELINE_COMMON,
        ]
        gone_s = self._upsert_and_flag_gone(
            stage_table,
            "pstage",
            s_cols,
            s_rows,
            ["pipeline_id", "id"],
            common,
            deleted_at,
            {"probability": "CAST(S.probability AS BIGNUMERIC)", "metadata": "PARSE_JSON(S.metadata)"},
        )
        return {
            "pipelines": len(p_rows),
            "stages": len(s_rows),
            "pipelines_gone": gone_p,
            "stages_gone": gone_s,
        }

    def _upsert_and_flag_gone(
        self,
        table: str,
        kind: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Mapping],
        keys: Sequence[str],
        common: Sequence[str],
        deleted_at_set: str,
        exprs: Mapping[str, str],
    ) -> int:
        """MERGE ``rows`` into ``table`` by ``keys``; flag rows not in ``rows`` deleted; returns that count."""
        t = self._t(table)
        flag_gone = "_is_deleted = TRUE, _deleted_at = CURRENT_TIMESTAMP(), _synced_at = CURRENT_TIMESTAMP()"
        if not rows:
            return self._query(f"UPDATE {t} SET {flag_gone} WHERE NOT COALESCE(_is_deleted, FALSE)").affected
        names = [c for c, _ in columns]
        value = {c: exprs.get(c, f"S.{c}") for c in names}
        on = " AND ".join(f"T.{k} = S.{k}" for k in keys)
        sets = ", ".join(f"{c} = {value[c]}" for c in names if c not in keys and c != "_deleted_at")
        with self._staged(kind, columns, rows) as stage:
            self._query(
                f"MERGE {t} T USING {stage} S ON {on} "
                f"WHEN MATCHED THEN UPDATE SET {sets}, {deleted_at_set}, _synced_at = CURRENT_TIMESTAMP() "
                f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}, _synced_at) "
                f"VALUES ({', '.join(value[c] for c in names)}, CURRENT_TIMESTAMP())"
            )
            return self._query(
                f"MERGE {t} T USING {stage} S ON {on} "
                f"WHEN NOT MATCHED BY SOURCE AND NOT COALESCE(T._is_deleted, FALSE) THEN UPDATE SET {flag_gone}"
            ).affected

    # ------------------------------------------------------------------ owners
    def check_access(self, scratch_suffix: str) -> list[tuple[bool, str]]:
        """See :meth:`Warehouse.check_access`: a query job, the dataset, a scratch table."""
        notes: list[tuple[bool, str]] = []
        self._query("SELECT 1 AS ok")
        notes.append((True, f"query jobs run in project {self.project}"))
        try:
            self.client.get_dataset(f"{self.project}.{self.dataset}")
        except gexc.NotFound:
            notes.append((True, f"dataset {self.dataset} does not exist yet: the first sync creates it"))
            return notes
        scratch = f"_hubspot_healthcheck_{scratch_suffix}"
        self._query(self._create_table_ddl(scratch, (("id", "INT64"), ("note", "STRING"))))
        try:
            self._query(
                f"INSERT INTO {self._t(scratch)} (id, note) VALUES (1, @note)",
                [_p("note", "STRING", "healthcheck")],
            )
            read = self._query(f"SELECT note FROM {self._t(scratch)}").rows
        finally:
            self.client.delete_table(self._ref(scratch), not_found_ok=True)
        ok = [r["note"] for r in read] == ["healthcheck"]
        notes.append((ok, f"dataset {self.dataset}: scratch table created, written and dropped"))
        return notes

    def owner_versions(self) -> dict[int, tuple[datetime | None, bool]]:
        """``id -> (updated_at, archived)`` of the stored owners (empty before the first sync)."""
        if not self._table_exists("owner"):
            return {}
        rows = self._query(f"SELECT id, updated_at, archived FROM {self._t('owner')}").rows
        return {int(r["id"]): (r["updated_at"], bool(r["archived"])) for r in rows}

    def upsert_owners(self, owners: Sequence[Mapping]) -> int:
        """Upsert owners into ``owner`` (active and archived lists may be passed together)."""
        if not owners:
            return 0
        columns = [
            ("id", "INT64"),
            ("email", "STRING"),
            ("first_name", "STRING"),
            ("last_name", "STRING"),
            ("user_id", "INT64"),
            ("user_id_including_inactive", "INT64"),
            ("type", "STRING"),
            ("teams", "STRING"),
            ("archived", "BOOL"),
            ("created_at", "TIMESTAMP"),
            ("updated_at", "TIMESTAMP"),
        ]
        latest: dict[int, dict] = {}
        for o in owners:
            latest[int(o["id"])] = {
                "id": int(o["id"]),
                "email": o.get("email"),
                "first_name": o.get("firstName"),
                "last_name": o.get("lastName"),
                "user_id": _int_or_none(o.get("userId")),
                "user_id_including_inactive": _int_or_none(o.get("userIdIncludingInactive")),
                "type": o.get("type"),
                "teams": _json_text(o.get("teams") or []),
                "archived": bool(o.get("archived", False)),
                "created_at": _ts(o.get("createdAt")),
                "updated_at": _ts(o.get("updatedAt")),
            }
        names = [c for c, _ in columns]
        value = {c: ("PARSE_JSON(S.teams)" if c == "teams" else f"S.{c}") for c in names}
        sets = ", ".join(f"{c} = {value[c]}" for c in names[1:])
        with self._staged("owners", columns, list(latest.values())) as stage:
            self._query(
                f"MERGE {self._t('owner')} T USING {stage} S ON T.id = S.id "
                f"WHEN MATCHED THEN UPDATE SET {sets}, _synced_at = CURRENT_TIMESTAMP() "
                f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}, _synced_at) "
                f"VALUES ({', '.join(value[c] for c in names)}, CURRENT_TIMESTAMP())"
            )
        return len(owners)

    # ------------------------------------------------------------------ state / reports
    def get_sync_state(self, object_name: str) -> dict | None:
        """The stored sync state or None."""
        rows = self._query(
            "SELECT object_name, watermark, last_full_load_at, last_run_id, updated_at "
            f"FROM {self._t('_hubspot_sync_state')} WHERE object_name = @o",
            [_p("o", "STRING", object_name)],
        ).rows
        return rows[0] if rows else None

    def set_sync_state(
        self,
        object_name: str,
        watermark: datetime | None,
        last_full_load_at: datetime | None = None,
        run_id: str | None = None,
    ) -> None:
        """Upsert the sync state (``last_full_load_at=None`` keeps the stored value)."""
        self._query(
            f"MERGE {self._t('_hubspot_sync_state')} T USING (SELECT @o AS object_name) S "
            "ON T.object_name = S.object_name "
            "WHEN MATCHED THEN UPDATE SET watermark = @w, last_full_load_at = COALESCE(@f, T.last_full_load_at), "
            "last_run_id = @r, updated_at = CURRENT_TIMESTAMP() "
            "WHEN NOT MATCHED THEN INSERT (object_name, watermark, last_full_load_at, last_run_id, updated_at) "
            "VALUES (S.object_name, @w, @f, @r, CURRENT_TIMESTAMP())",
            [
                _p("o", "STRING", object_name),
                _p("w", "TIMESTAMP", _ts(watermark)),
                _p("f", "TIMESTAMP", _ts(last_full_load_at)),
                _p("r", "STRING", run_id),
            ],
        )

    def write_run_report(self, report: Mapping[str, Any]) -> None:
        """Upsert a run report keyed by (object_name, run_id); unknown keys go into ``details``."""
        row = _report_row(report)
        params = []
        exprs = {}
        for i, col in enumerate(RUN_REPORT_COLUMNS):
            type_ = _REPORT_TYPES[col]
            if type_ == "JSON":
                params.append(_p(f"v{i}", "STRING", _json_text(row[col])))
                exprs[col] = f"PARSE_JSON(@v{i})"
            else:
                params.append(_p(f"v{i}", type_, row[col]))
                exprs[col] = f"@v{i}"
        sets = ", ".join(
            f"{c} = {exprs[c]}" for c in RUN_REPORT_COLUMNS if c not in ("object_name", "run_id")
        )
        self._query(
            f"MERGE {self._t('_hubspot_run_report')} T "
            f"USING (SELECT {exprs['object_name']} AS object_name, {exprs['run_id']} AS run_id) S "
            "ON T.object_name = S.object_name AND T.run_id = S.run_id "
            f"WHEN MATCHED THEN UPDATE SET {sets} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(RUN_REPORT_COLUMNS)}) "
            f"VALUES ({', '.join(exprs[c] for c in RUN_REPORT_COLUMNS)})",
            params,
        )

    def get_run_report(self, object_name: str, run_id: str) -> dict | None:
        """One run report as a dict (JSON columns as Python objects), or None."""
        rows = self._query(
            f"SELECT {', '.join(RUN_REPORT_COLUMNS)} FROM {self._t('_hubspot_run_report')} "
            "WHERE object_name = @o AND run_id = @r",
            [_p("o", "STRING", object_name), _p("r", "STRING", run_id)],
        ).rows
        if not rows:
            return None
        row = rows[0]
        for col in RUN_REPORT_COLUMNS:
            if _REPORT_TYPES[col] == "JSON":
                row[col] = _as_obj(row[col])
        return row

    # ------------------------------------------------------------------ locking
    @contextmanager
    def object_lock(
        self, object_name: str, wait: bool = True, timeout_s: float | None = None
    ) -> Iterator[None]:
        """Lease row in ``_hubspot_locks`` (owner id + expiry), renewed while held.

        Acquire: one ``MERGE`` that inserts the row, or takes it over when the lease expired;
        then the row is read back and the lock is ours only if it names our owner id. A holder
        that dies without releasing blocks others until its lease (:attr:`lock_ttl_s`) expires.
        """
        owner = f"{uuid.uuid4().hex}"
        started = time.monotonic()
        while True:
            holder = self._try_acquire(object_name, owner)
            if holder is None:
                break
            waited = time.monotonic() - started
            if not wait or (timeout_s is not None and waited >= timeout_s):
                how = "not waiting" if not wait else f"gave up after {waited:.1f}s"
                raise WarehouseLockError(
                    f"another sync of {object_name!r} holds the lock in dataset {self.dataset!r} "
                    f"(owner {holder[0]}, lease until {holder[1]:%Y-%m-%dT%H:%M:%SZ}; {how}); "
                    "wait for it to finish or retry later"
                )
            time.sleep(self.lock_poll_s)
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew_lease, args=(object_name, owner, stop), name="bq-lock-renew", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            self._query(
                f"DELETE FROM {self._t('_hubspot_locks')} WHERE object_name = @o AND owner = @w",
                [_p("o", "STRING", object_name), _p("w", "STRING", owner)],
            )

    # ------------------------------------------------------------------ run leases
    def acquire_run_lease(self, object_name: str, run_id: str, ttl: timedelta) -> None:
        """Claim ``object_name`` for one DAG run, or renew this run's claim (see PostgreSQL)."""
        params = [
            _p("o", "STRING", object_name),
            _p("r", "STRING", run_id),
            _p("ttl", "INT64", int(ttl.total_seconds() * 1000)),
        ]
        leases = self._t("_hubspot_run_leases")
        self._query(
            f"MERGE {leases} T USING (SELECT @o AS object_name) S ON T.object_name = S.object_name "
            "WHEN MATCHED AND (T.run_id = @r OR T.expires_at < CURRENT_TIMESTAMP()) THEN UPDATE SET "
            "acquired_at = IF(T.run_id = @r, T.acquired_at, CURRENT_TIMESTAMP()), run_id = @r, "
            "expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl MILLISECOND) "
            "WHEN NOT MATCHED THEN INSERT (object_name, run_id, acquired_at, expires_at) VALUES (@o, @r, "
            "CURRENT_TIMESTAMP(), TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl MILLISECOND))",
            params,
        )
        self.check_run_lease(object_name, run_id)

    def check_run_lease(self, object_name: str, run_id: str) -> None:
        """Raise :class:`WarehouseLockError` unless ``run_id`` holds the object's lease."""
        rows = self._query(
            f"SELECT run_id, acquired_at, expires_at FROM {self._t('_hubspot_run_leases')} "
            "WHERE object_name = @o ORDER BY acquired_at",
            [_p("o", "STRING", object_name)],
        ).rows
        if rows and rows[0]["run_id"] == run_id:
            return
        if not rows:
            raise WarehouseLockError(
                f"run {run_id!r} no longer holds the sync lease of {object_name!r} in dataset "
                f"{self.dataset!r} (it expired and was released); run the DAG run again"
            )
        holder = rows[0]
        raise WarehouseLockError(
            f"another sync of {object_name!r} is running in dataset {self.dataset!r}: run "
            f"{holder['run_id']!r} holds the lease since {holder['acquired_at']:%Y-%m-%d %H:%M:%S} UTC "
            f"(expires {holder['expires_at']:%Y-%m-%d %H:%M:%S} UTC); run {run_id!r} will not "
            "interleave with it: retry when it has finished"
        )

    def release_run_lease(self, object_name: str, run_id: str) -> None:
        """Give the object's lease back (only if ``run_id`` holds it)."""
        self._query(
            f"DELETE FROM {self._t('_hubspot_run_leases')} WHERE object_name = @o AND run_id = @r",
            [_p("o", "STRING", object_name), _p("r", "STRING", run_id)],
        )

    def _try_acquire(self, object_name: str, owner: str) -> tuple[str, datetime] | None:
        """None when ``owner`` now holds the lease, else ``(holder, expires_at)``."""
        params = [
            _p("o", "STRING", object_name),
            _p("w", "STRING", owner),
            _p("ttl", "INT64", int(self.lock_ttl_s * 1000)),
        ]
        locks = self._t("_hubspot_locks")
        self._query(
            f"MERGE {locks} T USING (SELECT @o AS object_name) S ON T.object_name = S.object_name "
            "WHEN MATCHED AND T.expires_at < CURRENT_TIMESTAMP() THEN UPDATE SET owner = @w, "
            "acquired_at = CURRENT_TIMESTAMP(), "
            "expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl MILLISECOND) "
            "WHEN NOT MATCHED THEN INSERT (object_name, owner, acquired_at, expires_at) VALUES (@o, @w, "
            "CURRENT_TIMESTAMP(), TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl MILLISECOND))",
            params,
        )
        rows = self._query(
            f"SELECT owner, expires_at FROM {locks} WHERE object_name = @o ORDER BY acquired_at, owner",
            params[:1],
        ).rows
        if rows and rows[0]["owner"] == owner:
            return None
        if any(r["owner"] == owner for r in rows):  # lost a race that left two rows: back off
            self._query(
                f"DELETE FROM {locks} WHERE object_name = @o AND owner = @w", params[:2], retry_dml=True
            )
        if not rows:  # pragma: no cover - the row vanished between the statements
            return ("unknown", datetime.now(UTC))
        return (rows[0]["owner"], rows[0]["expires_at"])

    def _renew_lease(self, object_name: str, owner: str, stop: threading.Event) -> None:
        while not stop.wait(self.lock_ttl_s / 3):
            try:
                self._query(
                    f"UPDATE {self._t('_hubspot_locks')} SET "
                    "expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl MILLISECOND) "
                    "WHERE object_name = @o AND owner = @w",
                    [
                        _p("o", "STRING", object_name),
                        _p("w", "STRING", owner),
                        _p("ttl", "INT64", int(self.lock_ttl_s * 1000)),
                    ],
                )
            except Exception:  # pragma: no cover - the next renewal tries again
                log.warning("could not renew the lock of %r", object_name, exc_info=True)


# ---------------------------------------------------------------------- helpers
def _newer_or_later(row: tuple, current: tuple, names: Sequence[str]) -> bool:
    """Duplicate ids in a part: newest ``_updated_at`` wins (NULL counts as newest), then later line."""
    i = names.index("_updated_at")
    new, old = row[i], current[i]
    if new is None or old is None:
        return new is None
    return new >= old


def _as_obj(value: Any) -> Any:
    """A JSON column value as a Python object (clients return parsed JSON or JSON text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _merge_doc(old: Any, new_text: str | None, replaced: set[str]) -> str | None:
    """``(old - replaced keys) | new`` as JSON text, None when empty (PostgreSQL's ``-``/``||``)."""
    new = json.loads(new_text) if new_text else {}
    kept = {k: v for k, v in old.items() if k not in replaced} if isinstance(old, dict) else {}
    merged = {**kept, **new}
    return json.dumps(merged, ensure_ascii=False) if merged else None


def _pipeline_row(p: Mapping) -> dict:
    archived = bool(p.get("archived", False))
    archived_at = _ts(p.get("archivedAt"))
    return {
        "id": str(p["id"]),
        "label": p.get("label"),
        "display_order": _int_or_none(p.get("displayOrder")),
        "archived": archived,
        "archived_at": archived_at,
        "created_at": _ts(p.get("createdAt")),
        "updated_at": _ts(p.get("updatedAt")),
        "_is_deleted": archived,
        "_deleted_at": (archived_at or datetime.now(UTC)) if archived else None,
    }


def _stage_row(p: Mapping, s: Mapping) -> dict:
    metadata = dict(s.get("metadata") or {})
    raw = metadata.get("probability")
    probability, _ = convert(None if raw is None else str(raw), LogicalType.NUMERIC, BIGQUERY_BIGNUMERIC)
    is_closed = None
    if metadata.get("isClosed") is not None:
        is_closed, _ = convert_boolean(str(metadata["isClosed"]))
    archived = bool(s.get("archived", False))
    archived_at = _ts(s.get("archivedAt"))
    return {
        "pipeline_id": str(p["id"]),
        "id": str(s["id"]),
        "label": s.get("label"),
        "display_order": _int_or_none(s.get("displayOrder")),
        "probability": probability,
        "is_closed": is_closed,
        "ticket_state": metadata.get("ticketState"),
        "metadata": _json_text(metadata),
        "write_permissions": s.get("writePermissions"),
        "archived": archived,
        "archived_at": archived_at,
        "created_at": _ts(s.get("createdAt")),
        "updated_at": _ts(s.get("updatedAt")),
        "_is_deleted": archived,
        "_deleted_at": (archived_at or datetime.now(UTC)) if archived else None,
    }


def _report_row(report: Mapping[str, Any]) -> dict[str, Any]:
    """Map a report dict onto the run-report columns (extras into details, values typed)."""
    if not report.get("run_id") or not report.get("object_name"):
        raise ValueError("a run report needs run_id and object_name")
    row: dict[str, Any] = {c: report.get(c) for c in RUN_REPORT_COLUMNS}
    extra = {k: v for k, v in report.items() if k not in RUN_REPORT_COLUMNS}
    if extra:
        row["details"] = {**(row["details"] or {}), **extra}
    row["started_at"], row["finished_at"] = _ts(row["started_at"]), _ts(row["finished_at"])
    started, finished = row["started_at"], row["finished_at"]
    if row["duration_s"] is None and started is not None and finished is not None:
        row["duration_s"] = (finished - started).total_seconds()
    for col, type_ in _REPORT_TYPES.items():
        value = row[col]
        if value is None:
            continue
        if type_ == "JSON":
            row[col] = json.loads(json.dumps(value, default=str))
        elif type_ == "INT64":
            row[col] = int(value)
        elif type_ == "FLOAT64":
            row[col] = float(value)
        elif type_ == "STRING":
            row[col] = str(value)
    return row
