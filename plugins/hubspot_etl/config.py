"""The sync configuration: one YAML file, per-environment overlays, validation.

Which file (:func:`find_config`), first match wins:

1. ``$HUBSPOT_ETL_CONFIG``;
2. ``hubspot_sync.yaml`` beside the DAG file that loads it (the DAG files pass their
   ``__file__``), or, for a caller without a DAG file, in Airflow's configured DAGs folder
   (``[core] dags_folder``);
3. the packaged default (``hubspot_etl/resources/hubspot_sync.yaml``: the standard objects).

The file has four top-level keys::

    defaults:      settings every object inherits (connection ids, destination, schedules)
    objects:       one entry per HubSpot object type to sync; each becomes a DAG
    owners:        the owners DAG
    healthcheck:   the hubspot_healthcheck DAG (enabled, schedule)
    environments:  overlays (dev, staging, prod, ...) deep-merged over the file

The overlay named by ``$HUBSPOT_ETL_ENV`` (or the ``env`` argument) is deep-merged over
the base document before validation: mappings merge key by key, anything else replaces.
So an overlay can change one dataset or connection id without copying the file.

Validation is strict (unknown keys are errors) and every error names the offending key,
e.g. ``objects.deals.destination.type: Input should be 'postgres', 'bigquery' or 'snowflake'``. This
module reads only the local file: no network and no database, so it is safe at DAG parse
time.
"""

from __future__ import annotations

import copy
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hubspot_etl.warehouse.registry import DESTINATIONS

CONFIG_FILE_NAME = "hubspot_sync.yaml"
CONFIG_ENV_VAR = "HUBSPOT_ETL_CONFIG"
PACKAGED_SOURCE = f"{CONFIG_FILE_NAME} (packaged default)"
ENVIRONMENT_ENV_VAR = "HUBSPOT_ETL_ENV"

_OBJECT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,60}$")
_FULLY_QUALIFIED = re.compile(r"^p\d+_")
_OBJECT_TYPE_ID = re.compile(r"^[02]-\d+$")
_PROPERTY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-.]{0,99}")
#: ``history: all``: the history of every property the object syncs
HISTORY_ALL = "all"
#: ``full_load_method`` values
FULL_LOAD_LIST, FULL_LOAD_EXPORT, FULL_LOAD_AUTO = "list", "export", "auto"
FULL_LOAD_METHODS = (FULL_LOAD_LIST, FULL_LOAD_EXPORT, FULL_LOAD_AUTO)


def _unambiguous(name: str) -> str:
    """``name`` unless it can mean both a standard and a custom object (hooks.object_types)."""
    from hubspot_etl.hooks.object_types import ambiguity

    problem = ambiguity(name)
    if problem:
        raise ValueError(problem)
    return name


class ConfigError(ValueError):
    """The sync configuration is invalid; the message names the file and the key."""


def valid_cron(value: str | None) -> str | None:
    """``value`` if it is a cron expression (or None)."""
    if value is None:
        return None
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression")
    return value


def utc_datetime(value: Any) -> Any:
    """A naive datetime or a YAML date as an aware UTC datetime."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if hasattr(value, "isoformat") and not isinstance(value, datetime):  # a YAML date
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Destination(_Strict):
    """Where an object's tables live.

    ``schema_style``: ``native`` (default) keeps the sync's own tables in ``schema``;
    ``fivetran`` keeps them in ``native_schema`` (default ``<schema>_native``) and publishes
    views named, typed and shaped like Fivetran's HubSpot tables in ``schema`` (docs/fivetran.md).
    """

    type: Literal[tuple(DESTINATIONS)] = "postgres"  # type: ignore[valid-type]
    conn_id: str = "hubspot_warehouse"
    schema_name: str = Field(default="hubspot", alias="schema", min_length=1, max_length=63)
    project: str | None = None
    location: str | None = None
    schema_style: Literal["native", "fivetran"] = "native"
    native_schema: str | None = Field(default=None, min_length=1, max_length=63)

    @field_validator("schema_name", "native_schema")
    @classmethod
    def _plain_schema(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must contain only letters, digits and underscores and not start with a digit")
        return value

    @model_validator(mode="after")
    def _native_schema_of_fivetran_style(self) -> Destination:
        if self.schema_style == "native":
            if self.native_schema is not None:
                raise ValueError("native_schema: applies only with schema_style: fivetran")
            return self
        native = self.native_schema_name
        if len(native) > 63:
            raise ValueError(f"native_schema: the default {native!r} is longer than 63 characters; set it")
        if native.lower() == self.schema_name.lower():
            raise ValueError(
                "native_schema: must differ from schema (that one holds the Fivetran-style views)"
            )
        return self

    @property
    def native_schema_name(self) -> str:
        """Where the native tables of a ``fivetran``-style destination live."""
        return self.native_schema or f"{self.schema_name}_native"

    @property
    def tables_schema(self) -> str:
        """The schema or dataset holding the sync's own tables (``schema`` in native style)."""
        return self.native_schema_name if self.schema_style == "fivetran" else self.schema_name

    @property
    def fivetran_schema(self) -> str | None:
        """The schema of the Fivetran-style views, None in native style."""
        return self.schema_name if self.schema_style == "fivetran" else None


