"""OpenLineage for the sync and scoring operators (``apache-airflow-providers-openlineage``).

The provider is optional: the product does not depend on it. Where it is installed and
configured, its listener calls the operators' ``get_openlineage_facets_on_start`` and
``get_openlineage_facets_on_complete``, which build their datasets here. Where it is absent,
:func:`operator_lineage` returns None and the task runs as always.

Datasets, named after the OpenLineage naming spec:

* HubSpot: namespace ``hubspot://<API host>`` (the connection's host: ``api.hubapi.com``, or
  the sandbox's), name the object (``contacts``, ``p123_services``). Extract reads it,
  reconcile and associations read it too.
* The staged parts of one run: namespace ``<scheme>://<netloc>`` of ``staging_base``, name the
  run's folder. Extract writes it, load reads it (that links the two in a lineage graph).
* Warehouse tables: ``postgres://host:port`` with ``database.schema.table``, ``bigquery`` with
  ``project.dataset.table``, ``snowflake://account`` with ``database.schema.table``.

Run facets come from what the task already has (its XCom and the step's inputs): no API call.
The load's schema facet reads the recorded column map (one warehouse query, made only when
OpenLineage asks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from hubspot_etl.config import Destination

HUBSPOT_SCHEME = "hubspot"
POSTGRES_DEFAULT_PORT = 5432


@dataclass(frozen=True)
class DatasetRef:
    """A dataset before it becomes an OpenLineage ``Dataset`` (so it can be built without the
    provider). ``fields``: ``(column, type)`` for a schema facet; ``rows``/``files``: the
    input or output statistics of this run."""

    namespace: str
    name: str
    fields: tuple[tuple[str, str], ...] = ()
    rows: int | None = None
    files: int | None = None


@dataclass(frozen=True)
class Location:
    """Where a destination's tables live: the namespace and the prefix of their names."""

    namespace: str
    prefix: str  # "database.schema", "project.dataset"

    def table(self, name: str, fields: Iterable[tuple[str, str]] = (), rows: int | None = None) -> DatasetRef:
        return DatasetRef(self.namespace, f"{self.prefix}.{name}", tuple(fields), rows)


# ------------------------------------------------------------------ namespaces and names
def hubspot_namespace(base_url: str) -> str:
    """``https://api.hubapi.com`` -> ``hubspot://api.hubapi.com``."""
    parsed = urlparse(base_url)
    return f"{HUBSPOT_SCHEME}://{parsed.netloc or parsed.path}"


def hubspot_dataset(conn_id: str, object_name: str, rows: int | None = None) -> DatasetRef:
    """One HubSpot object of the connection's account (reads the connection, never the API)."""
    from hubspot_etl.hooks.hubspot import HubSpotHook

    base_url = HubSpotHook(hubspot_conn_id=conn_id).settings.base_url
    return DatasetRef(hubspot_namespace(base_url), object_name, rows=rows)


def staging_dataset(
    staging_base: str, dag_id: str, run_id: str, rows: int | None = None, files: int | None = None
) -> DatasetRef:
    """The staged parts of one run (the folder ``staging_dir`` puts them in, every attempt)."""
    from hubspot_etl.sync.staging import safe_path_segment

    parsed = urlparse(staging_base)
    folder = "/".join((parsed.path.rstrip("/"), safe_path_segment(dag_id), safe_path_segment(run_id)))
    return DatasetRef(f"{parsed.scheme}://{parsed.netloc}", folder, rows=rows, files=files)


def location_from_connection(kind: str, schema: str, conn: Any, project: str | None = None) -> Location:
    """The namespace and name prefix of a destination, from its Airflow connection's fields."""
    extras = _extras(conn)
    if kind == "bigquery":
        project = project or extras.get("project") or "unknown-project"
        return Location("bigquery", f"{project}.{schema}")
    if kind == "snowflake":
        account = str(extras.get("account") or getattr(conn, "host", None) or "unknown-account").lower()
        database = extras.get("database") or "unknown-database"
        return Location(f"snowflake://{account}", f"{database}.{schema}")
    host = getattr(conn, "host", None) or "localhost"
    port = getattr(conn, "port", None) or POSTGRES_DEFAULT_PORT
    database = getattr(conn, "schema", None) or "postgres"  # a postgres connection's "schema" is its database
    return Location(f"postgres://{host}:{port}", f"{database}.{schema}")


def warehouse_location(destination: Destination) -> Location:
    """Where the sync's own tables of ``destination`` live (reads its Airflow connection)."""
    from hubspot_etl.compat import BaseHook

    conn = BaseHook.get_connection(destination.conn_id)
    return location_from_connection(destination.type, destination.tables_schema, conn, destination.project)


