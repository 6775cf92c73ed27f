"""Staging files: extracted HubSpot records as bounded NDJSON parts.

Extract writes records to ``<staging_base>/<dag_id>/<run>/<attempt>/part-00001.ndjson``
and so on, ``part_size`` records per part, so memory stays flat whatever the object's
size. ``staging_base`` is any ``ObjectStoragePath``: ``file://`` locally, ``gs://`` or
``s3://`` on managed Airflow. Each part has a ``part_id`` that is unique per extract
attempt; the warehouse records loaded part ids, which makes a retried load skip the
parts it already committed.

Next to each part, a small index (``part-00001.index.json``) lists its record ids and the
``hs_merged_object_ids`` values it carries. The association and reconcile steps read the
index instead of parsing every staged record again.

:func:`read_part` is the one reader of staged parts, for the sync steps and the warehouse
adapters alike.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubspot_etl import fastjson
from hubspot_etl.warehouse.base import PartFormatError

if TYPE_CHECKING:  # imported where used: the warehouse reads parts with no need for Airflow
    from airflow.sdk import ObjectStoragePath


@dataclass(frozen=True)
class Part:
    """One staged file of records."""

    part_id: str
    uri: str
    rows: int
    index_uri: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Part:
        """A part from its ``as_dict()`` (parts staged before indexes existed have no ``index_uri``)."""
        return cls(value["part_id"], value["uri"], value["rows"], value.get("index_uri"))


def _storage_path(uri: str, conn_id: str | None = None) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    if conn_id:
        return ObjectStoragePath(uri, conn_id=conn_id)
    if uri.startswith(("file:", "local:", "/")):
        _attach_local_filesystem()
    return ObjectStoragePath(uri)


def open_staged(path: ObjectStoragePath, mode: str) -> Any:
    """Open a staged file through its filesystem.

    ``ObjectStoragePath.open`` reports every read and write call to Airflow's hook-lineage
    collector; staged parts are scratch files, not assets, and a part is written in thousands
    of calls.
    """
    return path.fs.open(path.path, mode)


@functools.cache
def _attach_local_filesystem() -> None:
    """Give local paths fsspec's local filesystem directly.

    Otherwise Airflow resolves a path's filesystem by discovering every installed provider's
    filesystems first, which imports the Google and Amazon providers' clients: seconds in every
    task for a staging folder on local disk.
    """
    from airflow.sdk.io import attach
    from fsspec.implementations.local import LocalFileSystem

    for protocol in ("file", "local"):
        attach(protocol, fs=LocalFileSystem())


def safe_path_segment(value: str) -> str:
    """Make a run id or dag id usable as one path segment on every object store."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("._") or "run"


def staging_dir(
    staging_base: str, dag_id: str, run_id: str, attempt: int, conn_id: str | None = None
) -> ObjectStoragePath:
    base = _storage_path(staging_base, conn_id)
    return base / safe_path_segment(dag_id) / safe_path_segment(run_id) / f"attempt-{attempt}"


