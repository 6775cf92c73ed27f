"""Fixtures of the Fivetran-mode tests: a sandbox, a ``schema_style: fivetran`` destination on
PostgreSQL, the BigQuery emulator or the Snowflake emulator, and an in-process sync driver.

``ft`` (parametrised through ``warehouse_kind``) is a :class:`FivetranEnv`:

* ``sync(key)`` runs one object's sync in-process through :mod:`hubspot_etl.sync.steps`
  (prepare, extract, load, associations, history where configured, reconcile, finalize), as the
  DAG's tasks do; ``sync_owners()`` the owners sync;
* ``views()`` / ``native()``: relation names of the views' schema and of the native schema;
* ``families(view)``: ``column -> type family`` of a view (``bigint``, ``text``, ``timestamp``,
  ``boolean``, ``numeric``, ``double``, ``date``, ``json``), read from the destination's catalog;
* ``query(sql)``: rows (lower-case keys) of a statement where ``{name}`` is the qualified name of
  the view ``name`` and ``{native.name}`` that of a native table.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hubspot_sandbox import ALL_SCOPES, SandboxConfig, SandboxServer, generate_portal
from psycopg import sql
from psycopg.rows import dict_row

from tests.contract.conftest import _BQ_FAMILIES, _PG_FAMILIES, _SF_FAMILIES

TOKEN = "fivetran-test-token-41b7"
KINDS = ("postgres", "bigquery", "snowflake")
ENGAGEMENT_FAMILIES = ("calls", "emails", "meetings", "notes", "tasks", "communications")


def portal_sizes() -> dict[str, int]:
    """The generated portal; engagement families where the sandbox models them."""
    sizes = dict(
        seed=23, contacts=120, companies=30, deals=50, tickets=5, custom=5, extra_properties=4, owners=6
    )
    accepted = inspect.signature(generate_portal).parameters
    sizes.update({family: 12 for family in ENGAGEMENT_FAMILIES if family in accepted})
    return sizes


def engagements_modelled() -> bool:
    return "calls" in inspect.signature(generate_portal).parameters


def history_supported() -> bool:
    from hubspot_etl.config import ObjectConfig

    return "history" in ObjectConfig.model_fields


def default_objects() -> dict[str, Any]:
    history = {"history": ["dealstage", "amount", "dealname"]} if history_supported() else {}
    objects: dict[str, Any] = {
        "contacts": {"associations": ["companies", "deals"], **({"history": "all"} if history else {})},
        "companies": {"associations": ["contacts", "deals"], **({"history": ["name"]} if history else {})},
        "deals": {"associations": ["companies", "contacts"], **history},
    }
    if engagements_modelled():
        for family in ENGAGEMENT_FAMILIES:
            objects[family] = {"associations": ["contacts", "companies", "deals"]}
    return objects


@dataclass
class FivetranEnv:
    kind: str
    sandbox: SandboxServer
    schema: str
    staging: Path
    make_warehouse: Callable[..., Any] = field(repr=False)
    run_query: Callable[[str], list[dict[str, Any]]] = field(repr=False)
    read_families: Callable[[str, str], dict[str, str]] = field(repr=False)
    read_relations: Callable[[str], dict[str, str]] = field(repr=False)
    destination_extra: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=default_objects)
    style: str = "fivetran"
    runs: int = 0

    @property
    def native_schema(self) -> str:
        if self.style != "fivetran":
            return self.schema
        return self.destination_extra.get("native_schema") or f"{self.schema}_native"

    # ------------------------------------------------------------------ config and sync
    def document(self) -> dict[str, Any]:
        destination = {"type": self.kind, "schema": self.schema, "schema_style": self.style}
        return {
            "objects": self.objects,
            "defaults": {
                "destination": {**destination, **self.destination_extra},
                "staging_base": f"file://{self.staging}",
                "lease_wait_seconds": 0,
                "lookback_minutes": 1,
            },
        }

    def config(self) -> Any:
        from hubspot_etl.config import parse_config

        return parse_config(self.document())

    def warehouse(self) -> Any:
        cfg = self.config().owners.destination
        return self.make_warehouse(cfg.tables_schema, cfg.fivetran_schema)

    def hook(self) -> Any:
        from hubspot_etl.hooks.hubspot import HubSpotHook

        return HubSpotHook.from_params(token=TOKEN, host=self.sandbox.url)

    def context(self, cfg: Any, dag_id: str, **params: Any) -> Any:
        from hubspot_etl.sync import steps

        self.runs += 1
        return steps.StepContext(
            cfg=cfg,
            dag_id=dag_id,
            run_id=f"manual__{self.runs:04d}_{uuid.uuid4().hex[:6]}",
            params=params,
            hook_factory=self.hook,
            warehouse_factory=self.warehouse,
        )

    def sync(self, key: str, **params: Any) -> dict[str, Any]:
        """One object's sync, task by task, in-process; returns the run report."""
        from hubspot_etl.sync import steps

        cfg = self.config().object(key)
        ctx = self.context(cfg, cfg.dag_id, **params)
        plan = steps.prepare(ctx)
        manifest = steps.extract(ctx, plan)
        loaded = steps.load(ctx, plan, manifest)
        linked = steps.associations(ctx, plan, manifest)
        history = steps.history(ctx, plan, manifest) if getattr(cfg, "history", None) else None
        reconciled = steps.reconcile(ctx, plan, manifest)
        extra = {"history": history} if history is not None else {}
        return dict(steps.finalize(ctx, plan, manifest, loaded, linked, reconciled, **extra))

    def sync_owners(self) -> dict[str, Any]:
        from hubspot_etl.sync import steps

        cfg = self.config().owners
        return dict(steps.sync_owners(self.context(cfg, "hubspot_owners")))

    def sync_all(self, **params: Any) -> dict[str, dict[str, Any]]:
        reports = {"owners": self.sync_owners()}
        for key in self.objects:
            reports[key] = self.sync(key, **params)
        return reports

    # ------------------------------------------------------------------ sandbox
    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        import requests

        response = requests.request(method, f"{self.sandbox.url}/_sandbox/{path}", json=payload, timeout=30)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json() if response.content else None

    def snapshot(self, object_type: str) -> dict[str, Any]:
        return self.admin("GET", f"state/{object_type}")

    # ------------------------------------------------------------------ reading
    def views(self) -> dict[str, str]:
        return self.read_relations(self.schema)

    def native(self) -> dict[str, str]:
        return self.read_relations(self.native_schema)

    def families(self, view: str) -> dict[str, str]:
        return self.read_families(self.schema, view)

    def query(self, statement: str) -> list[dict[str, Any]]:
        return [{str(k).lower(): v for k, v in r.items()} for r in self.run_query(statement)]

    def rows(self, view: str) -> list[dict[str, Any]]:
        return self.query(f"SELECT * FROM {{{view}}}")