class PropertySelection(_Strict):
    """Which HubSpot properties to sync. An empty ``include`` means all of them."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class ScoringSettings(_Strict):
    """Downstream scoring task group (docs/scoring.md)."""

    enabled: bool = False
    unit: Literal["companies", "deals"] = "companies"
    stage_mapping_file: str = "stage_mapping.yaml"


class _Scheduled(_Strict):
    """What every generated DAG has: a schedule (cron, or None for manual), a start date, tags."""

    schedule: str | None = None
    start_date: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    tags: tuple[str, ...] = ()

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        return valid_cron(value)

    @field_validator("start_date", mode="before")
    @classmethod
    def _utc_start(cls, value: Any) -> Any:
        return utc_datetime(value)

    @field_validator("start_date", mode="after")
    @classmethod
    def _aware_start(cls, value: datetime) -> datetime:
        return utc_datetime(value)


class SyncSettings(_Scheduled):
    """Settings shared by every object; each object may override any of them."""

    hubspot_conn_id: str = "hubspot_default"
    destination: Destination = Destination()
    staging_base: str = "file:///tmp/hubspot_staging"
    schedule: str | None = "0 * * * *"
    full_refresh_schedule: str | None = "0 3 * * 0"
    lookback_minutes: int = Field(default=15, ge=0, le=7 * 24 * 60)
    #: records per staged part; default by destination (see ``_default_part_size``)
    part_size: int = Field(default=0, ge=0, le=1_000_000)
    #: load each staged part while extract goes on, instead of only in the load step
    load_during_extract: bool = True
    retries: int = Field(default=3, ge=0, le=20)
    retry_delay_seconds: int = Field(default=60, ge=1)
    max_retry_delay_seconds: int = Field(default=1800, ge=1)
    execution_timeout_minutes: int = Field(default=180, ge=1)
    pool: str = "hubspot_api"
    pool_slots: int = Field(default=1, ge=1)
    on_failure_callbacks: tuple[str, ...] = ()
    max_columns: int = Field(default=1500, ge=10, le=1590)
    #: when an incremental run refreshes the associations of every live record (not only of
    #: the records it read): every_run, full_only, hourly, daily, weekly or a cron expression
    association_refresh: str = "every_run"
    #: when an incremental run lists the archived records (deletes, purges, merges into records
    #: archived since): same values as ``association_refresh``; full runs always do
    deletes_check: str = "every_run"
    lease_wait_seconds: int = Field(default=60, ge=0, le=3600)
    keep_staged_files: bool = False
    #: how a full run reads the records: ``list`` (the list API, paged), ``export`` (HubSpot's
    #: Exports API: one bulk file, waited for by a trigger) or ``auto`` (export when the live
    #: count reaches ``export_threshold``); see ``hubspot_etl.sync.bulk_export``
    full_load_method: str = FULL_LOAD_LIST
    export_threshold: int = Field(default=2_000_000, ge=1)
    #: how often the triggerer asks HubSpot whether an export is ready, and how long it waits
    export_poll_seconds: int = Field(default=30, ge=1, le=3600)
    export_timeout_minutes: int = Field(default=360, ge=1, le=7 * 24 * 60)
    #: associated ids HubSpot keeps per export row and type; a row reaching it is re-read
    export_association_cap: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _default_part_size(self) -> SyncSettings:
        """The destination's default when unset (``registry.DestinationType.part_size``)."""
        if self.part_size == 0:
            object.__setattr__(self, "part_size", DESTINATIONS[self.destination.type].part_size)
        elif self.part_size < 100:
            raise ValueError(f"part_size: must be at least 100 (got {self.part_size})")
        return self

    @field_validator("full_refresh_schedule")
    @classmethod
    def _valid_full_refresh(cls, value: str | None) -> str | None:
        return valid_cron(value)

    @field_validator("full_load_method")
    @classmethod
    def _valid_full_load_method(cls, value: str) -> str:
        if value not in FULL_LOAD_METHODS:
            raise ValueError(f"{value!r} is none of {', '.join(FULL_LOAD_METHODS)}")
        return value

    @field_validator("association_refresh", "deletes_check")
    @classmethod
    def _valid_association_refresh(cls, value: str) -> str:
        from hubspot_etl.sync.plan import EVERY_RUN, FULL_ONLY, REFRESH_ALIASES

        if value in (EVERY_RUN, FULL_ONLY) or value in REFRESH_ALIASES:
            return value
        try:
            return valid_cron(value) or EVERY_RUN
        except ValueError:
            raise ValueError(
                f"{value!r} is none of every_run, full_only, hourly, daily, weekly or a cron expression"
            ) from None


