"""Two fixes to fakesnow 0.12.1, applied inside the emulator process (``fakesnow_server.py``).

They make the emulator run statements that real Snowflake runs, so the product sends the real
statements and the tests exercise them (docs/snowflake.md lists both):

* ``MERGE``: fakesnow rewrites a merge into a ``merge_candidates`` table plus ``UPDATE``/``INSERT``
  statements, but copies into that table only the source columns an update or insert names
  bare (``S.x``): a source column used inside an expression (``COALESCE(S.x, T.x)``, a ``CASE``,
  ``PARSE_JSON(S.x)``) or only in the ``ON`` clause of a quoted alias is missing and the statement
  fails. The fix carries every source column (``S.*``).
* ``NULL`` timestamps: fakesnow encodes ``TIMESTAMP_*`` results as Snowflake's ``(epoch,
  fraction[, timezone])`` struct without a validity mask, so the connector reads a NULL as
  1970-01-01. The fix keeps the mask.

Imports nothing from the repository (this file runs in the fakesnow virtualenv).
"""

from __future__ import annotations

from typing import Any


def apply() -> None:
    _fix_merge_candidates()
    _fix_null_timestamps()


def _fix_merge_candidates() -> None:
    import importlib

    import sqlglot
    from sqlglot import exp

    # the package re-exports the function under the module's name: fetch the module itself
    merge_module = importlib.import_module("fakesnow.transforms.merge")

    def create_merge_candidates(merge_expr: exp.Merge) -> Any:
        target = merge_expr.this
        source = merge_expr.args["using"]
        source_alias = source.alias_or_name
        join = merge_expr.args["on"]
        cases = []
        for index, when in enumerate(merge_expr.args["whens"]):
            condition = when.args.get("condition")
            if when.args.get("matched"):
                predicate = (
                    join.copy() if condition is None else exp.And(this=join.copy(), expression=condition)
                )
                cases.append(f"WHEN {predicate.sql()} THEN {index}")
            else:
                extra = f" AND {condition.sql()}" if condition is not None else ""
                cases.append(f"WHEN {target.alias or target.name}.rowid IS NULL{extra} THEN {index}")
        source_ref = exp.to_identifier(
            source_alias, quoted=bool(source.args.get("alias") and source.args["alias"].this.quoted)
        )
        sql = (
            f"CREATE OR REPLACE TEMPORARY TABLE merge_candidates AS SELECT {source_ref.sql()}.*, "  # noqa: S608
            f"CASE {' '.join(cases)} ELSE NULL END AS MERGE_OP FROM {target.sql()} "
            f"FULL OUTER JOIN {source.sql()} ON {join.sql()} WHERE MERGE_OP IS NOT NULL"
        )
        return sqlglot.parse_one(sql)

    merge_module._create_merge_candidates = create_merge_candidates


def _fix_null_timestamps() -> None:
    import pyarrow as pa
    from fakesnow import arrow

    original = arrow.timestamp_to_sf_struct

    def timestamp_to_sf_struct(ts: Any) -> Any:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        struct = original(ts)
        if ts.null_count == 0:
            return struct
        fields = [struct.type.field(i) for i in range(struct.type.num_fields)]
        children = [struct.field(i) for i in range(struct.type.num_fields)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=ts.is_null())

    arrow.timestamp_to_sf_struct = timestamp_to_sf_struct
