"""What the sync steps hand each other: the plan, the manifest of staged parts, the reports.

Inside the steps these are typed: dataclasses, and :class:`RunReport`, a ``TypedDict`` since
the run report is a dict all the way (the warehouse stores it as one). Between Airflow tasks
they travel as XComs, plain JSON-able dicts: ``as_dict()`` gives a step's XCom and
``from_dict()`` reads one back. Only the operators (``hubspot_etl.operators.sync``) and the
dict-level functions of ``hubspot_etl.sync.steps`` convert.

Where the steps read a key with a default (the manifest's ``preloaded``, the plan's
``association_scope``...), ``from_dict`` gives an XCom without that key the same default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from hubspot_etl.sync.staging import Part

#: ``HubSpotStats.as_dict()``: ``{"calls": {endpoint: n}, "total_calls": n, <counters>...}``
ApiCalls = dict[str, Any]


@dataclass(frozen=True)
class ObjectRef:
    """An object type: its name (``contacts``, ``p123_services``) and the type id the API takes."""

    name: str
    api_type: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "api_type": self.api_type}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> ObjectRef:
        return cls(name=value["name"], api_type=value["api_type"])


@dataclass(frozen=True)
class Plan:
    """What ``prepare`` decided: the object, its properties, the mode and the window.

    Times are kept as they travel, ISO-8601 strings; ``old_watermark`` is whatever the
    warehouse's sync state holds (a datetime with the PostgreSQL adapter), passed on unchanged.
    """

    object_name: str
    api_type: str
    table: str
    properties: list[str]
    modified_property: str
    associations: list[ObjectRef]
    association_scope: str  # "all" (every live record's associations) or "extracted"
    associated_from: list[ObjectRef]  # configured objects that associate to this one
    pipelines: int | None  # pipelines upserted; None for an object without pipelines
    mode: str
    window_start: str | None
    window_end: str | None
    window_reason: str
    old_watermark: datetime | str | None
    archived_before_uri: str | None  # staged ids the warehouse held as archived (None: dry run)
    started_at: str
    dry_run: bool
    limit: int | None
    schema_changes: dict[str, Any]  # SchemaChangeSummary.as_dict(); {} on a dry run
    api_calls: ApiCalls
    deletes_check: bool = True  # does reconcile list the archived records (``deletes_check`` due)
    deletes_checked_at: str | None = None  # when the archived listing last ran before this run

    @property
    def object_ref(self) -> ObjectRef:
        return ObjectRef(self.object_name, self.api_type)

    def as_dict(self) -> dict[str, Any]:
        return {
            "object_name": self.object_name,
            "api_type": self.api_type,
            "table": self.table,
            "properties": self.properties,
            "modified_property": self.modified_property,
            "associations": [target.as_dict() for target in self.associations],
            "association_scope": self.association_scope,
            "associated_from": [source.as_dict() for source in self.associated_from],
            "pipelines": self.pipelines,
            "mode": self.mode,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "window_reason": self.window_reason,
            "old_watermark": self.old_watermark,
            "archived_before_uri": self.archived_before_uri,
            "started_at": self.started_at,
            "dry_run": self.dry_run,
            "limit": self.limit,
            "schema_changes": self.schema_changes,
            "api_calls": self.api_calls,
            "deletes_check": self.deletes_check,
            "deletes_checked_at": self.deletes_checked_at,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Plan:
        return cls(
            object_name=value["object_name"],
            api_type=value["api_type"],
            table=value["table"],
            properties=list(value["properties"]),
            modified_property=value["modified_property"],
            associations=[ObjectRef.from_dict(target) for target in value["associations"]],
            association_scope=value.get("association_scope", "extracted"),
            associated_from=[ObjectRef.from_dict(source) for source in value.get("associated_from") or []],
            pipelines=value["pipelines"],
            mode=value["mode"],
            window_start=value["window_start"],
            window_end=value["window_end"],
            window_reason=value["window_reason"],
            old_watermark=value["old_watermark"],
            archived_before_uri=value.get("archived_before_uri"),
            started_at=value["started_at"],
            dry_run=value["dry_run"],
            limit=value["limit"],
            schema_changes=value["schema_changes"],
            api_calls=value["api_calls"],
            deletes_check=value.get("deletes_check", True),
            deletes_checked_at=value.get("deletes_checked_at"),
        )


@dataclass(frozen=True)
class PartLoad:
    """A part loaded during extract: records read and values rejected."""

    rows: int
    rejects: int

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "rejects": self.rejects}


@dataclass(frozen=True)
class Manifest:
    """What ``extract`` staged: the parts, counts, and the parts already loaded meanwhile."""

    parts: list[Part]
    records: int
    records_changed: int  # modified after the previous watermark (see extract)
    complete: bool  # False when ``limit`` cut the extract short
    extract_started_at: str
    api_calls: ApiCalls
    preloaded: dict[str, PartLoad] = field(default_factory=dict)  # part_id -> what it loaded
    records_unchanged: int = 0  # search hits not read: the warehouse holds them as they are
    #: how the records were read: "list" (list or search API) or "export" (Exports API; see
    #: sync.bulk_export), and, for an export, its association columns as staged parts
    method: str = "list"
    association_parts: list[Part] = field(default_factory=list)
    #: ``[lo, hi)`` id ranges a full run read only through search: an id missing there is not
    #: known to be gone until a batch read says so (see sync.reconcile)
    search_ranges: list[tuple[int, int]] = field(default_factory=list)
    #: a full run's associations, read and written during extract: ``{"counts": rows per
    #: target, "changed": rows changed}``, ``{}`` if not (see sync.association_prefetch)
    associations_done: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "parts": [part.as_dict() for part in self.parts],
            "records": self.records,
            "records_changed": self.records_changed,
            "complete": self.complete,
            "extract_started_at": self.extract_started_at,
            "api_calls": self.api_calls,
            "preloaded": {part_id: done.as_dict() for part_id, done in self.preloaded.items()},
            "records_unchanged": self.records_unchanged,
            "method": self.method,
            "association_parts": [part.as_dict() for part in self.association_parts],
            "search_ranges": [[lo, hi] for lo, hi in self.search_ranges],
            "associations_done": self.associations_done,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Manifest:
        preloaded = value.get("preloaded") or {}
        return cls(
            parts=[Part.from_dict(part) for part in value["parts"]],
            records=value["records"],
            records_changed=value.get("records_changed", value["records"]),
            complete=value["complete"],
            extract_started_at=value["extract_started_at"],
            api_calls=value["api_calls"],
            preloaded={k: PartLoad(rows=v["rows"], rejects=v["rejects"]) for k, v in preloaded.items()},
            records_unchanged=value.get("records_unchanged", 0),
            method=value.get("method", "list"),
            association_parts=[Part.from_dict(part) for part in value.get("association_parts") or []],
            search_ranges=[(int(lo), int(hi)) for lo, hi in value.get("search_ranges") or []],
            associations_done=dict(value.get("associations_done") or {}),
        )


@dataclass
class LoadReport:
    """What ``load`` did (``parts_loaded`` includes the ``parts_preloaded`` by extract)."""

    records_upserted: int = 0
    rejects: int = 0
    parts_loaded: int = 0
    parts_skipped: int = 0  # committed by an earlier try
    parts_preloaded: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "records_upserted": self.records_upserted,
            "rejects": self.rejects,
            "parts_loaded": self.parts_loaded,
            "parts_skipped": self.parts_skipped,
            "parts_preloaded": self.parts_preloaded,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> LoadReport:
        return cls(
            records_upserted=value["records_upserted"],
            rejects=value["rejects"],
            parts_loaded=value["parts_loaded"],
            parts_skipped=value["parts_skipped"],
            parts_preloaded=value.get("parts_preloaded", 0),
        )


class AssociationRefresh(TypedDict):
    """Which records' associations were refreshed; ``calls`` and ``changed`` once any was."""

    scope: str  # "all" or "extracted"
    records: int
    calls: NotRequired[int]  # associations.batch_read calls
    changed: NotRequired[int]  # association rows written (only differences are)