class ObjectConfig(SyncSettings):
    """One HubSpot object type to sync into one table (plus association tables)."""

    key: str
    object_type: str
    enabled: bool = True
    properties: PropertySelection = PropertySelection()
    associations: tuple[str, ...] = ()
    #: object types of the other configured objects (same destination) that list this one in
    #: their ``associations``: a restore brings back their rows to it too (set by the parser)
    associated_from: tuple[str, ...] = ()
    scoring: ScoringSettings = ScoringSettings()
    #: properties whose history is synced into ``<table>_property_history``: a list of
    #: property names, or ``all`` (every property the object syncs); empty: no history
    history: tuple[str, ...] | Literal["all"] = ()

    @property
    def dag_id(self) -> str:
        return f"hubspot_{self.key}"

    @field_validator("history", mode="before")
    @classmethod
    def _history(cls, value: Any) -> Any:
        """``all``, or property names (duplicates dropped, order kept)."""
        if value is None:
            return ()
        if isinstance(value, str):
            if value == HISTORY_ALL:
                return value
            raise ValueError(f"must be a list of property names or {HISTORY_ALL!r}, got {value!r}")
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list of property names or {HISTORY_ALL!r}")
        for name in value:
            if not isinstance(name, str) or not _PROPERTY_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a HubSpot property name")
        return tuple(dict.fromkeys(value))

    @field_validator("object_type")
    @classmethod
    def _object_type(cls, value: str) -> str:
        if not value or len(value) > 100 or not re.fullmatch(r"[A-Za-z0-9_\-]+", value):
            raise ValueError(
                "must be an object name (contacts, p123_meters) or an objectTypeId (0-1, 2-1001)"
            )
        return _unambiguous(value)

    @field_validator("associations")
    @classmethod
    def _association_targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_unambiguous(target) for target in value)

    @property
    def planned_table(self) -> str | None:
        """The object's table where the config alone decides it (a standard object or a custom
        fullyQualifiedName); None for a custom objectTypeId or name, resolved when it runs."""
        from hubspot_etl.hooks.object_types import standard_object_type
        from hubspot_etl.warehouse.naming import table_name_for_object

        standard = standard_object_type(self.object_type)
        if standard:
            return table_name_for_object(standard["name"])
        if _FULLY_QUALIFIED.match(self.object_type):
            return table_name_for_object(self.object_type)
        return None


class OwnersConfig(SyncSettings):
    enabled: bool = True
    schedule: str | None = "30 * * * *"
    full_refresh_schedule: str | None = None

    @property
    def dag_id(self) -> str:
        return "hubspot_owners"


