"""The warehouse interface the sync code talks to, and its result types and errors.

:class:`Warehouse` is implemented once, by :class:`~hubspot_etl.warehouse.core.SqlWarehouse`, over
a dialect per destination (:mod:`hubspot_etl.warehouse.registry` lists them).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hubspot_etl.warehouse.types import LogicalType

DELETION_KINDS = ("archived", "merged", "purged")

#: PostgreSQL allows 1,600 columns per table; keep head-room for system columns and dropped ones.
DEFAULT_MAX_PROPERTY_COLUMNS = 1500


class WarehouseError(RuntimeError):
    """Base class of warehouse errors."""


class WarehouseLockError(WarehouseError):
    """Another sync holds the per-object lock."""


class PartFormatError(WarehouseError):
    """A staging part contains a line that is not a HubSpot record (bad JSON, missing/invalid id)."""


@dataclass(frozen=True)
class ColumnSpec:
    """One property's recorded mapping (a row of ``_hubspot_column_map``)."""

    property_name: str
    column_name: str
    logical_type: LogicalType
    hubspot_type: str
    spilled: bool = False


@dataclass
class SchemaChange:
    """One recorded schema change (a row of ``_hubspot_schema_changes``)."""

    change: str  # table_created | column_added | column_spilled | column_widened | hubspot_type_changed
    property_name: str | None = None
    column_name: str | None = None
    old_type: str | None = None
    new_type: str | None = None


