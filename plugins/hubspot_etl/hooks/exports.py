"""HubSpot's CRM Exports API: the bulk path for very large portals (``full_load_method: export``).

An export is asynchronous: :func:`start_export` asks HubSpot to build a CSV of every record of
an object type (``POST /crm/v3/exports/export/async``, answered 202 with a task id),
:func:`export_status` polls it (``GET .../tasks/{taskId}/status``) until ``COMPLETE`` hands out
a signed download URL, :func:`download_export` fetches and unzips the file(s) and
:func:`iter_export_records` turns the rows into records of the list API's shape.

Start and status go through the hook's request path (pacing, retries, typed errors, token
redaction). The download URL is a credential of its own (anyone holding it reads the export
for five minutes): it is fetched with a plain session that never carries the token, and its
query string is registered with :func:`~hubspot_etl.hooks.errors.register_secret` so that no
log line or error shows it.

Assumptions where HubSpot's documentation is silent (the sandbox implements the same):

* The export is requested with ``exportInternalValuesOptions: ["NAMES", "VALUES"]``: column
  headers are internal property names and values are internal values, i.e. what the CRM API
  returns. The first column is ``Record ID`` (``hs_object_id``); empty cells are null.
* One column per requested associated object type, in request order, headed
  ``Associated <label> IDs``, holding the associated record ids separated by ``;``.
  ``includePrimaryDisplayPropertyForAssociatedObjects`` is sent as false (no name columns).
* The three association booleans are always sent (the 2026-03 spec requires them):
  ``includeLabeledAssociations: true`` and ``overrideAssociatedObjectsPerDefinitionPerRowLimit:
  true``. With labels, each ids column is followed by ``Associated <label> IDs (Labels)``
  holding, in the ids' order, ``<id>:<label>|<label>`` entries joined by ``;`` (the unlabelled
  type is the empty label). This file format is ASSUMED (no public document shows it); a file
  without the column, or a cell that does not parse or does not list the ids column's ids, gives
  no labels for that type and row, and callers re-read them through the associations API.
* Without the override HubSpot keeps at most 1,000 associated records per row
  (``EXPORT_ASSOCIATION_CAP``) and does not mark a cut row. The override is requested, but
  whether HubSpot then keeps every association is unverified, so a row holding at least the cap
  is still reported in ``associations_capped`` (callers re-read it; such rows are rare).
* More than 1,000,000 rows, or a CSV over 2 MB, come as a ZIP; a partitioned export is a ZIP
  of several CSV files, each with its own header row, in record order.
* ``createdAt`` / ``updatedAt`` come from the created / last-modified property columns (so
  the caller exports them, as the sync always does); epoch-millisecond values are rendered
  as ISO-8601 like the CRM API's.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from hubspot_etl.hooks.errors import (
    HubSpotError,
    HubSpotTransportError,
    RedactingFilter,
    redact,
    register_secret,
)
from hubspot_etl.hooks.log import logger
from hubspot_etl.hooks.object_types import LIBRARY_OBJECTS, last_modified_property, standard_object_type
from hubspot_etl.hooks.paths import build_path
from hubspot_etl.hooks.retry_policy import RetryableFailure, failure_for_status, retrying
from hubspot_etl.hooks.settings import USER_AGENT, HubSpotSettings
from hubspot_etl.hooks.stats import HubSpotStats

if TYPE_CHECKING:
    from hubspot_etl.hooks.hubspot import HubSpotHook

__all__ = [
    "EXPORT_ASSOCIATION_CAP",
    "ExportStatus",
    "HubSpotExportUrlExpired",
    "download_export",
    "export_status",
    "iter_export_records",
    "redact_url",
    "start_export",
]

#: associated records HubSpot keeps per row and associated object type (without the override)
EXPORT_ASSOCIATION_CAP = 1000
#: HubSpot's status values that end an export without a file
FAILED_STATES = frozenset({"CANCELED", "CONFLICT", "FAILED", "DELETED"})
RECORD_ID_COLUMNS = ("Record ID", "hs_object_id")
_ASSOCIATION_COLUMN = re.compile(r"^Associated (.+) IDs$")
LABELS_SUFFIX = " (Labels)"
_CREATED = ("createdate", "hs_createdate")
_MODIFIED = ("hs_lastmodifieddate", "lastmodifieddate")
_CHUNK = 1 << 20
_TRANSPORT_FAILURES = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class HubSpotExportUrlExpired(HubSpotError):
    """The signed download URL was refused as expired (403): poll the status again for a new one."""


@dataclass(frozen=True)
class ExportStatus:
    """One answer of the status endpoint.

    :ivar state: HubSpot's ``status`` (``PENDING``, ``PROCESSING``, ``COMPLETE``, ``CANCELED`` ...).
    :ivar download_url: the signed URL once ``COMPLETE``; a credential, kept out of ``repr``.
    :ivar message: HubSpot's error messages, when it reports any.
    """

    state: str
    download_url: str | None = field(repr=False)
    message: str | None = None

    @property
    def done(self) -> bool:
        """The export finished and ``download_url`` can be fetched."""
        return self.state == "COMPLETE"

    @property
    def failed(self) -> bool:
        """The export ended without a file (canceled, conflicting, failed, deleted)."""
        return self.state in FAILED_STATES


def export_type_ref(object_type: str) -> str:
    """The object type as the Exports API wants it: standard objects by their id (``0-1``),
    which no portal can make ambiguous; anything else (custom objects must be named by their
    ``objectTypeId``, ``2-...``) as given. Object-library names stay as given too: a custom
    object may carry the same name (see :func:`~hubspot_etl.hooks.object_types.ambiguity`)."""
    info = standard_object_type(object_type)
    if info is None or str(object_type).strip().lower() in LIBRARY_OBJECTS:
        return object_type
    return str(info["object_type_id"])


def _path(hook: HubSpotHook, endpoint: str, **params: str) -> str:
    return build_path(hook.settings.api_version, endpoint, **params)


def start_export(
    hook: HubSpotHook, object_type: str, properties: list[str], associations: list[str], name: str
) -> str:
    """Start a CSV export of every record of ``object_type``; returns HubSpot's task id.

    ``properties`` are exported as they are given (the caller includes the created and
    last-modified properties); ``associations`` are the associated object types (names or ids)
    whose record ids each row carries (standard types are sent as ids, see
    :func:`export_type_ref`; the file's association columns follow this order), with their
    association labels and without the per-row cap (see the module's notes). Needs the token
    scope ``crm.export``.
    """
    body: dict[str, Any] = {
        "exportType": "VIEW",
        "format": "CSV",
        "exportName": name,
        "objectType": export_type_ref(object_type),
        "objectProperties": list(dict.fromkeys(properties)),
        "associatedObjectType": [export_type_ref(a) for a in dict.fromkeys(associations)],
        "language": "EN",
        "exportInternalValuesOptions": ["NAMES", "VALUES"],
        "includeLabeledAssociations": True,
        "includePrimaryDisplayPropertyForAssociatedObjects": False,
        "overrideAssociatedObjectsPerDefinitionPerRowLimit": True,
    }
    data = hook._request("exports.start", "POST", _path(hook, "exports.start"), body=body)
    task_id = data.get("id")
    if task_id in (None, ""):
        raise HubSpotTransportError("accepted the export but returned no task id", endpoint="exports.start")
    logger.info("HubSpot export %s of %s started (task %s)", name, object_type, task_id)
    return str(task_id)


def export_status(hook: HubSpotHook, export_id: str) -> ExportStatus:
    """The export's state; once ``COMPLETE`` it carries a fresh signed URL (valid ~5 minutes)."""
    path = _path(hook, "exports.status", task_id=str(export_id))
    data = hook._request("exports.status", "GET", path)
    state = str(data.get("status") or "UNKNOWN").upper()
    url = data.get("result") or None
    if url:
        register_secret(_query(url))
    messages = [str(e.get("message")) for e in data.get("errors") or [] if isinstance(e, dict)]
    return ExportStatus(state=state, download_url=url, message=redact("; ".join(messages)) or None)


# ------------------------------------------------------------------------------ download
def _query(url: str) -> str:
    return urlsplit(url).query


def redact_url(url: str) -> str:
    """``url`` without its query string (the signature): what may be logged of a signed URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?***" if parts.query else "")


def download_export(url: str, dest_dir: Path, *, timeout_s: float = 600) -> list[Path]:
    """Download with a plain requests session WITHOUT the Authorization header; unzip; return
    the CSV paths in order.

    The file is streamed to disk (never held in memory). Dropped connections, truncated bodies,
    5xx and 429 are retried with the hook's retry policy (:mod:`hubspot_etl.hooks.retry_policy`,
    default settings); a 403 raises :class:`HubSpotExportUrlExpired` (poll the status again for a
    new URL), any other 4xx the typed error of its status. ``timeout_s`` bounds each attempt
    (connect at most 10 s; the whole transfer at most ``timeout_s``). No message contains the
    URL's query string.
    """
    register_secret(_query(url))
    _scrub_urllib3_logs()
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    raw = dest / "export.download"
    settings = HubSpotSettings(token="")  # noqa: S106 - no token: the signed URL authorizes
    retry = retrying(
        settings,
        endpoint="exports.download",
        attempts=settings.max_retries + 1,
        stats=HubSpotStats(),
        sleep=time.sleep,
    )
    with requests.Session() as session:
        session.trust_env = False
        session.headers.update({"User-Agent": USER_AGENT})
        session.headers.pop("Authorization", None)
        retry(_download_once, session, url, raw, settings, timeout_s)
    logger.info("HubSpot export downloaded from %s (%d bytes)", redact_url(url), raw.stat().st_size)
    return _unpack(raw, dest)


def _scrub_urllib3_logs() -> None:
    """urllib3 logs every request line at DEBUG, signed query string included: scrub its records
    of registered secrets (the query string is one) like the hook's own log lines."""
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, RedactingFilter) for f in pool_logger.filters):
        pool_logger.addFilter(RedactingFilter())