@dataclass(frozen=True)
class AssociationsReport:
    """What ``associations`` did: rows fetched per target type and the refresh summary."""

    associations: dict[str, int]
    association_refresh: AssociationRefresh | dict[str, Any]  # {} when the XCom has none
    api_calls: ApiCalls

    def as_dict(self) -> dict[str, Any]:
        return {
            "associations": self.associations,
            "association_refresh": self.association_refresh,
            "api_calls": self.api_calls,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> AssociationsReport:
        return cls(
            associations=value["associations"],
            association_refresh=value.get("association_refresh", {}),
            api_calls=value.get("api_calls", {}),
        )


class HistorySummary(TypedDict):
    """The run report's ``history`` entry."""

    properties: int  # properties whose history was read
    records: int  # records whose history was read
    archived_records: int  # of which archived ones read for the first time (full runs)
    rows: int  # history rows HubSpot returned (one per write)
    calls: int  # objects.batch_read_history calls
    changed: int  # history rows inserted or corrected in the warehouse
    missing: int  # records HubSpot did not return (deleted meanwhile)
    stage_rows: int | None  # stage-history rows of those records; None: no stage history


@dataclass
class HistoryReport:
    """What ``history`` did (see :class:`HistorySummary`), with the hook's call counters."""

    properties: int
    records: int
    rows: int
    calls: int
    changed: int = 0
    missing: int = 0
    stage_rows: int | None = None
    archived_records: int = 0
    api_calls: ApiCalls = field(default_factory=dict)

    def summary(self) -> HistorySummary:
        return HistorySummary(
            properties=self.properties,
            records=self.records,
            archived_records=self.archived_records,
            rows=self.rows,
            calls=self.calls,
            changed=self.changed,
            missing=self.missing,
            stage_rows=self.stage_rows,
        )

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary(), "api_calls": self.api_calls}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> HistoryReport:
        return cls(
            properties=value["properties"],
            records=value["records"],
            rows=value["rows"],
            calls=value["calls"],
            changed=value.get("changed", 0),
            missing=value.get("missing", 0),
            stage_rows=value.get("stage_rows"),
            archived_records=value.get("archived_records", 0),
            api_calls=value.get("api_calls", {}),
        )


