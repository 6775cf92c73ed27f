"""The docs each generated DAG shows in the Airflow UI, written for the people who run it.

One Markdown page per DAG, built from its config at parse time (string formatting only): what
it syncs, from which connection into which tables, its schedules and trigger form, what each
task does, where the run report and the Asset are, and links to the README.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubspot_etl.hooks.object_types import standard_object_type
from hubspot_etl.warehouse.naming import association_table_name, pipeline_table_names, table_name_for_object

if TYPE_CHECKING:
    from hubspot_etl.config import ObjectConfig, OwnersConfig, SyncSettings

README_URL = "https://github.com/airflow-hubspot-warehouse/airflow-hubspot-warehouse/blob/main/README.md"
OBJECTS_WITH_PIPELINES = ("deals", "tickets")
SHARED_TABLES = (
    "`_hubspot_sync_state`, `_hubspot_run_report`, `_hubspot_column_map`, `_hubspot_schema_changes`"
)
PARAMS_DOC = (
    "| param | what it does |\n|---|---|\n"
    "| `full_load` | list every record and reconcile deletes (otherwise: incremental from the watermark) |\n"
    "| `dry_run` | extract and report; write nothing to the warehouse, publish no Asset event |\n"
    "| `limit` | stop after this many records (for a first look); the watermark stays and nothing is purged |\n"
    "| `since` | start the incremental window here (ISO-8601), e.g. to re-read a day |\n"
)
TASKS_DOC = (
    "| task | does |\n|---|---|\n"
    "| prepare | reads properties and pipelines, creates and evolves the tables, picks the mode and window |\n"
    "| extract | reads the window's records (search, then batch read; or the full list) into staged parts |\n"
    "| load | upserts each staged part in one transaction (parts loaded during extract are skipped) |\n"
    "| associations | replaces the associations of every extracted record |\n"
    "| reconcile | flags archived, merged and (full runs) purged records; restores come back |\n"
    "| finalize | advances the watermark and writes the run report (its XCom) |\n"
    "| publish | emits the Asset event, only when the run completed and wrote a change |\n"
)


def _link(anchor: str, text: str) -> str:
    return f"[{text}]({README_URL}#{anchor})"


def _destination(cfg: SyncSettings) -> str:
    from hubspot_etl.warehouse.registry import destination_type

    return destination_type(cfg.destination.type).describe(cfg.destination)


def _schedules(cfg: SyncSettings) -> str:
    if not cfg.schedule:
        incremental = "manual only (`schedule: null`): trigger it from the UI, the CLI or the API"
    else:
        incremental = (
            f"incremental on `{cfg.schedule}` (UTC): each run reads the records modified in its data "
            f"interval, from {cfg.lookback_minutes} minutes before the watermark"
        )
    full = (
        f"a full reconciliation (every record, purges included) on the first run after `{cfg.full_refresh_schedule}` ticks"
        if getattr(cfg, "full_refresh_schedule", None)
        else "a full reconciliation only on the first run or with `full_load`"
    )
    return f"- {incremental};\n- {full};\n- backfills (`airflow backfill create`) reload exactly what changed in each interval."


def _tables(cfg: ObjectConfig) -> str:
    standard = standard_object_type(cfg.object_type)
    if standard is None:
        name = "named from the HubSpot schema name (`p123_meters` becomes `meters`)"
        return f"- the object table, {name}, with its association tables `<table>_<target>`"
    table = table_name_for_object(standard["name"])
    lines = [
        f"- `{table}`: one typed column per property, plus `_is_deleted`, `_deletion_kind`, `merged_into_id`, `_rejects`"
    ]
    for target in cfg.associations:
        target_info = standard_object_type(target)
        target_name = target_info["name"] if target_info else target
        lines.append(
            f"- `{association_table_name(standard['name'], target_name)}`: associations to {target_name}"
        )
    if standard["name"] in OBJECTS_WITH_PIPELINES:
        pipeline, stage = pipeline_table_names(standard["name"])
        lines.append(f"- `{pipeline}`, `{stage}`: pipelines and stages")
    return "\n".join(lines)


def object_dag_doc(cfg: ObjectConfig, config_source: str, asset_uri: str) -> str:
    """The ``doc_md`` of ``hubspot_<object>``."""
    properties = "every property"
    if cfg.properties.include:
        properties = f"the properties {', '.join(f'`{p}`' for p in cfg.properties.include)}"
    if cfg.properties.exclude:
        properties += f" except {', '.join(f'`{p}`' for p in cfg.properties.exclude)}"
    scoring = ""
    if cfg.scoring.enabled:
        scoring = (
            f"\n**Scoring.** After `finalize`, the `scoring` group scores every {cfg.scoring.unit[:-1]} of "
            "the snapshot into `hs_pipeline_units_snapshot`, `hs_pipeline_score_history` and "
            f"`hs_snapshot_registry` ({_link('scoring', 'README: Scoring')}).\n"
        )
    return f"""# HubSpot {cfg.key} → {cfg.destination.type}

