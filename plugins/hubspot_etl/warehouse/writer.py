"""What the core and its mixins share: reading and upserting declared tables over the dialect."""

# S608: the SQL text interpolates only identifiers quoted by the dialect and fixed fragments;
# values are always bound parameters or bulk-load data.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hubspot_etl.warehouse.dialect import Dialect, P, Session, Upsert
from hubspot_etl.warehouse.tables import BIGINT, Table


class TableWriter:
    """Helpers over ``self.d``, the destination's :class:`~hubspot_etl.warehouse.dialect.Dialect`."""

    d: Dialect

    def _t(self, table: str) -> str:
        return self.d.table(table)

    def _select(
        self, s: Session, table: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict]:
        """Rows of ``SELECT <sql with {t}>``; none when ``table`` does not exist yet."""
        if not self.d.table_exists(s, table):
            return []
        return s.execute(sql.format(t=self._t(table)), params).rows

    def _merge_rows(
        self,
        s: Session,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        update: Sequence[str] | None = None,
        stamp: Sequence[str] = (),
        stamp_new: Sequence[str] = (),
        exprs: Mapping[str, str] | None = None,
        insert_exprs: Mapping[str, str] | None = None,
        when: str | None = None,
    ) -> int:
        """Upsert ``rows`` (the last of equal keys wins) by the table's key.

        ``update``: columns copied on a match (default: every non-key one); ``stamp``: columns
        set to now on insert and update; ``stamp_new``: on insert only; ``exprs``: other
        update expressions; ``insert_exprs``: other insert expressions.
        """
        if not rows:
            return 0
        latest = {tuple(r[k] for k in table.key): r for r in rows}
        cols = [c for c in table.names if c in rows[0]]
        source = self._stage(s, table, cols, latest.values())
        insert = {c: self.d.staged(f"S.{self.d.quote(c)}", table.types[c]) for c in cols}
        insert |= dict.fromkeys((*stamp, *stamp_new), self.d.now) | dict(insert_exprs or {})
        copied = [c for c in cols if c not in table.key] if update is None else update
        changes = {c: insert[c] for c in copied} | dict.fromkeys(stamp, self.d.now) | dict(exprs or {})
        return self.d.upsert(s, Upsert(table.name, table.key, source, insert, changes, when))

    def _stage(self, s: Session, table: Table, cols: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
        """Stage dict rows on ``cols`` of ``table`` (documents as JSON text)."""
        docs = {c for c in cols if table.types[c] == "json"}
        values = ([_json_text(r[c]) if c in docs else r[c] for c in cols] for r in rows)
        return s.stage([(c, table.types[c]) for c in cols], values)

    def _in(self, column: str, ids: Sequence[int]) -> tuple[str, dict[str, P]]:
        return self.d.in_list(column, "ids"), {"ids": P([int(i) for i in ids], BIGINT)}


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)
