"""HubSpot's CRM Exports API in the sandbox: start, status, details and a signed download URL.

Public routes (both spellings: ``/crm/v3/exports/...`` and ``/crm/exports/2026-03|2026-09/...``;
scope ``crm.export``; counted against the general rate limit like any call):

* ``POST .../export/async`` - validate, queue the export, answer 202 ``{"id", "links"}``;
* ``GET .../export/async/tasks/{taskId}/status`` - ``PENDING`` / ``PROCESSING`` / ``COMPLETE``
  (with ``result``: a fresh signed URL on every poll) / ``CANCELED`` / ``CONFLICT``;
* ``GET .../export/{exportId}`` - the export's details (``exportState``, ``recordCount`` ...;
  the export id is the task id).

Admin routes (``/_sandbox/exports...``): ``GET exports`` (every export and its state),
``POST exports/{id}/outcome`` and ``POST exports/next_outcome`` (``{"state": "CANCELED" |
"CONFLICT" | "FAILED"}``: end that export / the next one started so), and the download
itself, ``GET /_sandbox/exports/download/<token>?expires=..&signature=..``: like an S3
pre-signed URL it needs no token, answers 400 when an ``Authorization`` header comes along,
403 when expired or the signature is wrong.

Behaviour (knobs in :class:`~hubspot_sandbox.config.SandboxConfig`, ``export_*``):

* the file is built in a background thread at once from the records as they were at the start
  (record versions at the start time, see :meth:`Record.version_at`; associations as they are
  when the row is written), live records only, ids ascending, streamed to a temp file;
* CSV, header row; ``exportInternalValuesOptions`` ``NAMES``: internal names as headers, else
  labels; ``VALUES``: the values the CRM API returns, else option labels for enumerations;
  first column ``Record ID``; per associated object type (request order) a column
  ``Associated <singular label> IDs``: ids ascending joined by ``;``, at most
  ``export_association_cap`` (1,000) per row unless ``overrideAssociatedObjectsPerDefinition
  PerRowLimit`` is true (then every association is written); nothing marks a cut row (the
  client sees the count reach the cap). With ``includeLabeledAssociations`` true, a column
  ``Associated <singular label> IDs (Labels)`` follows each ids column (format below). With one
  associated type and ``includePrimaryDisplayPropertyForAssociatedObjects`` not false (HubSpot's
  default), a column ``Associated <label>`` with the associated records' display names follows;
* the three booleans ``includeLabeledAssociations``,
  ``includePrimaryDisplayPropertyForAssociatedObjects`` and
  ``overrideAssociatedObjectsPerDefinitionPerRowLimit`` are REQUIRED on the date-versioned
  paths (the 2026-03 spec lists them in ``required``: a missing one is 400
  ``VALIDATION_ERROR``) and optional on ``/crm/v3`` (the v3 spec has no ``required`` list);
  present but not a boolean is 400 on every path;
* more than ``export_partition_rows`` (1,000,000) rows: a ZIP of CSV files of at most that many
  rows, each with the header; fewer rows: a plain CSV, zipped (one file) when larger than
  ``export_zip_bytes`` (2 MB), as HubSpot documents;
* ``PENDING`` on the first poll, ``PROCESSING`` until ``export_polls_to_complete`` polls and
  ``export_seconds_to_complete`` seconds have passed and the file is built, then ``COMPLETE``;
* ``export_max_concurrent`` (1) exports are built at a time; later ones wait ``PENDING`` in a
  queue ("one export at a time; additional exports will be queued"); ``export_daily_limit``
  (30) starts per rolling 24 hours, then 429 with a ``Retry-After`` of the hours left (the
  hook does not wait that long);
* unsupported by the sandbox (400 saying so): ``LIST`` exports, ``XLS`` / ``XLSX``.

The labels column's format is ASSUMED: HubSpot's spec names ``includeLabeledAssociations`` but
no public document found shows how labels appear in the file. The sandbox writes, in the ids
column's order, one entry per associated record, ``<id>:<labels>``, entries joined by ``;``;
``<labels>`` are the labels of that association's types (type ids ascending) joined by ``|``,
the unlabelled type written as the empty label. E.g. ``301:Primary|;302:`` - record 301 has
the "Primary" and the unlabelled types, 302 the unlabelled one only. A label holding ``;``,
``|`` or ``:`` is written as it is (a reader may then fail to parse the cell).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import weakref
import zipfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._util import PortalError, error_body, iso_ms
from .search import compile_groups, query_predicate

if TYPE_CHECKING:
    from .model import ObjectType, RecordVersion
    from .server import Request, Response, Route, SandboxServer

SCOPE_EXPORT = "crm.export"
_BASE = r"/crm/(?:v3/exports|exports/2026-03|exports/2026-09)/export"
LANGUAGES = frozenset(
    "AF_ZA AR_EG BG BN CA_ES CS DA_DK DE EL_GR EN EN_GB ES ES_MX ET_EE FI FR FR_CA HE_IL HI_IN HR HU "
    "ID IT JA KO_KR LT_LT MS NL NO PL PT PT_BR PT_PT RO RU SK_SK SL SV TH TL TR UK VI_VN ZH_CN ZH_HK "
    "ZH_TW".split()
)
FORMATS = ("CSV", "XLS", "XLSX")
MAX_ASSOCIATED_TYPES = 4
FAILED_OUTCOMES = ("CANCELED", "CONFLICT", "FAILED")
_EXPORT_STATE = {"PENDING": "ENQUEUED", "PROCESSING": "PROCESSING", "COMPLETE": "DONE"}
_ROWS_PER_LOCK = 2000  # rows read per hold of the portal lock (mutations interleave)
DAY_S = 86_400.0


LABELS_FLAG = "includeLabeledAssociations"
DISPLAY_FLAG = "includePrimaryDisplayPropertyForAssociatedObjects"
OVERRIDE_FLAG = "overrideAssociatedObjectsPerDefinitionPerRowLimit"
ASSOCIATION_FLAGS = (LABELS_FLAG, DISPLAY_FLAG, OVERRIDE_FLAG)


def _bad(message: str, **context: list[str]) -> PortalError:
    return PortalError(400, "VALIDATION_ERROR", message, context or None)


def _flags(body: dict[str, Any], *, required: bool) -> dict[str, bool | None]:
    """The association booleans of the request (None: absent, allowed on ``/crm/v3`` only)."""
    flags: dict[str, bool | None] = {}
    for name in ASSOCIATION_FLAGS:
        value = body.get(name)
        if value is None and required:
            raise _bad(f"{name} is required", missingFields=[name])
        if value is not None and not isinstance(value, bool):
            raise _bad(f"{name} must be a boolean (got {value!r})")
        flags[name] = value
    return flags


@dataclass
class ExportJob:
    """One export: its request, its progress and (once built) its file."""

    id: int
    name: str
    ot: ObjectType
    properties: list[str]
    associated: list[ObjectType]
    names: bool
    values: bool
    display_names: bool
    labels: bool
    cap: int | None
    predicate: Any
    requested_at: float  # portal clock: the snapshot's moment (record versions at this time)
    requested_wall: float = field(default_factory=time.time)
    polls: int = 0
    started_at: float | None = None
    built_at: float | None = None
    outcome: str | None = None  # an injected terminal failure
    error: str | None = None
    rows: int = 0
    file: Path | None = None
    zipped: bool = False
    files: int = 0
    downloads: int = 0
    tokens: set[str] = field(default_factory=set)

    def state(self, cfg: Any, now: float) -> str:
        """HubSpot's ``status`` as of poll number ``self.polls``."""
        if self.outcome:
            return self.outcome
        if self.started_at is None or self.polls <= 1 and (cfg.export_polls_to_complete or 0) > 1:
            return "PENDING"
        ready = (
            self.built_at is not None
            and self.polls >= (cfg.export_polls_to_complete or 0)
            and now - self.requested_wall >= (cfg.export_seconds_to_complete or 0)
        )
        return "COMPLETE" if ready else "PROCESSING"