Syncs HubSpot **{cfg.object_type}** ({properties}) from Airflow connection `{cfg.hubspot_conn_id}`
into {_destination(cfg)}. Deletes, merges and restores reach the warehouse as flags; nothing
is ever physically deleted.

**Tables**

{_tables(cfg)}
- shared: {SHARED_TABLES}

**Schedules**

{_schedules(cfg)}

**Trigger with a form** (Trigger DAG)

{PARAMS_DOC}
**Tasks**

{TASKS_DOC}
**Results.** `finalize`'s XCom and `_hubspot_run_report` hold the run report (status, mode,
window, records fetched, upserted and changed, API calls, deletes by kind, schema changes).
The Asset `{asset_uri}` gets an event only when a run completed and wrote a change.
{scoring}
**Before the first run**: the connections `{cfg.hubspot_conn_id}` and `{cfg.destination.conn_id}`, the
pool `{cfg.pool}`, and `staging_base` (`{cfg.staging_base}`) on storage every worker sees; the
`hubspot_healthcheck` DAG checks all of them.

Config: `{config_source}`. More: {_link("configuration", "configuration")},
{_link("the-dags", "the DAGs")}, {_link("connections", "connections")},
{_link("deploying", "deploying")}.
"""


def owners_dag_doc(cfg: OwnersConfig, config_source: str, asset_uri: str) -> str:
    """The ``doc_md`` of ``hubspot_owners``."""
    return f"""# HubSpot owners → {cfg.destination.type}

Syncs every HubSpot owner, active and archived, from Airflow connection `{cfg.hubspot_conn_id}`
into the table `owner` of {_destination(cfg)}. Owners are few, so every run reads them all.

**Schedule**: {f"`{cfg.schedule}` (UTC)" if cfg.schedule else "manual only"}.
**Trigger form**: `dry_run` (read and report, write nothing).

The task's XCom and `_hubspot_run_report` hold the run report; the Asset `{asset_uri}` gets
an event only when an owner was added or changed.

Config: `{config_source}`. More: {_link("connections", "connections")}, {_link("scoring", "scoring")}
(owners name the rows of the score history).
"""


def config_summary(objects: list[Any]) -> str:
    """A table of the configured objects (for the health check's docs)."""
    rows = [
        f"| `{o.dag_id}` | {o.object_type} | {o.destination.type} `{o.destination.schema_name}` | `{o.hubspot_conn_id}` | `{o.destination.conn_id}` |"
        for o in objects
    ]
    return (
        "| DAG | object | destination | HubSpot connection | warehouse connection |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
    )


def healthcheck_dag_doc(config: Any, pools: list[str]) -> str:
    """The ``doc_md`` of ``hubspot_healthcheck``."""
    schedule = f"`{config.healthcheck.schedule}` (UTC)" if config.healthcheck.schedule else "manual only"
    objects = [o for o in config.objects if o.enabled]
    pool_tasks = ", ".join(f"`pool_{p}`" for p in pools) or "none"
    return f"""# HubSpot health check

Is this deployment ready to sync? Run it after deploying and after changing a connection;
it also runs on {schedule}. It writes nothing to synced tables.

| check | how |
|---|---|
| HubSpot token | one owners call per HubSpot connection |
| scopes | per object, the calls its sync makes (object type, properties, search, pipelines, association labels); a 403 names the missing scope |
| warehouse | per destination: connect, privileges on the schema or dataset, a scratch table created and dropped |
| staging | a file written, read back and deleted under each `staging_base`; `file://` under a distributed executor is flagged |
| pools | {pool_tasks} run in their pool (a pool that does not exist is created when the run starts; if one of these stays *scheduled*, create it in Admin > Pools) |
| Airflow | the running version against the supported range |

`report` prints one table (also its XCom) and fails naming every broken item.

{config_summary(objects)}

Config: `{config.source}`. More: {_link("health-check", "README: health check")}.
"""
