"""Staged parts and their id indexes (``sync/staging.py``), on a real ``file://`` object store."""

from __future__ import annotations

from pathlib import Path

from hubspot_etl.sync.staging import PartWriter, read_part, read_part_index, staging_dir


def _record(record_id: int, merged: str | None = None) -> dict:
    props = {"email": f"u{record_id}@example.com", "hs_merged_object_ids": merged}
    return {"id": str(record_id), "properties": props, "archived": False}


def _write(tmp_path: Path, records: list[dict], part_size: int = 3) -> PartWriter:
    directory = staging_dir(f"file://{tmp_path}", "hubspot_contacts", "run 1", 1)
    with PartWriter(directory, "run 1/attempt-1", part_size) as writer:
        writer.write_many(records)
    return writer


def test_every_part_has_an_index_of_its_ids_and_merges(tmp_path: Path) -> None:
    records = [_record(i) for i in range(1, 8)]
    records[4] = _record(5, merged="90;91")
    writer = _write(tmp_path, records)
    assert [p.rows for p in writer.parts] == [3, 3, 1]
    indexes = [read_part_index(p.as_dict()) for p in writer.parts]
    assert [ix["ids"] for ix in indexes] == [[1, 2, 3], [4, 5, 6], [7]]
    assert indexes[1]["merged"] == {"5": "90;91"}
    assert indexes[0]["merged"] == {} and indexes[2]["merged"] == {}
    assert [int(r["id"]) for p in writer.parts for r in read_part(p.uri)] == list(range(1, 8))


def test_a_part_without_index_is_indexed_from_its_records(tmp_path: Path) -> None:
    writer = _write(tmp_path, [_record(11, merged="3"), _record(12)], part_size=10)
    part = writer.parts[0].as_dict()
    from_file = read_part_index(part)
    part["index_uri"] = None  # as staged by an older version
    assert read_part_index(part) == from_file == {"ids": [11, 12], "merged": {"11": "3"}}


def test_a_retried_writer_removes_the_stale_parts_and_indexes(tmp_path: Path) -> None:
    _write(tmp_path, [_record(i) for i in range(1, 10)])
    writer = _write(tmp_path, [_record(1)])
    directory = tmp_path / "hubspot_contacts" / "run_1" / "attempt-1"
    assert writer.parts[0].uri.endswith("attempt-1/part-00001.ndjson")
    assert sorted(p.name for p in directory.iterdir()) == ["part-00001.index.json", "part-00001.ndjson"]