@dataclass
class ReconcileReport:
    """What ``reconcile`` did: records flagged per kind (``archived``, ``merged``, ``purged``,
    ``restored``), whether the purge check ran, and association rows a restore brought back
    (None on a dry run, whose XCom has no such key)."""

    deletes: dict[str, int]
    api_calls: ApiCalls = field(default_factory=dict)
    purge_check: str = "skipped"  # "done" on a complete full run
    restored_associations: int | None = None
    deletes_checked_at: str | None = None  # when this run's archived listing started (None: not run)

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "deletes": self.deletes,
            "api_calls": self.api_calls,
            "purge_check": self.purge_check,
            "deletes_checked_at": self.deletes_checked_at,
        }
        if self.restored_associations is not None:
            result["restored_associations"] = self.restored_associations
        return result

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> ReconcileReport:
        return cls(
            deletes=value["deletes"],
            api_calls=value.get("api_calls", {}),
            purge_check=value.get("purge_check", "skipped"),
            restored_associations=value.get("restored_associations"),
            deletes_checked_at=value.get("deletes_checked_at"),
        )


class RunReport(TypedDict):
    """The run report: ``finalize``'s (and ``sync_owners``') XCom, stored by the warehouse.

    The owners' report has no window, association refresh, parts or history.
    """

    run_id: str
    dag_id: str
    object_name: str
    mode: str  # the plan's mode, with " (dry run)" appended on a dry run
    status: str  # "healthy" or "with_errors" (values rejected)
    started_at: str
    finished_at: str
    duration_s: float
    window_start: NotRequired[str | None]
    window_end: NotRequired[str | None]
    records_fetched: int
    records_upserted: int
    records_changed: int
    rejects: int
    api_calls: dict[str, int]
    search_splits: int
    associations: dict[str, int]
    association_refresh: NotRequired[AssociationRefresh | dict[str, Any]]
    associations_changed: NotRequired[int]
    deletes: dict[str, int]
    deletes_checked: NotRequired[bool]  # did this run list the archived records
    deletes_checked_at: NotRequired[str | None]  # when they were last listed (this run or before)
    records_unchanged: NotRequired[int]  # search hits not read: the warehouse held them already
    schema_changes: dict[str, Any]
    columns_spilled: int
    columns_renamed: int
    watermark: str | None
    complete: bool
    parts: NotRequired[dict[str, int]]  # {"loaded": n, "skipped": n}
    history: NotRequired[HistorySummary]  # only for an object with ``history`` configured
    changed: NotRequired[bool]  # set last: did the run write a change (publish the Asset event)
