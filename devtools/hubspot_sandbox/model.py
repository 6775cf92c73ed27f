"""Core data structures of the sandbox portal: records, object types and association labels.

Records are compact (``__slots__``). Property values live in a per-record ``overrides`` dict;
generated portals additionally plug a deterministic *lazy value source* into the object type
so that e.g. 100k contacts x 300 properties never materialise 30M strings — a value is
computed from ``(seed, record id, property)`` when read, unless a mutation overrode it.

A few properties are *computed* from record fields and never stored: ``hs_object_id`` (= id),
the created property (``createdate``; ``hs_createdate`` for custom objects) and the
last-modified property (``lastmodifieddate`` for contacts, ``hs_lastmodifieddate`` otherwise),
which therefore always agree with ``createdAt`` / ``updatedAt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._util import DAY_MS, iso_ms, parse_datetime_ms
from .history import Entry, LazyHistory, Source, next_ts
from .history import wire as history_wire

HISTORY_LIMIT = 32
HISTORY_HORIZON_S = 600.0  # versions older than this are never needed (max supported index lag)

LazySource = Callable[[int, str], str | None]


class RecordVersion:
    """An immutable-by-convention view of a record's state at some point in time."""

    __slots__ = ("id", "created_at", "updated_at", "archived", "archived_at", "merged_into", "overrides")

    def __init__(
        self,
        rec_id: int,
        created_at: int,
        updated_at: int,
        archived: bool = False,
        archived_at: int | None = None,
        merged_into: int | None = None,
        overrides: dict[str, str | None] | None = None,
    ) -> None:
        self.id = rec_id
        self.created_at = created_at
        self.updated_at = updated_at
        self.archived = archived
        self.archived_at = archived_at
        self.merged_into = merged_into
        self.overrides = overrides


class Record(RecordVersion):
    """Current state of a record plus the history the search index replays for index lag.

    ``valid_from`` is the wall-clock time (seconds) since which the current state holds;
    ``history`` keeps ``(valid_from, RecordVersion)`` of older states, newest last.
    Records loaded from a fixture or generator have ``valid_from == 0`` (always indexed).
    """

    __slots__ = ("valid_from", "history", "writes")

    def __init__(self, rec_id: int, created_at: int, updated_at: int, **kwargs: Any) -> None:
        valid_from = kwargs.pop("valid_from", 0.0)
        super().__init__(rec_id, created_at, updated_at, **kwargs)
        self.valid_from: float = valid_from
        self.history: list[tuple[float, RecordVersion]] | None = None
        #: property history: explicit writes per property, oldest first (see history.py)
        self.writes: dict[str, list[Entry]] | None = None

    @property
    def visible(self) -> bool:
        """Visible in normal (non-archived) reads: not archived and not merged away."""
        return not self.archived and self.merged_into is None

    def freeze(self) -> RecordVersion:
        """Copy of the current state (overrides shallow-copied)."""
        ov = dict(self.overrides) if self.overrides is not None else None
        return RecordVersion(
            self.id, self.created_at, self.updated_at, self.archived, self.archived_at, self.merged_into, ov
        )

    def begin_change(self, at: float) -> None:
        """Push the current state into history before mutating it at wall time ``at``."""
        if self.history is None:
            self.history = []
        history = self.history
        history.append((self.valid_from, self.freeze()))
        if len(history) > HISTORY_LIMIT:
            del history[0]
        while len(history) >= 2 and history[1][0] <= at - HISTORY_HORIZON_S:
            del history[0]
        self.valid_from = at

    def version_at(self, at: float) -> RecordVersion | None:
        """State as the search index sees it at wall time ``at`` (None: not yet indexed)."""
        if self.valid_from <= at:
            return self
        for valid_from, version in reversed(self.history or ()):
            if valid_from <= at:
                return version
        return None


@dataclass
class LabelDef:
    """One direction of an association type: ``from -> to`` with ``typeId`` and label."""

    from_type: str
    to_type: str
    type_id: int
    category: str
    label: str | None
    inverse_type_id: int

    def wire(self) -> dict[str, Any]:
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


def _convert_for_compare(ptype: str, raw: str) -> Any:
    if ptype == "number":
        return float(raw)
    if ptype == "datetime":
        return parse_datetime_ms(raw)
    if ptype == "date":
        ms = parse_datetime_ms(raw)
        return ms - ms % DAY_MS
    return raw.lower()