def _extras(conn: Any) -> dict[str, Any]:
    extras = dict(getattr(conn, "extra_dejson", None) or {})
    return {re.sub(r"^extra__[a-z_]+?__", "", key): value for key, value in extras.items()}


# ------------------------------------------------------------------ scoring SQL
_TABLE_USE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|MERGE(?:\s+INTO)?|FROM|JOIN)\s+[^\s(,;]*?\b(hs_[a-z_]+)\b",
    re.IGNORECASE,
)
_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE")
_TEMPLATE = re.compile(r"\{\{.*?\}\}|--[^\n]*")  # template values and comments


def sql_tables(sql: str) -> tuple[list[str], list[str]]:
    """The scoring tables (``hs_*``) a scoring SQL file reads and writes, in order of use.

    A ``DELETE FROM`` target is written, not read; ``CREATE TABLE`` declares, neither.
    """
    reads: dict[str, None] = {}
    writes: dict[str, None] = {}
    plain = _TEMPLATE.sub("x", sql)  # an unrendered file qualifies tables with ``{{ params.schema }}``
    for verb, table in _TABLE_USE.findall(plain):
        (writes if verb.split()[0].upper() in _WRITES else reads)[table.lower()] = None
    return list(reads), list(writes)


# ------------------------------------------------------------------ the provider's classes
def operator_lineage(inputs: Sequence[DatasetRef] = (), outputs: Sequence[DatasetRef] = ()) -> Any:
    """An ``OperatorLineage`` of these datasets, or None where the provider is not installed."""
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import InputDataset, OutputDataset
        from openlineage.client.facet_v2 import (
            input_statistics_input_dataset,
            output_statistics_output_dataset,
            schema_dataset,
        )
    except ImportError:
        return None

    def facets(ref: DatasetRef) -> dict[str, Any]:
        if not ref.fields:
            return {}
        fields = [schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in ref.fields]
        return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)}

    def stats(ref: DatasetRef, facet_class: Any, key: str) -> dict[str, Any]:
        if ref.rows is None and ref.files is None:
            return {}
        return {key: facet_class(rowCount=ref.rows, fileCount=ref.files)}

    input_stats = input_statistics_input_dataset.InputStatisticsInputDatasetFacet
    output_stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
    return OperatorLineage(
        inputs=[
            InputDataset(
                namespace=r.namespace,
                name=r.name,
                facets=facets(r),
                inputFacets=stats(r, input_stats, "inputStatistics"),
            )
            for r in inputs
        ],
        outputs=[
            OutputDataset(
                namespace=r.namespace,
                name=r.name,
                facets=facets(r),
                outputFacets=stats(r, output_stats, "outputStatistics"),
            )
            for r in outputs
        ],
    )


def provider_available() -> bool:
    """Is the OpenLineage provider importable (cheap: checks before building datasets)?"""
    try:
        import airflow.providers.openlineage.extractors  # noqa: F401
    except ImportError:
        return False
    return True


def counts_sum(counter: Mapping[str, Any] | None) -> int:
    """The total of a ``{kind: n}`` counter (the report's ``deletes``)."""
    return sum(int(v) for v in (counter or {}).values() if isinstance(v, int | float))


# ------------------------------------------------------------------ the sync steps
@dataclass(frozen=True)
class StepRun:
    """What a sync step's operator keeps from ``execute`` for its complete facets: the step
    context, the upstream contracts by task id (the plan, the manifest) and its XCom."""

    ctx: Any  # hubspot_etl.sync.context.StepContext
    inputs: Mapping[str, Any]
    result: Mapping[str, Any]


def step_datasets(step: str, cfg: Any, run: StepRun | None) -> tuple[list[DatasetRef], list[DatasetRef]]:
    """The inputs and outputs of one sync step: from the config alone before it ran (``run``
    None: the start event), with names and counts from the step's results once it ran."""
    builder = _STEP_DATASETS.get(step)
    if builder is None:
        return [], []
    if run is None:
        return _start_datasets(step, cfg)
    return builder(cfg, run)


def _start_datasets(step: str, cfg: Any) -> tuple[list[DatasetRef], list[DatasetRef]]:
    """Before the step ran: the HubSpot object it reads, the table it writes where the config
    names it (a custom object's table is known from ``prepare`` only)."""
    source = f"{cfg.object_type}.associations" if step == "associations" else cfg.object_type
    inputs = [hubspot_dataset(cfg.hubspot_conn_id, source)] if step in _READS_HUBSPOT else []
    table = cfg.planned_table if step in _WRITES_TABLE else None
    outputs = [warehouse_location(cfg.destination).table(table)] if table else []
    return inputs, outputs


