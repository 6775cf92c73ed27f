"""The narrow interface a destination implements: SQL text, types, and its I/O primitives.

The core (:mod:`hubspot_etl.warehouse.core`) writes statements with ``@name`` placeholders and
fixed system identifiers; everything that differs between warehouses is asked of the dialect:

* identifiers: :meth:`Dialect.quote` (validated), :meth:`Dialect.table` (qualified);
* types: :meth:`Dialect.type_sql`, the staging type of a column and how a staged value is read
  back (:meth:`Dialect.stage_type`, :meth:`Dialect.staged`), numeric limits, row size budget;
* a few expressions: ``now``, membership in a bound list, adding milliseconds, the JSON key merge;
* I/O: a :class:`Session` (one connection; a transaction where the warehouse has them) that
  executes a statement with bound values and bulk-stages rows into a temporary table, and
  :meth:`Dialect.upsert` (``MERGE`` by default);
* DDL: create a declared table, list its columns, add columns, widen columns to text;
* the lease primitive: a session lock where the warehouse has one (else the core keeps lease rows).
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments;
# values are always bound parameters or bulk-load data.
# ruff: noqa: S608

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from hubspot_etl.warehouse.tables import Table
from hubspot_etl.warehouse.types import NumericLimits

_SOURCE_REF = re.compile(r"\bS\.[`\"]?(\w+)")


@dataclass
class Result:
    """Rows (dicts keyed by lower-case column name) and the DML row count of one statement."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    affected: int = 0


@dataclass(frozen=True)
class P:
    """A bound value with its column type (needed for NULLs and lists on typed drivers)."""

    value: Any
    type: str


@dataclass(frozen=True)
class Upsert:
    """Write ``source`` rows (alias ``S``) into ``table`` (alias ``T``) by ``keys``.

    ``insert``: column -> expression for new rows; ``update``: column -> expression for
    matched rows (empty: matched rows are left alone); ``when``: extra condition for updating.
    Expressions use ``S.<column>`` and ``T.<column>`` only.
    """

    table: str
    keys: Sequence[str]
    source: str
    insert: Mapping[str, str]
    update: Mapping[str, str] = field(default_factory=dict)
    when: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def source_refs(self) -> set[str]:
        """Source columns the update and its condition read."""
        text = " ".join([*self.update.values(), self.when or ""])
        return set(_SOURCE_REF.findall(text))