class HealthcheckConfig(_Scheduled):
    """The ``hubspot_healthcheck`` DAG (README#health-check)."""

    enabled: bool = True
    schedule: str | None = "0 6 * * *"

    @property
    def dag_id(self) -> str:
        return "hubspot_healthcheck"


class SyncConfig(_Strict):
    """The validated, environment-resolved configuration."""

    environment: str | None = None
    source: str = ""
    objects: tuple[ObjectConfig, ...] = ()
    owners: OwnersConfig = OwnersConfig()
    healthcheck: HealthcheckConfig = HealthcheckConfig()

    @model_validator(mode="after")
    def _unique_tables(self) -> SyncConfig:
        """No two objects sync the same object type, or into the same table of one destination."""
        seen: dict[str, str] = {}
        tables: dict[tuple[str, str, str, str], str] = {}
        for obj in self.objects:
            if obj.object_type in seen:
                raise ValueError(
                    f"objects.{obj.key}.object_type: {obj.object_type!r} is already synced by objects.{seen[obj.object_type]}"
                )
            seen[obj.object_type] = obj.key
            d = obj.destination
            place = (d.type, d.conn_id, d.schema_name, obj.planned_table or f"?{obj.key}")
            if place in tables:
                raise ValueError(
                    f"objects.{obj.key}: its table {place[3]!r} in {d.schema_name} is also that of "
                    f"objects.{tables[place]}; give one of them another destination schema"
                )
            tables[place] = obj.key
        return self

    def object(self, key: str) -> ObjectConfig:
        for obj in self.objects:
            if obj.key == key:
                return obj
        raise KeyError(key)


def deep_merge(base: Any, overlay: Any) -> Any:
    """Merge ``overlay`` into ``base``: mappings key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(overlay)


def find_config(dag_file: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read (see the module docstring); None means the packaged default."""
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR])
    folder = Path(dag_file).resolve().parent if dag_file else _airflow_dags_folder()
    if folder is not None and (folder / CONFIG_FILE_NAME).is_file():
        return folder / CONFIG_FILE_NAME
    return None


def _airflow_dags_folder() -> Path | None:
    """``[core] dags_folder`` from Airflow's configuration (None outside an Airflow install)."""
    try:
        from airflow.configuration import conf
    except ImportError:  # pragma: no cover - the package always runs with Airflow
        return None
    folder = conf.get("core", "dags_folder", fallback=None)
    return Path(folder).expanduser() if folder else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: str | None = None,
    dag_file: str | os.PathLike[str] | None = None,
) -> SyncConfig:
    """Read, overlay and validate the configuration.

    ``path`` names the file outright; otherwise :func:`find_config` picks it (``dag_file`` is
    the calling DAG file). ``env`` defaults to ``$HUBSPOT_ETL_ENV`` (empty means no overlay).
    """
    env = env if env is not None else (os.environ.get(ENVIRONMENT_ENV_VAR) or None)
    config_path = Path(path) if path else find_config(dag_file)
    if config_path is None:
        from hubspot_etl.resources import DEFAULT_CONFIG, read_text

        return _parse_text(read_text(DEFAULT_CONFIG), env, PACKAGED_SOURCE, None)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{config_path}: file not found (it is named by {CONFIG_ENV_VAR} or the caller)"
        ) from exc
    return _parse_text(text, env, str(config_path), config_path.resolve().parent)


def _parse_text(text: str, env: str | None, source: str, folder: Path | None) -> SyncConfig:
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    return parse_config(document, env=env, source=source, config_dir=folder)