class Exports:
    """The export jobs of one :class:`SandboxServer` and their routes."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.jobs: dict[int, ExportJob] = {}
        self.queue: deque[ExportJob] = deque()
        self.running = 0
        self.starts: deque[float] = deque()
        self.next_id = 40_000_001
        self.next_outcome: str | None = None
        self.secret = secrets.token_bytes(32)
        self.dir = Path(tempfile.mkdtemp(prefix="hubspot-sandbox-exports-"))
        weakref.finalize(self, shutil.rmtree, self.dir, ignore_errors=True)  # files go with the server

    # ------------------------------------------------------------------ routes
    def routes(self) -> list[Route]:
        from .server import Route

        scope = lambda _req: [SCOPE_EXPORT]  # noqa: E731
        r = re.compile
        return [
            Route("POST", r(rf"{_BASE}/async"), "exports.start", self.start, scope),
            Route("GET", r(rf"{_BASE}/async/tasks/([^/]+)/status"), "exports.status", self.status, scope),
            Route("GET", r(rf"{_BASE}/([^/]+)"), "exports.get", self.details, scope),
        ]

    def admin_routes(self) -> list[Route]:
        from .server import Route

        r = re.compile
        return [
            Route("GET", r(r"/_sandbox/exports/download/([^/]+)"), "exports.download", self.download),
            Route("GET", r(r"/_sandbox/exports"), "admin.exports", self.list_jobs),
            Route("POST", r(r"/_sandbox/exports/next_outcome"), "admin.exports", self.set_next_outcome),
            Route("POST", r(r"/_sandbox/exports/(\d+)/outcome"), "admin.exports", self.set_outcome),
        ]

    # ------------------------------------------------------------------- start
    def start(self, req: Request) -> Response:
        from .server import _json

        body = req.json()
        if not isinstance(body, dict):
            raise _bad("The export request must be a JSON object")
        job = self._job(body, versioned="/crm/v3/" not in req.path)
        try:
            self._count_start()
        except _RateLimited as err:
            return rate_limited_response(err)
        with self.lock:
            job.id = self.next_id
            self.next_id += 1
            if self.next_outcome:
                job.outcome, self.next_outcome = self.next_outcome, None
            self.jobs[job.id] = job
            self.queue.append(job)
        self._pump()
        links = {"status": f"{self.server.url}/crm/v3/exports/export/async/tasks/{job.id}/status"}
        return _json(202, {"id": str(job.id), "links": links})

    def _job(self, body: dict[str, Any], *, versioned: bool = False) -> ExportJob:
        """Validate the request as HubSpot does (the first problem found is reported);
        ``versioned``: a date-versioned path, whose spec requires the association booleans."""
        export_type = str(body.get("exportType") or "VIEW").upper()
        if export_type not in ("VIEW", "LIST"):
            raise _bad(f"exportType must be VIEW or LIST (got {body.get('exportType')!r})")
        if export_type == "LIST":
            raise _bad("LIST exports are not supported by the sandbox: export a VIEW")
        fmt = str(body.get("format") or "").upper()
        if fmt not in FORMATS:
            raise _bad(f"format must be one of {', '.join(FORMATS)} (got {body.get('format')!r})")
        if fmt != "CSV":
            raise _bad(f"format {fmt} is not supported by the sandbox: use CSV")
        name = body.get("exportName")
        if not isinstance(name, str) or not name.strip():
            raise _bad("exportName is required")
        language = body.get("language")
        if language is not None and str(language).upper() not in LANGUAGES:
            raise _bad(f"language {language!r} is not supported")
        ot = self._type(body.get("objectType"), "objectType")
        props = body.get("objectProperties")
        if not isinstance(props, list) or not props or not all(isinstance(p, str) for p in props):
            raise _bad("objectProperties must be a non-empty list of property names")
        unknown = [p for p in props if p not in ot.properties or ot.properties[p].get("archived")]
        if unknown:
            raise _bad(
                f"Property {unknown[0]!r} does not exist on object type {ot.object_type_id}",
                invalidPropertyName=unknown,
            )
        associated = body.get("associatedObjectType") or []
        associated = [associated] if isinstance(associated, str) else associated
        if not isinstance(associated, list):
            raise _bad("associatedObjectType must be a list of object types")
        if len(associated) > MAX_ASSOCIATED_TYPES:
            raise _bad(f"At most {MAX_ASSOCIATED_TYPES} associated object types can be exported")
        targets = [self._type(a, "associatedObjectType") for a in associated]
        options = body.get("exportInternalValuesOptions") or []
        if not isinstance(options, list) or any(o not in ("NAMES", "VALUES") for o in options):
            raise _bad("exportInternalValuesOptions must be a list of NAMES and/or VALUES")
        flags = _flags(body, required=versioned)
        display = flags[DISPLAY_FLAG]
        cfg = self.server.config
        return ExportJob(
            id=0,
            name=name.strip(),
            ot=ot,
            properties=[p for p in dict.fromkeys(props) if p != "hs_object_id"],
            associated=targets,
            names="NAMES" in options,
            values="VALUES" in options,
            display_names=bool(display) if display is not None else len(targets) == 1,
            labels=bool(flags[LABELS_FLAG]),
            cap=None if flags[OVERRIDE_FLAG] else cfg.export_association_cap,
            predicate=self._predicate(ot, body.get("publicCrmSearchRequest")),
            requested_at=self.server.portal.clock(),
        )

    def _type(self, ref: Any, what: str) -> ObjectType:
        found = self.server.portal.find_type(str(ref)) if isinstance(ref, str) and ref else None
        if found is None:
            raise _bad(f"{what}: unable to infer object type from {ref!r}")
        return found

    @staticmethod
    def _predicate(ot: ObjectType, search: Any) -> Any:
        """The ``publicCrmSearchRequest`` filter (filterGroups OR, filters AND, query), or None."""
        if search in (None, {}):
            return None
        if not isinstance(search, dict):
            raise _bad("publicCrmSearchRequest must be an object")
        groups = list(search.get("filterGroups") or [])
        if search.get("filters"):
            groups.append({"filters": search["filters"]})
        preds = [p for p in (compile_groups(ot, groups), query_predicate(ot, search.get("query"))) if p]
        if not preds:
            return None
        return lambda rec: all(p(rec) for p in preds)

    def _count_start(self) -> None:
        """The rolling-24-hour cap on export starts (429 once ``export_daily_limit`` is used)."""
        limit = self.server.config.export_daily_limit
        now = time.monotonic()
        with self.lock:
            while self.starts and self.starts[0] <= now - DAY_S:
                self.starts.popleft()
            if limit and len(self.starts) >= limit:
                wait = int(self.starts[0] + DAY_S - now) + 1
                raise _RateLimited(limit, wait)
            self.starts.append(now)

    # ----------------------------------------------------------------- building
    def _pump(self) -> None:
        """Start building queued exports while fewer than ``export_max_concurrent`` are built."""
        cap = max(1, int(self.server.config.export_max_concurrent or 1))
        while True:
            with self.lock:
                if self.running >= cap or not self.queue:
                    return
                job = self.queue.popleft()
                self.running += 1
                job.started_at = time.time()
            threading.Thread(
                target=self._build, args=(job,), name=f"sandbox-export-{job.id}", daemon=True
            ).start()

    def _build(self, job: ExportJob) -> None:
        try:
            if not job.outcome:
                _Writer(self, job).write()
        except Exception as exc:  # noqa: BLE001 - a broken build is a FAILED export, not a dead thread
            job.error = f"{type(exc).__name__}: {exc}"
            job.outcome = "FAILED"
        finally:
            job.built_at = time.time()
            with self.lock:
                self.running -= 1
            self._pump()

    # ------------------------------------------------------------------- status
    def _find(self, raw: str) -> ExportJob:
        if not raw.isdigit():
            raise _bad(f"taskId must be an integer (got {raw!r})")
        job = self.jobs.get(int(raw))
        if job is None:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"No export task with id {raw}")
        return job

    def status(self, req: Request) -> Response:
        from .server import _json

        job = self._find(req.args[0])
        with self.lock:
            job.polls += 1
        state = job.state(self.server.config, time.time())
        payload: dict[str, Any] = {
            "status": "CANCELED" if state == "FAILED" else state,
            "requestedAt": iso_ms(int(job.requested_wall * 1000)),
            "startedAt": iso_ms(int((job.started_at or job.requested_wall) * 1000)),
            "completedAt": iso_ms(int((job.built_at or time.time()) * 1000)),
            "links": {},
        }
        if state == "COMPLETE":
            payload["result"] = self._signed_url(job)
        elif state in FAILED_OUTCOMES:
            message = job.error or f"The export was {state.lower()}"
            payload["numErrors"] = 1
            payload["errors"] = [
                {
                    "status": "error",
                    "category": state,
                    "message": message,
                    "context": {},
                    "errors": [],
                    "links": {},
                }
            ]
        return _json(200, payload)

    def details(self, req: Request) -> Response:
        from .server import _json

        job = self._find(req.args[0])
        state = job.state(self.server.config, time.time())
        payload = {
            "id": str(job.id),
            "exportName": job.name,
            "exportType": "VIEW",
            "objectType": job.ot.object_type_id,
            "objectProperties": ["hs_object_id", *job.properties],
            "createdAt": iso_ms(int(job.requested_wall * 1000)),
            "updatedAt": iso_ms(int((job.built_at or job.requested_wall) * 1000)),
            "exportState": _EXPORT_STATE.get(state, state),
        }
        if job.built_at is not None and not job.outcome:
            payload["recordCount"] = job.rows
        return _json(200, payload)

    # ----------------------------------------------------------------- download
    def _signature(self, token: str, expires: int) -> str:
        return hmac.new(self.secret, f"{token}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _signed_url(self, job: ExportJob) -> str:
        token = secrets.token_urlsafe(16)
        expires = int(time.time() + float(self.server.config.export_url_ttl_s or 300))
        with self.lock:
            job.tokens.add(token)
        query = f"expires={expires}&signature={self._signature(token, expires)}"
        return f"{self.server.url}/_sandbox/exports/download/{token}?{query}"

    def download(self, req: Request) -> Response:
        from .server import Response

        if req.headers.get("Authorization"):
            return _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the signature query parameter or the "
                "Authorization header should be specified",
            )
        token = req.args[0]
        expires_raw, signature = req.param("expires") or "", req.param("signature") or ""
        expected = self._signature(token, int(expires_raw)) if expires_raw.isdigit() else ""
        if not expected or not hmac.compare_digest(expected, signature):
            return _s3_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
            )
        if time.time() > int(expires_raw):
            return _s3_error(403, "AccessDenied", "Request has expired")
        job = next((j for j in self.jobs.values() if token in j.tokens), None)
        if job is None or job.file is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        with self.lock:
            job.downloads += 1
        kind = "application/zip" if job.zipped else "text/csv; charset=utf-8"
        name = f"{_safe(job.name)}.{'zip' if job.zipped else 'csv'}"
        headers = {"Content-Type": kind, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(200, b"", headers, file=job.file)

    # -------------------------------------------------------------------- admin
    def list_jobs(self, req: Request) -> Response:
        from .server import _json

        now, cfg = time.time(), self.server.config
        jobs = [
            {
                "id": str(j.id),
                "name": j.name,
                "objectType": j.ot.object_type_id,
                "state": j.state(cfg, now),
                "polls": j.polls,
                "rows": j.rows,
                "files": j.files,
                "zipped": j.zipped,
                "downloads": j.downloads,
                "built": j.built_at is not None,
                "error": j.error,
            }
            for j in self.jobs.values()
        ]
        return _json(200, {"results": jobs})

    def _outcome(self, req: Request) -> str:
        body = req.json()
        state = str((body or {}).get("state") or "").upper() if isinstance(body, dict) else ""
        if state not in FAILED_OUTCOMES:
            raise _bad(f"state must be one of {', '.join(FAILED_OUTCOMES)}")
        return state

    def set_outcome(self, req: Request) -> Response:
        from .server import _json

        job = self._find(req.args[0])
        job.outcome = self._outcome(req)
        return _json(200, {"id": str(job.id), "state": job.outcome})

    def set_next_outcome(self, req: Request) -> Response:
        from .server import _json

        with self.lock:
            self.next_outcome = self._outcome(req)
        return _json(200, {"next_outcome": self.next_outcome})

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class _RateLimited(PortalError):
    """Export starts over the rolling 24-hour cap (the server answers 429 with Retry-After)."""

    def __init__(self, limit: int, wait_s: int) -> None:
        super().__init__(
            429,
            "RATE_LIMITS",
            f"You have reached your daily limit of {limit} exports in a rolling 24 hour window.",
        )
        self.wait_s = wait_s


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "export"


def _s3_error(status: int, code: str, message: str) -> Response:
    from .server import Response

    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    return Response(status, body, {"Content-Type": "application/xml"})


class _Writer:
    """Streams one export's rows into CSV part files, then zips them if HubSpot would."""

    def __init__(self, exports: Exports, job: ExportJob) -> None:
        self.exports, self.job = exports, job
        self.portal = exports.server.portal
        self.cfg = exports.server.config
        self.work = exports.dir / str(job.id)
        self.work.mkdir(parents=True, exist_ok=True)

    def header(self) -> list[str]:
        job, ot = self.job, self.job.ot
        cols = ["Record ID"]
        for name in job.properties:
            cols.append(name if job.names else str(ot.properties[name].get("label") or name))
        for target in job.associated:
            label = target.singular[:1].upper() + target.singular[1:]
            cols.append(f"Associated {label} IDs")
            if job.labels:
                cols.append(f"Associated {label} IDs (Labels)")
            if job.display_names:
                cols.append(f"Associated {label}")
        return cols

    def write(self) -> None:
        job = self.job
        limit = max(1, int(self.cfg.export_partition_rows or 1_000_000))
        parts: list[Path] = []
        out = writer = None
        rows_in_part = 0
        try:
            for row in self.rows():
                if writer is None or rows_in_part >= limit:
                    if out is not None:
                        out.close()
                    path = self.work / f"{_safe(job.name)}-{len(parts) + 1}.csv"
                    parts.append(path)
                    out = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - rotated below
                    writer = csv.writer(out)
                    writer.writerow(self.header())
                    rows_in_part = 0
                writer.writerow(row)
                rows_in_part += 1
                job.rows += 1
        finally:
            if out is not None:
                out.close()
        if not parts:  # no record: a file with the header only
            path = self.work / f"{_safe(job.name)}-1.csv"
            with open(path, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerow(self.header())
            parts.append(path)
        self.finish(parts)

    def finish(self, parts: list[Path]) -> None:
        job = self.job
        job.files = len(parts)
        zip_over = int(self.cfg.export_zip_bytes or 0)
        if len(parts) == 1 and not (zip_over and parts[0].stat().st_size > zip_over):
            job.file = parts[0]
            return
        archive = self.work / f"{_safe(job.name)}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for part in parts:
                zf.write(part, arcname=part.name)
                os.unlink(part)
        job.file, job.zipped = archive, True

    def rows(self) -> Any:
        """The rows, read in slices of ids under the portal lock (mutations may interleave)."""
        job, ot, portal = self.job, self.job.ot, self.portal
        with portal.lock:
            ids = list(ot.ids)
        for start in range(0, len(ids), _ROWS_PER_LOCK):
            with portal.lock:
                batch = [self.row(rid) for rid in ids[start : start + _ROWS_PER_LOCK]]
            yield from (row for row in batch if row is not None)
            if job.outcome:
                return

    def row(self, rid: int) -> list[str] | None:
        job, ot = self.job, self.job.ot
        rec = ot.records.get(rid)
        ver = rec.version_at(job.requested_at) if rec is not None else None
        if ver is None or ver.archived or ver.merged_into is not None:
            return None
        if job.predicate is not None and not job.predicate(ver):
            return None
        values = ot._values(ver, job.properties)
        cells = [str(rid)]
        for name in job.properties:
            value = values.get(name)
            cells.append("" if value is None else value if job.values else self.label(name, value))
        for target in job.associated:
            pair = (ot.object_type_id, target.object_type_id)
            types = self.portal.assoc.get(pair, {}).get(rid, {})
            linked = sorted(
                t for t in types if (linked_rec := target.records.get(t)) is not None and linked_rec.visible
            )  # links to archived or merged-away records are hidden, as from association reads
            if job.cap:
                linked = linked[: int(job.cap)]
            cells.append(";".join(str(t) for t in linked))
            if job.labels:
                cells.append(";".join(f"{t}:{self.type_labels(pair, types[t])}" for t in linked))
            if job.display_names:
                cells.append(";".join(self.display_name(target, t) for t in linked))
        return cells

    def type_labels(self, pair: tuple[str, str], type_ids: tuple[int, ...]) -> str:
        """An association's type labels joined by ``|`` (the unlabelled type: the empty label)."""
        defs = self.portal.labels.get(pair, {})
        labels = []
        for type_id in sorted(type_ids):
            found = defs.get(type_id)
            labels.append((found.label if found is not None else None) or "")
        return "|".join(labels)

    def label(self, name: str, value: str) -> str:
        """An enumeration's option label(s) (``VALUES`` not requested); other values unchanged."""
        options = self.job.ot.properties[name].get("options") or []
        if not options:
            return value
        labels = {str(o.get("value")): str(o.get("label")) for o in options if isinstance(o, dict)}
        return ";".join(labels.get(v, v) for v in value.split(";"))

    @staticmethod
    def display_name(target: ObjectType, rid: int) -> str:
        prop = target.primary_display_property
        rec: RecordVersion | None = target.records.get(rid)
        if not prop or rec is None:
            return ""
        return target.value(rec, prop) or ""


def rate_limited_response(err: _RateLimited) -> Response:
    """429 in HubSpot's rate-limit shape, with the wait until a start frees up."""
    from .server import _json

    body = error_body(err.message, "RATE_LIMITS", errorType="RATE_LIMIT", policyName="DAILY")
    return _json(429, body, {"Retry-After": str(err.wait_s)})