def scratch_schemas(schema: str) -> list[str]:
    """The schemas a test may use: its own, ``<own>_other``, and their ``_native`` schemas."""
    return [name for base in (schema, f"{schema}_other") for name in (base, f"{base}_native")]


def _family(families: dict[str, str], type_name: str, where: str) -> str:
    family = families.get(type_name)
    assert family is not None, f"{where}: unexpected column type {type_name!r}"
    return family


# ---------------------------------------------------------------------- PostgreSQL
def _postgres(request: pytest.FixtureRequest, base: dict[str, Any]) -> Iterator[FivetranEnv]:
    from hubspot_etl.warehouse.postgres import PostgresWarehouse

    pg_uri: str = request.getfixturevalue("pg_uri")

    def connect() -> psycopg.Connection:
        conn = psycopg.connect(pg_uri, autocommit=True, row_factory=dict_row)
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def qualify(statement: str, env: FivetranEnv) -> str:
        def name(schema: str, table: str) -> str:
            return sql.Identifier(schema, table).as_string(None)

        return _format(statement, lambda v: name(env.schema, v), lambda t: name(env.native_schema, t))

    def query(statement: str) -> list[dict[str, Any]]:
        with connect() as conn:
            return conn.execute(qualify(statement, env)).fetchall()  # type: ignore[arg-type]

    def families(schema: str, table: str) -> dict[str, str]:
        with connect() as conn:
            found = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
        return {
            r["column_name"]: _family(_PG_FAMILIES, r["data_type"], f"{table}.{r['column_name']}")
            for r in found
        }

    def relations(schema: str) -> dict[str, str]:
        with connect() as conn:
            found = conn.execute(
                "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
                [schema],
            ).fetchall()
        return {r["table_name"]: "view" if r["table_type"] == "VIEW" else "table" for r in found}

    def make(schema: str, fivetran_schema: str | None) -> PostgresWarehouse:
        warehouse = PostgresWarehouse(schema, conninfo=pg_uri, fivetran_schema=fivetran_schema)
        warehouse.lock_poll_s = 0.1
        return warehouse

    env = FivetranEnv(
        "postgres",
        make_warehouse=make,
        run_query=query,
        read_families=families,
        read_relations=relations,
        **base,
    )
    try:
        yield env
    finally:
        with psycopg.connect(pg_uri, autocommit=True) as conn:
            for name in scratch_schemas(base["schema"]):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _format(statement: str, view: Callable[[str], str], native: Callable[[str], str]) -> str:
    """``{name}`` -> a view, ``{native.name}`` -> a native table."""
    import re

    def replace(match: re.Match) -> str:
        name = match.group(1)
        return native(name.removeprefix("native.")) if name.startswith("native.") else view(name)

    return re.sub(r"\{([a-z_.]+)\}", replace, statement)


