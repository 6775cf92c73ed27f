"""Load-speed benchmark (not a test): ``load_part`` vs row-by-row ``INSERT ... ON CONFLICT``.

Run from the repository root::

    .venv/bin/python tests/warehouse/bench_load.py [rows] [properties]

It starts an embedded PostgreSQL, builds one part of ``rows`` records x ``properties``
properties (mixed types), and times:

* ``load_part`` end to end (NDJSON parse + conversion + COPY + upsert), first as inserts, then
  the same records as updates (a new part id);
* the baselines: the same converted rows upserted with one ``cursor.execute`` per row, in one
  transaction (``execute``) and committed per row (``autocommit``), and psycopg 3's pipelined
  ``executemany`` with the same statement, for reference. Baselines include the same NDJSON parsing
  and value conversion, so only the database path differs.
"""

from __future__ import annotations

import atexit
import json
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from hubspot_etl.sync.staging import read_part
from hubspot_etl.warehouse.postgres import PostgresWarehouse
from hubspot_etl.warehouse.records import RowBuilder, property_names_in
from psycopg import sql

TYPES = ["string"] * 20 + ["number"] * 10 + ["datetime"] * 10 + ["date"] * 5 + ["bool"] * 5


def _value(kind: str, i: int, j: int) -> str:
    return {
        "string": f"value {i} {j} some text",
        "number": f"{i * 1.5 + j}",
        "datetime": f"2024-0{1 + j % 9}-1{j % 10}T12:34:56.{i % 1000:03d}Z",
        "date": f"2024-0{1 + j % 9}-0{1 + i % 9}",
        "bool": "true" if (i + j) % 2 else "false",
    }[kind]


def make_part(path: Path, rows: int, n_props: int) -> list[dict]:
    props = [{"name": f"prop_{j:03d}", "type": TYPES[j % len(TYPES)]} for j in range(n_props)]
    with open(path, "w") as handle:
        for i in range(rows):
            record = {
                "id": str(i + 1),
                "properties": {p["name"]: _value(p["type"], i, j) for j, p in enumerate(props)},
                "createdAt": "2024-01-01T00:00:00Z",
                "updatedAt": "2024-05-01T00:00:00.000Z",
                "archived": False,
            }
            handle.write(json.dumps(record) + "\n")
    return props


def row_by_row(wh: PostgresWarehouse, uri: str, path: Path, mode: str) -> float:
    """Baseline: convert the same way, then one INSERT ... ON CONFLICT per row."""
    started = time.perf_counter()
    records = list(read_part(path))
    builder = RowBuilder(wh.column_specs("contacts"), property_names_in(records))
    names = builder.column_names[:-1]  # no _seq
    rows = [row[:-1] for row in builder.rows(records)]
    query = sql.SQL("INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT (id) DO UPDATE SET {sets}").format(
        t=sql.Identifier(wh.schema, "contact"),
        cols=sql.SQL(", ").join(map(sql.Identifier, names)),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(names)),
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in names[1:]),
    )
    with psycopg.connect(uri, autocommit=mode == "autocommit") as conn, conn.cursor() as cur:
        if mode == "executemany":
            cur.executemany(query, rows)
        else:
            for row in rows:
                cur.execute(query, row)
    return time.perf_counter() - started


def main() -> None:
    import pgserver

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_props = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    tmp = Path(tempfile.mkdtemp())
    server = pgserver.get_server(str(tmp / "pg"), cleanup_mode="stop")
    uri = server.get_uri()
    try:
        part = tmp / "part.ndjson"
        props = make_part(part, rows, n_props)
        results = {}
        labels = ("load_part", "row_by_row_execute", "row_by_row_autocommit", "row_by_row_executemany")
        for label in labels:
            wh = PostgresWarehouse(f"bench_{label}", conninfo=uri)
            wh.ensure_schema()
            wh.ensure_object_table("contacts", props)
            timings = []
            for attempt in ("insert", "update"):
                if label == "load_part":
                    started = time.perf_counter()
                    wh.load_part("contacts", f"part-{attempt}", part)
                    timings.append(time.perf_counter() - started)
                else:
                    timings.append(row_by_row(wh, uri, part, mode=label.rsplit("_", 1)[1]))
            results[label] = timings
        print(f"{rows} rows x {n_props} properties (unix socket, embedded PostgreSQL 16)")
        for label, (ins, upd) in results.items():
            print(f"  {label:24s} insert {ins:7.3f}s  update {upd:7.3f}s")
        started = time.perf_counter()
        records = list(read_part(part))
        list(RowBuilder(wh.column_specs("contacts"), property_names_in(records)).rows(records))
        convert_s = time.perf_counter() - started
        print(f"  (parse + convert alone, included in every variant: {convert_s:.3f}s)")
        fast = results["load_part"]
        for label in labels[1:]:
            base = results[label]
            print(
                f"  speed-up vs {label}: insert {base[0] / fast[0]:.1f}x, update {base[1] / fast[1]:.1f}x; "
                f"database part only: insert {(base[0] - convert_s) / (fast[0] - convert_s):.1f}x, "
                f"update {(base[1] - convert_s) / (fast[1] - convert_s):.1f}x"
            )
    finally:
        server.cleanup()
        atexit.unregister(server._cleanup)


if __name__ == "__main__":
    main()