def parse_config(
    document: dict[str, Any],
    env: str | None = None,
    source: str = "<config>",
    config_dir: Path | None = None,
) -> SyncConfig:
    """Validate a configuration document (already parsed from YAML).

    ``config_dir`` is the folder of the config file: a relative ``scoring.stage_mapping_file``
    that exists there is read from there (otherwise the packaged file of that name is).
    """
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    unknown = set(document) - {"defaults", "objects", "owners", "healthcheck", "environments"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    document = _apply_environment(document, env, source)
    defaults = _mapping(document.get("defaults"), "defaults", source)
    objects = _mapping(document.get("objects"), "objects", source)
    owners = _mapping(document.get("owners"), "owners", source)
    healthcheck = _mapping(document.get("healthcheck"), "healthcheck", source)

    resolved_objects = []
    for key, settings in objects.items():
        settings = _mapping(settings, f"objects.{key}", source)
        if not isinstance(key, str) or not _OBJECT_KEY.match(key):
            raise ConfigError(
                f"{source}: objects.{key}: object keys must be lowercase letters, digits and underscores "
                "(they name the DAG, hubspot_<key>)"
            )
        merged = deep_merge(defaults, settings)
        merged.setdefault("object_type", key)
        merged["key"] = key
        _resolve_mapping_file(merged, config_dir)
        resolved_objects.append(merged)
    _link_reverse_associations(resolved_objects)
    try:
        return SyncConfig(
            environment=env,
            source=source,
            objects=tuple(resolved_objects),
            owners=deep_merge(
                {k: v for k, v in defaults.items() if k not in ("schedule", "full_refresh_schedule")}, owners
            ),
            healthcheck=healthcheck,
        )
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, resolved_objects, source)) from None


def _link_reverse_associations(objects: list[dict[str, Any]]) -> None:
    """Set each object's ``associated_from``: the other objects whose associations name it."""
    from hubspot_etl.hooks.object_types import standard_object_type

    def identity(name: str) -> str:
        standard = standard_object_type(name)
        return standard["object_type_id"] if standard else str(name).lower()

    def destination(obj: dict[str, Any]) -> tuple[Any, ...]:
        d = obj.get("destination") or {}
        return (d.get("type", "postgres"), d.get("conn_id", "hubspot_warehouse"), d.get("schema", "hubspot"))

    for obj in objects:
        names = {identity(obj["object_type"]), identity(obj["key"])}
        obj["associated_from"] = [
            other["object_type"]
            for other in objects
            if other is not obj
            and destination(other) == destination(obj)
            and names & {identity(t) for t in other.get("associations") or []}
        ]


def _resolve_mapping_file(settings: dict[str, Any], config_dir: Path | None) -> None:
    """Point a relative ``scoring.stage_mapping_file`` at the copy beside the config, if any."""
    scoring = settings.get("scoring")
    if not isinstance(scoring, dict) or config_dir is None:
        return
    name = scoring.get("stage_mapping_file")
    if isinstance(name, str) and not Path(name).is_absolute() and (config_dir / name).is_file():
        settings["scoring"] = {**scoring, "stage_mapping_file": str(config_dir / name)}


def _apply_environment(document: dict[str, Any], env: str | None, source: str) -> dict[str, Any]:
    environments = _mapping(document.get("environments"), "environments", source)
    base = {k: v for k, v in document.items() if k != "environments"}
    if not env:
        return base
    if env not in environments:
        known = ", ".join(sorted(environments)) or "none defined"
        raise ConfigError(f"{source}: environments.{env}: no such environment (known: {known})")
    overlay = _mapping(environments[env], f"environments.{env}", source)
    unknown = set(overlay) - {"defaults", "objects", "owners", "healthcheck"}
    if unknown:
        raise ConfigError(
            f"{source}: environments.{env}: unknown key(s): {', '.join(sorted(map(str, unknown)))}"
        )
    for key in _mapping(overlay.get("objects"), f"environments.{env}.objects", source):
        if key not in (base.get("objects") or {}):
            raise ConfigError(f"{source}: environments.{env}.objects.{key}: not an object of the base config")
    return deep_merge(base, overlay)


def _mapping(value: Any, key: str, source: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {key}: must be a mapping, got {type(value).__name__}")
    return value


def _describe_validation_error(exc: ValidationError, objects: list[dict[str, Any]], source: str) -> str:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        if len(loc) >= 2 and loc[0] == "objects" and isinstance(loc[1], int):
            loc = ["objects", objects[loc[1]]["key"], *loc[2:]]
        key = ".".join("schema" if part == "schema_name" else str(part) for part in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{key}: {message}" if key else message)
    return f"{source}: invalid configuration:\n  " + "\n  ".join(lines)