class Session(abc.ABC):
    """One connection to the warehouse: a transaction where the warehouse has them."""

    @abc.abstractmethod
    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> Result:
        """Run one statement; ``@name`` placeholders are bound from ``params`` (never pasted)."""

    @abc.abstractmethod
    def stage(self, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> str:
        """Bulk-load ``rows`` (values in ``columns`` order, types as :meth:`Dialect.stage_type`)
        into a new temporary table and return its SQL name; it is gone when the session ends."""


class Dialect(abc.ABC):
    """What differs between destinations; see the module docstring."""

    name: str = ""
    #: Statements of one session commit or roll back together.
    transactional: bool = True
    numeric_limits: NumericLimits
    #: Per-row byte budget (PostgreSQL pages); None: no per-row limit.
    row_bytes_budget: int | None = None
    #: The row builder may pass typed values as their text (PostgreSQL COPY reads them so).
    text_values: bool = False
    #: Columns added per ALTER TABLE statement.
    add_columns_per_statement: int = 400
    #: Ids per statement where a list is bound.
    ids_per_statement: int = 10_000
    #: ``row_id`` columns fill themselves (identity); else the core writes a UUID.
    generates_row_ids: bool = False
    now: str = "CURRENT_TIMESTAMP()"
    #: Where the sync writes: "schema <x>" or "dataset <x>", for messages.
    where: str = ""

    # ------------------------------------------------------------------ text
    @abc.abstractmethod
    def quote(self, name: str) -> str:
        """The quoted identifier (raises :class:`WarehouseError` if the warehouse cannot name it)."""

    @abc.abstractmethod
    def table(self, name: str) -> str:
        """The qualified, quoted name of a table of this destination."""

    @abc.abstractmethod
    def type_sql(self, column_type: str) -> str:
        """The column type of a declared or logical type."""

    def stage_type(self, column_type: str) -> str:
        """Type of the column in a staging table (default: the column type)."""
        return self.type_sql(column_type)

    def staged(self, expr: str, column_type: str) -> str:
        """Read a staged value back as the column type (default: as it is)."""
        return expr

    @abc.abstractmethod
    def in_list(self, expr: str, param: str) -> str:
        """``expr`` is one of the values of the list bound as ``@param``."""

    @abc.abstractmethod
    def add_ms(self, expr: str, param: str) -> str:
        """The timestamp ``expr`` plus ``@param`` milliseconds."""

    @abc.abstractmethod
    def text_to_bigint(self, expr: str) -> str:
        """``expr`` as a bigint when its text is a plain integer, else NULL (owner ids)."""

    def json_merge(self, target: str, source: str, keys_param: str) -> str | None:
        """SQL for ``(target - keys) || source`` on documents, or None: the core merges in Python."""
        return None

    def values_source(
        self, columns: Sequence[tuple[str, str]], values: Mapping[str, Any]
    ) -> tuple[str, dict]:
        """A one-row source ``(SELECT @v_a AS a, ...)`` of typed bound values, and its params."""
        params = {f"v_{name}": P(values.get(name), type_) for name, type_ in columns}
        select = ", ".join(f"@v_{name} AS {self.quote(name)}" for name, _ in columns)
        return f"(SELECT {select})", params

    # ------------------------------------------------------------------ I/O
    @abc.abstractmethod
    def session(self, lock: str | None = None) -> AbstractContextManager[Session]:
        """A session; ``lock`` names a transaction lock taken first where the dialect has one."""

    def upsert(self, session: Session, spec: Upsert) -> int:
        """Run ``spec`` as one ``MERGE``; returns rows inserted plus rows updated."""
        q = self.quote
        on = " AND ".join(f"T.{q(k)} = S.{q(k)}" for k in spec.keys)
        statement = f"MERGE INTO {self.table(spec.table)} T USING {spec.source} S ON {on}"
        if spec.update:
            cond = f" AND ({spec.when})" if spec.when else ""
            sets = ", ".join(f"{q(c)} = {e}" for c, e in spec.update.items())
            statement += f" WHEN MATCHED{cond} THEN UPDATE SET {sets}"
        cols = ", ".join(q(c) for c in spec.insert)
        statement += f" WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({', '.join(spec.insert.values())})"
        return session.execute(statement, spec.params).affected

    # ------------------------------------------------------------------ DDL
    @abc.abstractmethod
    def ensure_container(self) -> None:
        """Create the schema or dataset (idempotent)."""

    def create_table(self, session: Session, table: Table) -> None:
        """``CREATE TABLE IF NOT EXISTS`` from the declaration."""
        session.execute(self.create_table_sql(table))

    def create_table_sql(self, table: Table) -> str:
        cols = [
            f"{self.quote(c.name)} {self.column_sql(c.type, c.not_null, c.default)}" for c in table.columns
        ]
        if table.key:
            cols.append(f"PRIMARY KEY ({', '.join(map(self.quote, table.key))})")
        return f"CREATE TABLE IF NOT EXISTS {self.table(table.name)} ({', '.join(cols)})"

    def column_sql(self, column_type: str, not_null: bool, default: str | None) -> str:
        return self.type_sql(column_type) + (" NOT NULL" if not_null else "")

    @abc.abstractmethod
    def table_exists(self, session: Session, table: str) -> bool: ...

    @abc.abstractmethod
    def column_types(self, session: Session, table: str) -> dict[str, str]:
        """``lower(column) -> type name`` of a table (empty if it does not exist)."""

    def add_columns(self, session: Session, table: str, columns: Sequence[tuple[str, str]]) -> None:
        """Add ``(column, logical type)`` columns (the core passes only missing ones)."""
        step = self.add_columns_per_statement
        for start in range(0, len(columns), step):
            clauses = [
                f"ADD COLUMN {self.quote(c)} {self.type_sql(t)}" for c, t in columns[start : start + step]
            ]
            session.execute(f"ALTER TABLE {self.table(table)} " + ", ".join(clauses))

    @abc.abstractmethod
    def widen_to_text(self, session: Session, table: str, columns: Mapping[str, str]) -> None:
        """Turn ``column -> current type`` columns into text columns holding their text form
        (timestamps as ISO-8601 with milliseconds and ``Z``)."""

    def column_ordinals(self, session: Session, table: str) -> dict[str, int]:
        """``column -> position`` where the row builder needs it (PostgreSQL's per-row budget)."""
        return {}

    def verify_columns(self, session: Session, table: str, names: Sequence[str]) -> None:  # noqa: B027
        """Check that the table now has ``names`` (only where DDL is not transactional)."""

    @abc.abstractmethod
    def check_access(self, scratch: str) -> list[tuple[bool, str]]:
        """Connect, the privileges a sync needs, and a scratch table created, written, read, dropped."""

    # ------------------------------------------------------------------ views (schema_style: fivetran)
    #: Views fix the types of the columns they read (PostgreSQL): a column changing type drops
    #: them first (:meth:`hubspot_etl.warehouse.fivetran.FivetranViews.before_column_change`).
    views_bind_columns: bool = False
    #: Longest identifier, in UTF-8 bytes (longer view column names are left out).
    max_identifier_bytes: int = 255

    def sibling(self, schema: str) -> Dialect:
        """The same destination and connection settings, on another schema or dataset."""
        raise NotImplementedError(f"{type(self).__name__} has no sibling schemas")

    def list_relations(self, session: Session) -> dict[str, str]:
        """``lower(name) -> "table" | "view"`` of this schema's tables and views."""
        raise NotImplementedError(f"{type(self).__name__} lists no relations")

    def cast(self, expr: str, column_type: str) -> str:
        return f"CAST({expr} AS {self.type_sql(column_type)})"

    def no_rows(self, select_list: str) -> str:
        """A query with the columns of ``select_list`` and no rows."""
        return f"SELECT {select_list} LIMIT 0"

    def replace_view(self, session: Session, name: str, select: str) -> None:
        """Create or replace the view ``name`` of this schema as ``select``."""
        session.execute(f"CREATE OR REPLACE VIEW {self.table(name)} AS {select}")

    def drop_view(self, session: Session, name: str) -> None:
        session.execute(f"DROP VIEW IF EXISTS {self.table(name)}")

    # ------------------------------------------------------------------ leases
    def session_lock(
        self, key: str, wait: bool, timeout_s: float | None
    ) -> AbstractContextManager[None] | None:
        """A lock held by a session for the ``with`` block, or None: the core keeps lease rows."""
        return None


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