@dataclass
class SchemaChangeSummary:
    """What :meth:`Warehouse.ensure_object_table` did."""

    table: str
    created: bool = False
    added: int = 0
    widened: int = 0
    spilled: int = 0
    renamed: int = 0
    changes: list[SchemaChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts only (for run reports)."""
        return {k: v for k, v in asdict(self).items() if k != "changes"}


@dataclass
class LoadResult:
    """What :meth:`Warehouse.load_part` did.

    ``rows``: records read from the part; ``upserted``: rows actually inserted or updated (older
    duplicates are not counted); ``rejects``: rejected values (``reject_reasons`` by reason);
    ``unmapped``: values of properties without a recorded column, kept in ``_extra_properties``;
    ``overflowed_rows``/``overflowed_values``: rows too wide for a database page and the values
    moved from their columns into ``_extra_properties`` to make them fit (not rejects).
    """

    rows: int
    rejects: int
    skipped: bool
    upserted: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    unmapped: int = 0
    overflowed_rows: int = 0
    overflowed_values: int = 0


DeletedId = tuple[int, str, datetime | str | None, int | None]


class Warehouse(abc.ABC):
    """What the sync needs from a warehouse. All methods are idempotent where noted."""

    # Run leases keep two DAG runs of one object from interleaving (see sync.steps).
    @abc.abstractmethod
    def acquire_run_lease(self, object_name: str, run_id: str, ttl: timedelta) -> None:
        """Claim (or renew) the object for ``run_id``; raise WarehouseLockError if another run holds it."""

    @abc.abstractmethod
    def check_run_lease(self, object_name: str, run_id: str) -> None:
        """Raise WarehouseLockError unless ``run_id`` holds the object's lease."""

    @abc.abstractmethod
    def release_run_lease(self, object_name: str, run_id: str) -> None:
        """Release the lease if ``run_id`` holds it."""

    @abc.abstractmethod
    def ensure_schema(self) -> None:
        """Create the schema/dataset and the metadata tables (idempotent)."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """True when :meth:`ensure_schema` has run."""

    @abc.abstractmethod
    def ensure_object_table(self, object_name: str, properties: Sequence[dict]) -> SchemaChangeSummary:
        """Create or evolve the object table from HubSpot property definitions.

        New property -> new column (or spilled to ``_extra_properties`` above the column cap); a
        changed type -> column widened to text; nothing is ever dropped. Records the mapping,
        the definitions and every change.
        """

    @abc.abstractmethod
    def column_specs(self, object_name: str) -> dict[str, ColumnSpec]:
        """The recorded property -> column mapping of an object."""

    @abc.abstractmethod
    def load_part(self, object_name: str, part_id: str, path: str | Path) -> LoadResult:
        """Upsert one NDJSON staging part; a part already loaded is skipped (``skipped=True``).

        Newer ``updatedAt`` wins regardless of load order; a live record clears delete flags.
        """

    @abc.abstractmethod
    def mark_deleted(self, object_name: str, ids_with_kind: Sequence[DeletedId]) -> int:
        """Flag records as deleted: ``(id, kind, deleted_at|None, merged_into_id|None)``.

        ``deleted_at`` may be a datetime or an ISO-8601 string; None keeps an earlier deletion
        time or uses now.

        ``kind`` is one of :data:`DELETION_KINDS`. Unknown ids get a tombstone row. Returns rows touched.
        """

    @abc.abstractmethod
    def restore(self, object_name: str, ids: Sequence[int]) -> int:
        """Clear the delete flags of ``ids``; returns rows touched."""

    @abc.abstractmethod
    def live_ids(self, object_name: str, synced_before: datetime | None = None) -> set[int]:
        """Ids of records not flagged deleted; with ``synced_before``, only rows whose
        ``_synced_at`` is earlier (purge candidates). No table yet -> empty set."""

    @abc.abstractmethod
    def deletion_kinds(self, object_name: str) -> dict[int, str | None]:
        """``id -> deletion kind`` (``None`` for live rows) of every row of the object."""

    @abc.abstractmethod
    def merge_targets(self, object_name: str) -> dict[int, int]:
        """``id -> merged_into_id`` of the rows flagged merged (empty before the first sync)."""

    @abc.abstractmethod
    def follow_merges_and_deletes(
        self, object_name: str, merged_into: Mapping[int, int], deleted: Sequence[int]
    ) -> int:
        """Re-point associations of merged records to their survivor; drop those of deleted records."""

    @abc.abstractmethod
    def replace_associations(
        self, from_object: str, to_object: str, from_ids: Sequence[int], rows: Sequence[dict]
    ) -> int:
        """Make the associations of ``from_ids`` equal ``rows`` (keys: from_id, to_id, type_id,
        category, label) in one transaction, writing only differences; returns rows changed
        (deleted, inserted or relabelled)."""

    @abc.abstractmethod
    def delete_associations_for(
        self, from_object: str, to_object: str, ids: Sequence[int], side: str = "both"
    ) -> int:
        """Delete associations whose ``from_id`` (side="from"), ``to_id`` ("to") or either ("both")
        is in ``ids``; returns rows deleted."""

    @abc.abstractmethod
    def upsert_pipelines(self, object_name: str, pipelines: Sequence[dict]) -> dict[str, int]:
        """Upsert pipelines and stages (HubSpot JSON); ones not returned or archived are flagged
        deleted. Returns counts."""

    @abc.abstractmethod
    def upsert_property_history(self, object_name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Upsert property-history rows (keys: object_id, property, value, timestamp,
        source_type, source_id, source_label, updated_by_user_id) into
        ``<table>_property_history``, idempotent on (object_id, property, timestamp); rows are
        never deleted. Returns rows inserted or changed."""

    @abc.abstractmethod
    def rebuild_stage_history(self, object_name: str, ids: Sequence[int], stage_property: str) -> int:
        """Rebuild the ``<table>_stage_history`` rows of ``ids`` from their ``stage_property``
        rows in ``<table>_property_history``; returns the rows they now have."""

    @abc.abstractmethod
    def history_ids(self, object_name: str) -> set[int]:
        """Ids of the records with any property-history row (empty before the first)."""

    @abc.abstractmethod
    def upsert_owners(self, owners: Sequence[dict]) -> int:
        """Upsert owners (HubSpot JSON); returns rows written."""

    @abc.abstractmethod
    def check_access(self, scratch_suffix: str) -> list[tuple[bool, str]]:
        """Health check (writes nothing that stays): connect, the privileges a sync needs on
        the schema or dataset, and a scratch table ``_hubspot_healthcheck_<suffix>`` created,
        written, read and dropped there. Returns ``(ok, note)`` pairs."""

    @abc.abstractmethod
    def owner_versions(self) -> dict[int, tuple[datetime | None, bool]]:
        """``id -> (updated_at, archived)`` of the stored owners (empty before the first sync)."""

    @abc.abstractmethod
    def get_sync_state(self, object_name: str) -> dict | None:
        """``{object_name, watermark, last_full_load_at, last_run_id, updated_at,
        deletes_checked_at}`` or None."""

    @abc.abstractmethod
    def set_sync_state(
        self,
        object_name: str,
        watermark: datetime | None,
        last_full_load_at: datetime | None = None,
        run_id: str | None = None,
        deletes_checked_at: datetime | None = None,
    ) -> None:
        """Record the watermark; a ``None`` ``last_full_load_at`` or ``deletes_checked_at``
        (when the archived listing last ran) keeps the stored one."""

    @abc.abstractmethod
    def stored_modified(
        self, object_name: str, property_name: str, ids: Sequence[int]
    ) -> dict[int, datetime]:
        """``id -> stored last-modified value`` of the live, complete rows among ``ids`` (see
        :meth:`SqlWarehouse.stored_modified`); an id left out must be read from HubSpot."""

    @abc.abstractmethod
    def write_run_report(self, report: dict) -> None:
        """Upsert one run report row keyed by (object_name, run_id)."""

    @abc.abstractmethod
    def object_lock(
        self, object_name: str, wait: bool = True, timeout_s: float | None = None
    ) -> AbstractContextManager[None]:
        """Exclusive per-object lock for the duration of a sync; raises :class:`WarehouseLockError`."""