def _download_once(
    session: requests.Session, url: str, target: Path, settings: HubSpotSettings, timeout_s: float
) -> None:
    """One attempt: stream the body to ``target``; raises :class:`RetryableFailure` when it may."""
    deadline = time.monotonic() + timeout_s
    where = redact_url(url)
    try:
        with session.get(url, stream=True, timeout=(min(10.0, timeout_s), timeout_s)) as response:
            status = response.status_code
            if not 200 <= status < 300:
                raise _download_failure(settings, status, response.text, response.headers)
            expected = response.headers.get("Content-Length")
            written = 0
            with open(target, "wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    if time.monotonic() > deadline:
                        raise HubSpotTransportError(
                            f"export download from {where} took longer than {timeout_s:.0f}s",
                            endpoint="exports.download",
                        )
    except _TRANSPORT_FAILURES as exc:
        final = HubSpotTransportError(
            f"transport failure ({type(exc).__name__}) downloading the export from {where}",
            endpoint="exports.download",
        )
        raise RetryableFailure("connection", type(exc).__name__, None, final) from None
    if expected is not None and written != int(expected):
        final = HubSpotTransportError(
            f"export download from {where} was truncated ({written} of {expected} bytes)",
            endpoint="exports.download",
        )
        raise RetryableFailure("connection", "truncated download", None, final)


def _download_failure(
    settings: HubSpotSettings, status: int, text: str, headers: Any
) -> HubSpotError | RetryableFailure:
    """The error of a non-2xx download: 403 is an expired URL; the body is reduced to its message."""
    message = _storage_message(text)
    if status == 403:
        return HubSpotExportUrlExpired(
            "refused the export download URL (expired or invalid): poll the export status for a new one",
            endpoint="exports.download",
            status=status,
            hubspot_message=message,
        )
    body = json.dumps({"message": message}) if message else ""
    return failure_for_status(settings, "exports.download", status, body, headers, search=False)


def _storage_message(text: str | None) -> str | None:
    """An object store's error code and message (S3 XML or JSON), without URLs or signatures."""
    if not text:
        return None
    found = re.findall(r"<(Code|Message)>([^<]{0,200})</\1>", text)
    message = " ".join(v for _, v in found) if found else " ".join(re.sub(r"<[^>]+>", " ", text).split())
    message = re.sub(r"https?://\S+|[?&]?[A-Za-z-]*signature=\S+", "***", message, flags=re.IGNORECASE)
    return redact(message[:200]) or None


def _unpack(raw: Path, dest: Path) -> list[Path]:
    """A ZIP's CSV members (in archive order) extracted into ``dest``, or the one plain CSV."""
    if not zipfile.is_zipfile(raw):
        target = dest / "export-0001.csv"
        os.replace(raw, target)
        return [target]
    paths = []
    with zipfile.ZipFile(raw) as archive:
        members = [m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(".csv")]
        for index, member in enumerate(members, start=1):
            target = dest / f"export-{index:04d}.csv"  # never the member's own path (zip slip)
            with archive.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
            paths.append(target)
    raw.unlink()
    return paths


# ------------------------------------------------------------------------------ parsing
@dataclass
class _Columns:
    """Where each part of a record sits in one CSV file's rows."""

    record_id: int
    properties: list[tuple[str, int]]
    associations: list[tuple[str, int]]
    labels: dict[str, int]  # target -> its labels column, when the file has one
    created: list[int]  # candidate columns, first non-empty wins
    modified: list[int]


def _columns(
    header: list[str], path: Path, properties: list[str], associations: list[str], object_type: str | None
) -> _Columns:
    header = [h.strip() for h in header]
    ids = [i for i, h in enumerate(header) if h in RECORD_ID_COLUMNS]
    if not ids:
        raise ValueError(f"export file {path.name} has no Record ID column (header: {header[:5]}...)")
    assoc_idx = [i for i, h in enumerate(header) if _ASSOCIATION_COLUMN.match(h)]
    if len(assoc_idx) != len(associations):
        raise ValueError(
            f"export file {path.name} has {len(assoc_idx)} association column(s) for "
            f"{len(associations)} requested association type(s) {associations}"
        )
    position = {h: i for i, h in enumerate(header)}
    labels = {
        target: position[header[i] + LABELS_SUFFIX]
        for target, i in zip(associations, assoc_idx, strict=True)
        if header[i] + LABELS_SUFFIX in position
    }
    skip = {ids[0], *assoc_idx}
    props = [(h, i) for i, h in enumerate(header) if i not in skip and not h.startswith("Associated ")]
    present = {h for h, _ in props} | {"hs_object_id"}
    missing = [p for p in properties if p not in present]
    if missing:
        raise ValueError(f"export file {path.name} lacks the requested properties {missing}")
    index = dict(props)
    modified = [last_modified_property(object_type)] if object_type else list(_MODIFIED)
    return _Columns(
        record_id=ids[0],
        properties=props,
        associations=list(zip(associations, assoc_idx, strict=True)),
        labels=labels,
        created=[index[n] for n in _CREATED if n in index],
        modified=[index[n] for n in modified if n in index],
    )


def _timestamp(value: str | None) -> str | None:
    """The CRM API's ISO-8601 rendering; epoch milliseconds (an internal value) are converted."""
    if value is None or not value.isdigit():
        return value
    moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(value) % 1000:03d}Z"