@dataclass
class ObjectType:
    """An object type (standard or custom) with its property definitions and records."""

    object_type_id: str
    name: str
    singular: str
    plural: str
    scope: str | tuple[str, ...]  # a tuple: any one of these scopes grants read access
    created_property: str
    modified_property: str
    default_properties: list[str]
    is_custom: bool = False
    fully_qualified_name: str | None = None
    primary_display_property: str | None = None
    secondary_display_properties: list[str] = field(default_factory=list)
    required_properties: list[str] = field(default_factory=list)
    searchable_properties: list[str] = field(default_factory=list)
    description: str | None = None
    created_at: int = 0
    updated_at: int = 0
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[int, Record] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)
    lazy: LazySource | None = None
    lazy_names: frozenset[str] = frozenset()
    lazy_history: LazyHistory | None = None
    aliases: tuple[str, ...] = ()
    library: bool = False  # an object-library object: exists only while ``active``
    active: bool = True

    # ----------------------------------------------------------------- values
    @property
    def computed(self) -> tuple[str, str, str]:
        return ("hs_object_id", self.created_property, self.modified_property)

    def value(self, rec: RecordVersion, name: str) -> str | None:
        """Wire value (string or None) of property ``name`` on ``rec``."""
        if name == "hs_object_id":
            return str(rec.id)
        if name == self.modified_property:
            return iso_ms(rec.updated_at)
        if name == self.created_property:
            return iso_ms(rec.created_at)
        ov = rec.overrides
        if ov is not None and name in ov:
            return ov[name]
        if self.lazy is not None and name in self.lazy_names:
            return self.lazy(rec.id, name)
        return None

    def _values(self, rec: RecordVersion, names: list[str]) -> dict[str, str | None]:
        """``{name: self.value(rec, name)}`` for many names, without a call per value."""
        fixed = {
            "hs_object_id": str(rec.id),
            self.modified_property: iso_ms(rec.updated_at),
            self.created_property: iso_ms(rec.created_at),
        }
        overrides = rec.overrides or {}
        lazy, lazy_names = self.lazy, self.lazy_names
        known = getattr(lazy, "known", lambda _rid: {})(rec.id) if lazy is not None else {}
        out: dict[str, str | None] = {}
        for name in names:
            if name in fixed:
                out[name] = fixed[name]
            elif name in overrides:
                out[name] = overrides[name]
            elif name in known:
                out[name] = known[name]
            elif lazy is not None and name in lazy_names:
                out[name] = lazy(rec.id, name)
            else:
                out[name] = None
        return out

    def typed_value(self, rec: RecordVersion, name: str) -> Any:
        """Comparable value for search filters/sorts (None when unset or unparsable)."""
        if name == "hs_object_id":
            return float(rec.id)
        if name == self.modified_property:
            return rec.updated_at
        if name == self.created_property:
            return rec.created_at
        raw = self.value(rec, name)
        if raw is None or raw == "":
            return None
        ptype = self.properties.get(name, {}).get("type", "string")
        try:
            return _convert_for_compare(ptype, raw)
        except ValueError:
            return None

    def all_values(self, rec: RecordVersion) -> dict[str, str]:
        """Every defined property with a non-null value."""
        out: dict[str, str] = {}
        for name in self.properties:
            val = self.value(rec, name)
            if val is not None:
                out[name] = val
        return out

    def resolve_properties(self, requested: list[str] | None) -> list[str]:
        """Requested property names (unknown ignored) plus the always-returned ones."""
        names = self.default_properties if requested is None else requested
        out = [n for n in names if n in self.properties and not self.properties[n].get("archived")]
        for extra in (self.created_property, "hs_object_id", self.modified_property):
            if extra not in out:
                out.append(extra)
        return out

    def wire(self, rec: RecordVersion, props: list[str] | None) -> dict[str, Any]:
        """HubSpot ``SimplePublicObject`` for ``rec``; ``props=None`` means all non-null values."""
        if props is None:
            properties: dict[str, str | None] = dict(self.all_values(rec))
        else:
            properties = self._values(rec, props)
        out: dict[str, Any] = {
            "id": str(rec.id),
            "properties": properties,
            "createdAt": iso_ms(rec.created_at),
            "updatedAt": iso_ms(rec.updated_at),
            "archived": bool(rec.archived),
        }
        if rec.archived:
            out["archivedAt"] = iso_ms(rec.archived_at or rec.updated_at)
        return out

    # ---------------------------------------------------------------- history
    def history(self, rec: Record, name: str) -> list[Entry]:
        """Every write of ``name`` on ``rec``, oldest first (generated base, then explicit writes)."""
        base = self.lazy_history(rec.id, name) if self.lazy_history is not None else []
        explicit = (rec.writes or {}).get(name)
        return base + explicit if explicit else base

    def write(self, rec: Record, name: str, value: str | None, source: Source, at_ms: int) -> int:
        """Record one write of ``name`` at ``at_ms`` (moved past the newest entry); returns its time."""
        writes = rec.writes
        if writes is None:
            writes = rec.writes = {}
        explicit = writes.get(name)
        if explicit:
            ts = next_ts(explicit, at_ms)
        else:
            ts = next_ts(self.lazy_history(rec.id, name) if self.lazy_history is not None else [], at_ms)
            explicit = writes[name] = []
        explicit.append(source.entry(ts, value))
        return ts

    def history_wire(self, rec: Record, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        """``propertiesWithHistory`` of ``rec``: newest first; unknown or never-written names omitted."""
        out: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            if name not in self.properties:
                continue
            entries = self.history(rec, name)
            if entries:
                out[name] = [history_wire(e) for e in reversed(entries)]
        return out

    # ---------------------------------------------------------------- records
    def add_record(self, rec: Record) -> None:
        """Insert a record, keeping ``ids`` sorted."""
        if rec.id in self.records:
            raise ValueError(f"duplicate id {rec.id}")
        self.records[rec.id] = rec
        if not self.ids or rec.id > self.ids[-1]:
            self.ids.append(rec.id)
        else:
            import bisect

            bisect.insort(self.ids, rec.id)

    def next_id(self) -> int:
        return (self.ids[-1] + 1) if self.ids else 1

    def matches_ref(self, ref: str) -> bool:
        """Name, objectTypeId, fullyQualifiedName, or (standard objects) the singular name,
        which HubSpot accepts in paths too (``/crm/v3/objects/contact``)."""
        low = ref.lower()
        names = {self.name.lower(), self.object_type_id.lower(), *self.aliases}
        if not self.is_custom:
            names.add(self.singular.lower().replace(" ", "_"))
        return low in names or (
            self.fully_qualified_name is not None and low == self.fully_qualified_name.lower()
        )