class PartWriter:
    """Write records into numbered NDJSON parts of at most ``part_size`` records.

    Use as a context manager; ``parts`` lists what was written once it is closed.
    """

    def __init__(
        self,
        directory: ObjectStoragePath,
        part_id_prefix: str,
        part_size: int,
        name: str = "part",
        on_part: Callable[[Part], None] | None = None,
    ) -> None:
        self.directory = directory
        self.on_part = on_part  # called with each part once its file and index are complete
        self.part_id_prefix = part_id_prefix
        self.part_size = part_size
        self.name = name
        self.parts: list[Part] = []
        self._handle: Any = None
        self._path: ObjectStoragePath | None = None
        self._rows = 0
        self._index = _PartIndex()

    def __enter__(self) -> PartWriter:
        if self.directory.exists():
            # A previous try of this same attempt directory is garbage: start clean.
            for pattern in (f"{self.name}-*.ndjson", f"{self.name}-*.index.json"):
                for stale in self.directory.glob(pattern):
                    stale.unlink()
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.on_part = None  # a part cut short by an error is kept on disk but not announced
        self._close_part()

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            self._open_part()
        self._handle.write(_ndjson_line(record))
        self._rows += 1
        self._index.add(record)
        if self._rows >= self.part_size:
            self._close_part()

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)

    @property
    def rows_written(self) -> int:
        return sum(part.rows for part in self.parts) + self._rows

    def _open_part(self) -> None:
        number = len(self.parts) + 1
        self._path = self.directory / f"{self.name}-{number:05d}.ndjson"
        self._handle = open_staged(self._path, "wb")
        self._rows = 0

    def _close_part(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        number = len(self.parts) + 1
        assert self._path is not None
        index = self.directory / f"{self.name}-{number:05d}.index.json"
        with open_staged(index, "wb") as handle:
            handle.write(json.dumps(self._index.as_dict()).encode())
        part_id = f"{self.part_id_prefix}/{self.name}-{number:05d}"
        part = Part(part_id, str(self._path), self._rows, str(index))
        self.parts.append(part)
        self._handle = None
        self._path = None
        self._rows = 0
        self._index = _PartIndex()
        if self.on_part is not None:
            self.on_part(part)


class _PartIndex:
    """The record ids of one part and the ``hs_merged_object_ids`` values it carries."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.merged: dict[str, str] = {}

    def add(self, record: dict[str, Any]) -> None:
        record_id = int(record["id"])
        self.ids.append(record_id)
        merged = (record.get("properties") or {}).get("hs_merged_object_ids")
        if merged:
            self.merged[str(record_id)] = str(merged)

    def as_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "merged": self.merged}


def _ndjson_line(record: dict[str, Any]) -> bytes:
    """One record as an NDJSON line. A lone UTF-16 surrogate (half an emoji) cannot be
    encoded as UTF-8; JSON's ``\\u`` escapes can, and the loader then quarantines the value."""
    try:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return line + b"\n"


def read_part(source: str | os.PathLike[str], conn_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield the records of one staged NDJSON part, in file order, as it is read.

    ``source`` is a part's URI (``file://``, ``gs://``, ``s3://``: read through
    ``ObjectStoragePath``, with ``conn_id`` if given) or a local file path (a ``Path``, or a
    string without a scheme, such as the path :func:`local_copy` gives a warehouse adapter).
    Blank lines are skipped. A line that is not JSON, or is JSON but not an object, raises
    :class:`~hubspot_etl.warehouse.base.PartFormatError` naming ``<source>:<line number>``.
    """
    if conn_id is None and (isinstance(source, os.PathLike) or "://" not in source):
        with open(source, encoding="utf-8") as handle:
            yield from _parse_lines(source, handle)
        return
    with open_staged(_storage_path(str(source), conn_id), "rb") as handle:
        # readline, not iteration: Airflow 3.0's file wrapper does not support ``for line in``
        yield from _parse_lines(source, iter(handle.readline, b""))


def _parse_lines(source: str | os.PathLike[str], lines: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    for line_no, line in enumerate(lines, start=1):
        try:
            record = fastjson.loads(line)
        except json.JSONDecodeError as exc:
            if not line.strip():  # checked only here: stripping every line copies it
                continue
            raise PartFormatError(f"{source}:{line_no}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise PartFormatError(f"{source}:{line_no}: not a JSON object")
        yield record


def read_part_index(part: Part | Mapping[str, Any], conn_id: str | None = None) -> dict[str, Any]:
    """``{"ids": [...], "merged": {id: hs_merged_object_ids}}`` of a staged part.

    Parts staged before indexes existed (a retry across an upgrade) are read in full instead.
    """
    uri = part.index_uri if isinstance(part, Part) else part.get("index_uri")
    if uri:
        with open_staged(_storage_path(uri, conn_id), "rb") as handle:
            return json.loads(handle.read())
    index = _PartIndex()
    for record in read_part(part.uri if isinstance(part, Part) else part["uri"], conn_id):
        index.add(record)
    return index.as_dict()


@contextlib.contextmanager
def local_copy(uri: str, conn_id: str | None = None) -> Iterator[Path]:
    """A local filesystem path for a part: the file itself for ``file://``, else a temp copy."""
    path = _storage_path(uri, conn_id)
    if path.protocol in ("file", "local", ""):
        yield Path(path.path)
        return
    with tempfile.TemporaryDirectory(prefix="hubspot-part-") as tmp:
        target = Path(tmp) / "part.ndjson"
        with open_staged(path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
        yield target


def write_json(directory: ObjectStoragePath, name: str, value: Any) -> str:
    """Write a small JSON document beside a run attempt's parts; returns its URI."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    with open_staged(path, "wb") as handle:
        handle.write(json.dumps(value).encode())
    return str(path)


def read_json(uri: str, conn_id: str | None = None) -> Any:
    with open_staged(_storage_path(uri, conn_id), "rb") as handle:
        return json.loads(handle.read())


def remove_run_staging(staging_base: str, dag_id: str, run_id: str, conn_id: str | None = None) -> None:
    """Delete every staged attempt of one run (after it finished; a best-effort cleanup)."""
    run_dir = _storage_path(staging_base, conn_id) / safe_path_segment(dag_id) / safe_path_segment(run_id)
    if run_dir.exists():
        run_dir.fs.rm(run_dir.path, recursive=True)