def _record(row: list[str], cols: _Columns, cap: int) -> dict[str, Any]:
    rid = row[cols.record_id].strip()
    props: dict[str, str | None] = {name: (row[i] if row[i] != "" else None) for name, i in cols.properties}
    props["hs_object_id"] = rid
    links: dict[str, list[str]] = {}
    labels: dict[str, dict[str, list[str | None]]] = {}
    capped: list[str] = []
    for target, i in cols.associations:
        ids = [v.strip() for v in row[i].split(";") if v.strip()]
        links[target] = ids
        if cap and len(ids) >= cap:
            capped.append(target)
        parsed = _labels(row[cols.labels[target]], ids) if target in cols.labels else None
        if parsed is not None:
            labels[target] = parsed
    return {
        "id": rid,
        "properties": props,
        "createdAt": _timestamp(next((row[i] for i in cols.created if row[i]), None)),
        "updatedAt": _timestamp(next((row[i] for i in cols.modified if row[i]), None)),
        "archived": False,
        "associations": links,
        "association_labels": labels,
        "associations_capped": capped,
    }


def _labels(cell: str, ids: list[str]) -> dict[str, list[str | None]] | None:
    """A labels cell as ``{id: [label, ...]}`` (None: the unlabelled type), or None when it does
    not parse or does not list exactly ``ids`` (the caller then re-reads that row)."""
    found: dict[str, list[str | None]] = {}
    for entry in (e for e in cell.split(";") if e.strip()):
        rid, sep, names = entry.partition(":")
        if not sep or not rid.strip().isdigit() or rid.strip() in found:
            return None
        found[rid.strip()] = [name or None for name in names.split("|")]
    return found if list(found) == ids else None