def _extract(cfg: Any, run: StepRun) -> tuple[list[DatasetRef], list[DatasetRef]]:
    plan, manifest, ctx = run.inputs["prepare"], run.result, run.ctx
    rows = int(manifest.get("records", 0))
    staged = staging_dataset(cfg.staging_base, ctx.dag_id, ctx.run_id, rows, len(manifest.get("parts") or []))
    return [hubspot_dataset(cfg.hubspot_conn_id, plan.object_name, rows)], [staged]


def _load(cfg: Any, run: StepRun) -> tuple[list[DatasetRef], list[DatasetRef]]:
    from hubspot_etl.warehouse.tables import object_table

    plan, manifest, ctx = run.inputs["prepare"], run.inputs["extract"], run.ctx
    staged = staging_dataset(cfg.staging_base, ctx.dag_id, ctx.run_id, manifest.records, len(manifest.parts))
    if plan.dry_run:
        return [staged], []
    specs = ctx.warehouse().column_specs(plan.object_name).values()
    columns = [(spec.column_name, str(spec.logical_type)) for spec in specs if not spec.spilled]
    fields = [(c.name, c.type) for c in object_table(plan.table, sorted(columns)).columns]
    table = warehouse_location(cfg.destination).table(plan.table, fields, int(run.result["records_upserted"]))
    return [staged], [table]


def _associations(cfg: Any, run: StepRun) -> tuple[list[DatasetRef], list[DatasetRef]]:
    from hubspot_etl.warehouse.naming import association_table_name

    plan, counts = run.inputs["prepare"], run.result.get("associations") or {}
    if not plan.associations:
        return [], []
    source = hubspot_dataset(cfg.hubspot_conn_id, f"{plan.object_name}.associations")
    if plan.dry_run:
        return [source], []
    where = warehouse_location(cfg.destination)
    tables = [
        where.table(association_table_name(plan.object_name, target.name), rows=counts.get(target.name))
        for target in plan.associations
    ]
    return [source], tables


def _reconcile(cfg: Any, run: StepRun) -> tuple[list[DatasetRef], list[DatasetRef]]:
    plan = run.inputs["prepare"]
    source = hubspot_dataset(cfg.hubspot_conn_id, plan.object_name)
    if plan.dry_run:
        return [source], []
    flagged = counts_sum(run.result.get("deletes"))
    return [source], [warehouse_location(cfg.destination).table(plan.table, rows=flagged)]


def _owners(cfg: Any, run: StepRun) -> tuple[list[DatasetRef], list[DatasetRef]]:
    from hubspot_etl.warehouse.tables import OWNER

    report = run.result
    source = hubspot_dataset(cfg.hubspot_conn_id, "owners", int(report.get("records_fetched", 0)))
    if "dry run" in str(report.get("mode")):
        return [source], []
    fields = [(c.name, c.type) for c in OWNER.columns]
    rows = int(report.get("records_upserted", 0))
    return [source], [warehouse_location(cfg.destination).table(OWNER.name, fields, rows)]


_STEP_DATASETS = {
    "extract": _extract,
    "load": _load,
    "associations": _associations,
    "reconcile": _reconcile,
    "sync_owners": _owners,
}
_READS_HUBSPOT = ("extract", "associations", "reconcile")
_WRITES_TABLE = ("load", "reconcile")


# ------------------------------------------------------------------ the scoring group
def scoring_datasets(cfg: Any, sql: str | None, prepared: Mapping[str, Any] | None) -> tuple[list, list]:
    """A scoring task's inputs and outputs: a SQL step's tables from its SQL file, ``prepare``'s
    the synced tables it copies from and the tables it fills (with the input rows it copied)."""
    from hubspot_etl.scoring.store import INPUT_TABLES
    from hubspot_etl.warehouse.naming import pipeline_table_names, table_name_for_object

    where = warehouse_location(cfg.destination)
    if sql is not None:
        reads, writes = sql_tables(sql)
        return [where.table(t) for t in reads], [where.table(t) for t in writes]
    counts = (prepared or {}).get("inputs") or {}
    synced = [
        table_name_for_object("companies"),
        table_name_for_object("deals"),
        pipeline_table_names("deals")[1],
    ]
    outputs = [where.table("hs_stage_mapping")]
    outputs += [where.table(t, rows=counts.get(t)) for t in INPUT_TABLES]
    outputs.append(where.table("hs_snapshot_registry"))
    return [where.table(t) for t in synced], outputs


def scoring_lineage(cfg: Any, sql: str | None = None, prepared: Mapping[str, Any] | None = None) -> Any:
    """A scoring task's ``OperatorLineage`` (see :func:`scoring_datasets`); None without the provider."""
    if not provider_available():
        return None
    return operator_lineage(*scoring_datasets(cfg, sql, prepared))