# ---------------------------------------------------------------------- BigQuery
def _bigquery(request: pytest.FixtureRequest, base: dict[str, Any]) -> Iterator[FivetranEnv]:
    from hubspot_etl.warehouse.bigquery import BigQueryWarehouse

    client = request.getfixturevalue("bq_client")

    def query(statement: str) -> list[dict[str, Any]]:
        text = _format(
            statement,
            lambda v: f"`{client.project}.{env.schema}.{v}`",
            lambda t: f"`{client.project}.{env.native_schema}.{t}`",
        )
        return [dict(row.items()) for row in client.query(text).result()]

    def families(schema: str, table: str) -> dict[str, str]:
        fields = client.query(f"SELECT * FROM `{client.project}.{schema}.{table}` LIMIT 0").result().schema
        return {f.name.lower(): _family(_BQ_FAMILIES, f.field_type, f"{table}.{f.name}") for f in fields}

    def relations(schema: str) -> dict[str, str]:
        from google.api_core.exceptions import NotFound

        try:
            listed = list(client.list_tables(f"{client.project}.{schema}"))
        except NotFound:
            return {}
        return {t.table_id.lower(): "view" if t.table_type == "VIEW" else "table" for t in listed}

    def make(schema: str, fivetran_schema: str | None) -> BigQueryWarehouse:
        warehouse = BigQueryWarehouse(schema, client=client, fivetran_schema=fivetran_schema)
        warehouse.lock_poll_s = 0.1
        return warehouse

    env = FivetranEnv(
        "bigquery",
        make_warehouse=make,
        run_query=query,
        read_families=families,
        read_relations=relations,
        destination_extra={"project": client.project},
        **base,
    )
    try:
        yield env
    finally:
        for name in scratch_schemas(base["schema"]):
            client.delete_dataset(name, delete_contents=True, not_found_ok=True)


# ---------------------------------------------------------------------- Snowflake
def _snowflake(request: pytest.FixtureRequest, base: dict[str, Any]) -> Iterator[FivetranEnv]:
    from hubspot_etl.warehouse.snowflake import SnowflakeWarehouse

    factory = request.getfixturevalue("snowflake_conn_factory")

    def quote(name: str) -> str:
        return '"' + name.upper().replace('"', '""') + '"'

    def run(statement: str, params: Any = None) -> list[dict[str, Any]]:
        conn = factory()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                names = [d[0].lower() for d in cur.description or []]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()

    def query(statement: str) -> list[dict[str, Any]]:
        return run(
            _format(
                statement,
                lambda v: f"{quote(env.schema)}.{quote(v)}",
                lambda t: f"{quote(env.native_schema)}.{quote(t)}",
            )
        )

    def families(schema: str, table: str) -> dict[str, str]:
        found = run(
            "SELECT column_name, data_type, numeric_scale FROM information_schema.columns "
            "WHERE UPPER(table_schema) = %s AND UPPER(table_name) = %s ORDER BY ordinal_position",
            [schema.upper(), table.upper()],
        )
        out = {}
        for r in found:
            data_type = r["data_type"].upper()
            if data_type in ("NUMBER", "DECIMAL", "NUMERIC"):
                out[r["column_name"].lower()] = "bigint" if r["numeric_scale"] in (0, None) else "numeric"
            else:
                out[r["column_name"].lower()] = _family(
                    _SF_FAMILIES, data_type, f"{table}.{r['column_name']}"
                )
        return out

    def relations(schema: str) -> dict[str, str]:
        where = "WHERE UPPER(table_schema) = %s"
        found = run(f"SELECT table_name, table_type FROM information_schema.tables {where}", [schema.upper()])
        views = run(f"SELECT table_name FROM information_schema.views {where}", [schema.upper()])
        relations = {r["table_name"].lower(): "view" if r["table_type"] == "VIEW" else "table" for r in found}
        return relations | {r["table_name"].lower(): "view" for r in views}  # the emulator: views only there

    def make(schema: str, fivetran_schema: str | None) -> SnowflakeWarehouse:
        warehouse = SnowflakeWarehouse(schema, connection_factory=factory, fivetran_schema=fivetran_schema)
        warehouse.lock_poll_s = 0.1
        return warehouse

    env = FivetranEnv(
        "snowflake",
        make_warehouse=make,
        run_query=query,
        read_families=families,
        read_relations=relations,
        **base,
    )
    yield env


_BUILDERS = {"postgres": _postgres, "bigquery": _bigquery, "snowflake": _snowflake}


@pytest.fixture
def warehouse_kind(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "postgres")


@pytest.fixture
def ft(request: pytest.FixtureRequest, warehouse_kind: str, tmp_path: Path) -> Iterator[FivetranEnv]:
    """A fivetran-style destination of ``warehouse_kind`` over a fresh sandbox portal."""
    marker = request.node.get_closest_marker("portal")
    portal = generate_portal(**{**portal_sizes(), **(marker.kwargs if marker else {})})
    config = SandboxConfig(tokens={TOKEN: list(ALL_SCOPES)}, rate_limit_max=None, search_per_second=None)
    with SandboxServer(portal, config) as server:
        base = {"sandbox": server, "schema": f"ft_{uuid.uuid4().hex[:10]}", "staging": tmp_path / "staging"}
        yield from _BUILDERS[warehouse_kind](request, base)


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, indent=1)