def iter_export_records(
    paths: list[Path],
    properties: list[str],
    associations: list[str],
    *,
    page_size: int = 1000,
    object_type: str | None = None,
    association_cap: int = EXPORT_ASSOCIATION_CAP,
) -> Iterator[list[dict]]:
    """Pages of records in the SAME shape the list API's records have in this codebase
    ({"id": str, "properties": {...}, "createdAt", "updatedAt", "archived": False}), plus per
    record "associations": {target_type: [ids...]}, "association_labels": {target_type: {id:
    [label or None, ...]}} (only the types whose labels the file gives for that row) and
    "associations_capped": [target_types hitting the cap].

    ``properties`` holds every property column of the file (each requested one must be there;
    empty cells are None; ``hs_object_id`` is the record id). ``associations`` are the types
    passed to :func:`start_export`, in the same order (the files' association columns follow
    it). ``object_type`` picks its last-modified property for ``updatedAt`` (without it: the
    first non-empty of ``hs_lastmodifieddate`` and ``lastmodifieddate``). ``association_cap``: the per-row cap
    the export applied (0: none). Files are read one row at a time.
    """
    csv.field_size_limit(max(csv.field_size_limit(), 64 << 20))  # huge association cells
    page: list[dict] = []
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                continue
            cols = _columns(header, Path(path), properties, associations, object_type)
            width = len(header)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    raise ValueError(
                        f"export file {Path(path).name} line {line}: {len(row)} cells, not {width}"
                    )
                page.append(_record(row, cols, association_cap))
                if len(page) >= page_size:
                    yield page
                    page = []
    if page:
        yield page
