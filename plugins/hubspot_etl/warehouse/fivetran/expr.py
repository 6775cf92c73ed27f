"""The small expression language of the Fivetran-style views, and its rendering.

A view is declared once, logically: which native column becomes which Fivetran column, with
which Fivetran type, as a small tree (:class:`Expr`, :class:`Field`, :class:`Select`,
:class:`View`); no SQL text here beyond fixed keywords. It is rendered per dialect
(:func:`render`): identifiers through ``Dialect.quote`` and ``Dialect.table``, types through
``Dialect.type_sql``, text ids through ``Dialect.text_to_bigint``. String literals are fixed
ASCII names checked by :func:`safe_literal`; the one number from outside, the portal id, is
checked by :func:`valid_portal_id`.
"""

# S608: the SQL text interpolates only identifiers quoted by the dialect, fixed fragments and
# literals checked by safe_literal / valid_portal_id.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hubspot_etl.warehouse.base import WarehouseError
from hubspot_etl.warehouse.dialect import Dialect
from hubspot_etl.warehouse.tables import BOOLEAN, TEXT

#: What :func:`safe_literal` lets through: fixed ASCII names.
LITERAL = re.compile(r"[A-Za-z0-9_.:+\- ]{0,200}")


def safe_literal(text: str) -> str:
    """``'text'`` for a fixed ASCII name (no quote or backslash can reach the SQL)."""
    if not isinstance(text, str) or not LITERAL.fullmatch(text):
        raise WarehouseError(f"not a literal the view SQL may carry: {text!r}")
    return f"'{text}'"


def valid_portal_id(value: Any) -> int:
    """The HubSpot portal id as a positive int (it becomes a literal of the view SQL)."""
    if isinstance(value, bool):
        raise ValueError(f"not a HubSpot portal id: {value!r}")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise ValueError(f"not a HubSpot portal id: {value!r}")
    return int(text)


# --------------------------------------------------------------------------- expressions
class Expr:
    """A logical SQL expression, rendered by :func:`render_expr`."""


@dataclass(frozen=True)
class Col(Expr):
    """A native column (``table`` is the alias of a joined table, None for the only one)."""

    name: str
    table: str | None = None


@dataclass(frozen=True)
class Const(Expr):
    """``TRUE``, ``FALSE``, an int, a literal name (:func:`safe_literal`) or a typed NULL."""

    value: bool | int | str | None
    type: str = TEXT


@dataclass(frozen=True)
class Cast(Expr):
    expr: Expr
    type: str


@dataclass(frozen=True)
class ToBigint(Expr):
    """Text such as ``hubspot_owner_id`` as a bigint (NULL when it is not a plain integer)."""

    expr: Expr


@dataclass(frozen=True)
class Func(Expr):
    """A function every destination spells the same: UPPER, COALESCE, CONCAT, MIN, MAX."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Op(Expr):
    """``left <op> right`` for AND, =, >=; ``NOT right`` when ``left`` is None."""

    op: str
    left: Expr | None
    right: Expr


@dataclass(frozen=True)
class Case(Expr):
    """``CASE expr WHEN a THEN b ... ELSE other END``."""

    expr: Expr
    whens: tuple[tuple[Expr, Expr], ...]
    other: Expr


@dataclass(frozen=True)
class NotNull(Expr):
    expr: Expr


def NOT(e: Expr) -> Op:  # noqa: N802 (reads like the SQL)
    return Op("NOT", None, e)


def AND(a: Expr, b: Expr) -> Op:  # noqa: N802
    return Op("AND", a, b)


def EQ(a: Expr, b: Expr) -> Op:  # noqa: N802
    return Op("=", a, b)


FALSE, TRUE = Const(False, BOOLEAN), Const(True, BOOLEAN)


def null(type_: str) -> Const:
    return Const(None, type_)


# --------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class Field:
    """One column of a view: its Fivetran name, Fivetran type and native expression."""

    name: str
    type: str
    expr: Expr


@dataclass(frozen=True)
class Join:
    table: str
    alias: str
    on: Expr
    left: bool = False


@dataclass(frozen=True)
class Select:
    """``SELECT fields FROM table [alias] joins [WHERE] [GROUP BY]``; no ``table``: no rows."""

    fields: tuple[Field, ...]
    table: str | None = None
    alias: str | None = None
    joins: tuple[Join, ...] = ()
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()


@dataclass(frozen=True)
class View:
    """A Fivetran table: its name, its columns and how they are read (UNION ALL of selects)."""

    name: str
    selects: tuple[Select, ...]
    sources: frozenset[str] = field(default_factory=frozenset)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(f.name, f.type) for f in self.selects[0].fields]


def empty(fields: Sequence[Field]) -> Select:
    """The same columns, no rows (the native table does not exist yet)."""
    return Select(tuple(Field(f.name, f.type, null(f.type)) for f in fields))


def render_expr(d: Dialect, e: Expr) -> str:
    if isinstance(e, Col):
        return (f"{e.table}." if e.table else "") + d.quote(e.name)
    if isinstance(e, Const):
        if e.value is None:
            return f"CAST(NULL AS {d.type_sql(e.type)})"
        if isinstance(e.value, bool):
            return "TRUE" if e.value else "FALSE"
        if isinstance(e.value, int):  # typed: a bare literal is the narrowest integer type
            return d.cast(str(int(e.value)), e.type)
        return safe_literal(e.value)
    if isinstance(e, Cast):
        return d.cast(render_expr(d, e.expr), e.type)
    if isinstance(e, ToBigint):
        return d.text_to_bigint(render_expr(d, e.expr))
    if isinstance(e, Func):
        if e.name not in ("UPPER", "COALESCE", "CONCAT", "MIN", "MAX"):
            raise ValueError(f"unknown function {e.name}")
        return f"{e.name}({', '.join(render_expr(d, a) for a in e.args)})"
    if isinstance(e, Op):
        if e.op not in ("AND", "=", ">="):
            if e.op == "NOT" and e.left is None:
                return f"(NOT {render_expr(d, e.right)})"
            raise ValueError(f"unknown operator {e.op}")
        assert e.left is not None
        return f"({render_expr(d, e.left)} {e.op} {render_expr(d, e.right)})"
    if isinstance(e, NotNull):
        return f"({render_expr(d, e.expr)} IS NOT NULL)"
    if isinstance(e, Case):
        whens = " ".join(f"WHEN {render_expr(d, a)} THEN {render_expr(d, b)}" for a, b in e.whens)
        return f"CASE {render_expr(d, e.expr)} {whens} ELSE {render_expr(d, e.other)} END"
    raise TypeError(f"not an expression: {e!r}")


def render_select(native: Dialect, s: Select) -> str:
    d = native
    cols = ", ".join(f"{render_expr(d, f.expr)} AS {d.quote(f.name)}" for f in s.fields)
    if s.table is None:
        return d.no_rows(cols)
    text = f"SELECT {cols} FROM {d.table(s.table)}" + (f" {s.alias}" if s.alias else "")
    for j in s.joins:
        text += f" {'LEFT ' if j.left else ''}JOIN {d.table(j.table)} {j.alias} ON {render_expr(d, j.on)}"
    if s.where is not None:
        text += f" WHERE {render_expr(d, s.where)}"
    if s.group_by:
        text += " GROUP BY " + ", ".join(render_expr(d, g) for g in s.group_by)
    return text


def render(native: Dialect, view: View) -> str:
    """The view's SELECT over the native tables (quoted, qualified, in the dialect's SQL)."""
    return " UNION ALL ".join(render_select(native, s) for s in view.selects)
