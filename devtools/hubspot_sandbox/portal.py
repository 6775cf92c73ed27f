"""The sandbox portal: thread-safe in-memory HubSpot account state, mutations and queries.

A :class:`Portal` holds object types (with property definitions and records), owners,
pipelines, association labels and associations. One re-entrant lock guards everything.

* Load: :meth:`Portal.from_fixture` / :meth:`Portal.from_dict` (see ``loader.py`` and
  ``docs/sandbox.md`` for the fixture format), or :func:`generate_portal`.
* Mutate (what the admin API calls): :meth:`create`, :meth:`update`, :meth:`archive`,
  :meth:`restore`, :meth:`merge`, :meth:`associate`, :meth:`disassociate`,
  :meth:`add_property`, :meth:`add_owner`.
* Inspect: :meth:`snapshot`, :meth:`owners_snapshot`, :meth:`to_dict`.
* Query (what the HubSpot-compatible HTTP API calls): :meth:`list_records`,
  :meth:`get_record`, :meth:`search`, :meth:`batch_read`, :meth:`list_properties`,
  :meth:`list_schemas`, :meth:`list_pipelines`, :meth:`list_owners`,
  :meth:`association_batch_read`, :meth:`association_labels`.

Mutation rules follow HubSpot: updates bump ``updatedAt`` and the last-modified property;
archiving does not; merged-away records vanish (they are *not* archived) and the survivor's
``hs_merged_object_ids`` lists them; associating does not bump modified dates.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._util import FixtureError, PortalError, encode_cursor, iso_ms, parse_datetime_ms
from .history import API, CALCULATED, MERGE, Source
from .model import LabelDef, ObjectType, Record, RecordVersion
from .schema import normalize_property, normalize_value
from .search import id_bounds, run_search

DEFAULT_PORTAL_ID = 12345678
FIRST_AUTO_TYPE_ID = 1000
ACCOUNT_DEFAULTS: dict[str, Any] = {
    "accountType": "STANDARD",
    "timeZone": "US/Eastern",
    "companyCurrency": "USD",
    "additionalCurrencies": [],
    "utcOffset": "-05:00",
    "utcOffsetMilliseconds": -18_000_000,
    "uiDomain": "app.hubspot.com",
    "dataHostingLocation": "na1",
}


def _not_found(message: str, **context: Any) -> PortalError:
    return PortalError(404, "OBJECT_NOT_FOUND", message, context or None)


def _bad(message: str) -> PortalError:
    return PortalError(400, "VALIDATION_ERROR", message)


class Portal:
    """In-memory HubSpot account. All public methods are thread-safe."""

    def __init__(self, portal_id: int = DEFAULT_PORTAL_ID, clock: Callable[[], float] = time.time) -> None:
        self.portal_id = portal_id
        self.clock = clock
        self.lock = threading.RLock()
        self.types: dict[str, ObjectType] = {}
        self.owners: list[dict[str, Any]] = []
        self.pipelines: dict[str, list[dict[str, Any]]] = {}
        self.labels: dict[tuple[str, str], dict[int, LabelDef]] = {}
        self.assoc: dict[tuple[str, str], dict[int, dict[int, tuple[int, ...]]]] = {}
        self._ref_cache: dict[str, ObjectType] = {}
        self._tuples: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.account: dict[str, Any] = dict(ACCOUNT_DEFAULTS)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Portal:
        """Build a portal from a fixture dict. Raises :class:`FixtureError` naming the bad key."""
        from .loader import load_portal

        return load_portal(data)

    @classmethod
    def from_fixture(cls, path: str | Path) -> Portal:
        """Load a JSON fixture file (see docs/sandbox.md)."""
        import json

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FixtureError("portal", f"invalid JSON in {path}: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def demo(cls) -> Portal:
        """The small hand-written demo portal shipped in ``fixtures/demo_portal.json``."""
        return cls.from_fixture(Path(__file__).with_name("fixtures") / "demo_portal.json")

    def to_dict(self) -> dict[str, Any]:
        """Serialise to a fixture dict (materialises lazily generated values)."""
        from .loader import dump_portal

        with self.lock:
            return dump_portal(self)

    def add_type(self, ot: ObjectType) -> None:
        self.types[ot.object_type_id] = ot
        self._ref_cache.clear()

    # ------------------------------------------------------------- resolution
    def object_type(self, ref: str) -> ObjectType:
        """Resolve a name (``contacts``), objectTypeId (``0-1``) or fullyQualifiedName."""
        ot = self._ref_cache.get(ref)
        if ot is not None:
            return ot
        found = self.find_type(ref)
        if found is None:
            raise _not_found(f"Unable to infer object type from: {ref}")
        self._ref_cache[ref] = found
        return found

    def find_type(self, ref: str, *, include_inactive: bool = False) -> ObjectType | None:
        """The type ``ref`` names, or None. Object-library objects the portal has not activated
        do not exist (unless ``include_inactive``). A custom object keeps its bare name when an
        activated library object shares it (e.g. a custom ``services`` and HubSpot's 0-162)."""
        matches = [t for t in self.types.values() if (t.active or include_inactive) and t.matches_ref(ref)]
        if not matches:
            return None
        exact = [
            t
            for t in matches
            if ref.lower() in (t.object_type_id.lower(), (t.fully_qualified_name or "").lower())
        ]
        return (exact or sorted(matches, key=lambda t: not t.is_custom))[0]

    def _any_type(self, ref: str) -> ObjectType:
        """Like :meth:`object_type`, but also finds object-library objects not activated yet."""
        found = self.find_type(ref, include_inactive=True)
        if found is None:
            raise _not_found(f"Unable to infer object type from: {ref}")
        return found

    # ---------------------------------------------------------- object library
    def library_enablement(self) -> dict[str, bool]:
        """``{objectTypeId: activated}`` for every object-library object (HubSpot's enablement map)."""
        with self.lock:
            return {t.object_type_id: t.active for t in self.types.values() if t.library}

    def set_library_object(self, ref: str, enabled: bool) -> dict[str, Any]:
        """Activate (or deactivate) an object-library object, as a HubSpot admin does in settings."""
        with self.lock:
            ot = self.find_type(ref, include_inactive=True)
            if ot is None or not ot.library:
                ot = next((t for t in self.types.values() if t.library and t.matches_ref(ref)), None)
            if ot is None:
                raise _not_found(f"{ref} is not an object-library object")
            ot.active = bool(enabled)
            self._ref_cache.clear()
            return {"objectTypeId": ot.object_type_id, "name": ot.name, "enablement": ot.active}

    def account_details(self) -> dict[str, Any]:
        """``GET /account-info/v3/details``."""
        with self.lock:
            return {"portalId": self.portal_id, **self.account}

    def _record(self, ot: ObjectType, rec_id: Any) -> Record:
        try:
            rid = int(str(rec_id))
        except ValueError:
            raise _not_found(f"{ot.singular} {rec_id} not found", ids=[str(rec_id)]) from None
        rec = ot.records.get(rid)
        if rec is None:
            raise _not_found(f"{ot.singular} {rec_id} not found", ids=[str(rec_id)])
        return rec

    def _live(self, ot: ObjectType, rec_id: Any) -> Record:
        rec = self._record(ot, rec_id)
        if rec.merged_into is not None:
            raise _not_found(f"{ot.singular} {rec_id} was merged into {rec.merged_into}", ids=[str(rec_id)])
        if rec.archived:
            raise _not_found(f"{ot.singular} {rec_id} is archived", ids=[str(rec_id)])
        return rec

    def _now(self) -> tuple[float, int]:
        t = self.clock()
        return t, int(t * 1000)

    def _normalize_props(self, ot: ObjectType, props: Any) -> dict[str, str | None]:
        if props is None:
            return {}
        if not isinstance(props, dict):
            raise _bad("properties must be an object")
        out: dict[str, str | None] = {}
        for name, value in props.items():
            prop = ot.properties.get(name)
            if prop is None:
                raise _bad(f'Property "{name}" does not exist on {ot.name}')
            if name in ot.computed:
                raise _bad(f"Property {name} is read-only (use createdAt/updatedAt)")
            try:
                out[name] = normalize_value(prop, value, f"properties.{name}")
            except FixtureError as exc:
                raise _bad(str(exc)) from exc
        return out

    @staticmethod
    def _ts(value: Any, what: str) -> int:
        try:
            return parse_datetime_ms(value)
        except (ValueError, TypeError) as exc:
            raise _bad(f"{what}: not a timestamp: {value!r}") from exc

    # --------------------------------------------------------------- mutations
    def create(
        self,
        object_type: str,
        properties: dict[str, Any] | None = None,
        *,
        record_id: int | str | None = None,
        created_at: Any = None,
        updated_at: Any = None,
        source: Source = API,
    ) -> dict[str, Any]:
        """Create a record (id = max+1 unless given). Returns it with all non-null properties.

        Every given value, the created and the last-modified property get a history entry."""
        with self.lock:
            ot = self.object_type(object_type)
            overrides = self._normalize_props(ot, properties)
            rid = int(record_id) if record_id is not None else ot.next_id()
            if rid in ot.records:
                raise PortalError(409, "CONFLICT", f"{ot.singular} {rid} already exists")
            t, ms = self._now()
            created = self._ts(created_at, "createdAt") if created_at is not None else ms
            updated = self._ts(updated_at, "updatedAt") if updated_at is not None else created
            rec = Record(rid, created, updated, overrides=overrides or None, valid_from=t)
            ot.add_record(rec)
            self.record_creation(ot, rec, source)
            return ot.wire(rec, None)

    @staticmethod
    def record_creation(
        ot: ObjectType, rec: Record, source: Source, skip: frozenset[str] = frozenset()
    ) -> None:
        """History of a new record: its id and modified date (CALCULATED), created date and
        values (properties in ``skip`` already have their history)."""
        writes: list[tuple[str, str | None, Source, int]] = [
            ("hs_object_id", str(rec.id), CALCULATED, rec.created_at),
            (ot.created_property, iso_ms(rec.created_at), source, rec.created_at),
        ]
        writes += [(n, v, source, rec.created_at) for n, v in (rec.overrides or {}).items() if v is not None]
        writes.append((ot.modified_property, iso_ms(rec.created_at), CALCULATED, rec.created_at))
        if rec.updated_at != rec.created_at:
            writes.append((ot.modified_property, iso_ms(rec.updated_at), CALCULATED, rec.updated_at))
        for name, value, src, at in writes:
            if name not in skip:
                ot.write(rec, name, value, src, at)

    @staticmethod
    def _record_changes(
        ot: ObjectType, rec: Record, changes: dict[str, str | None], source: Source, at_ms: int
    ) -> None:
        """History of an update: one entry per changed value, and the modified date (CALCULATED)."""
        for name, value in changes.items():
            if ot.value(rec, name) != value or not ot.history(rec, name):
                ot.write(rec, name, value, source, at_ms)

    def update(
        self,
        object_type: str,
        record_id: Any,
        properties: dict[str, Any],
        *,
        updated_at: Any = None,
        source: Source = API,
    ) -> dict[str, Any]:
        """Update properties; bumps ``updatedAt`` (monotonic per record) unless given explicitly.

        Changed values get a history entry from ``source``; the modified date a CALCULATED one."""
        with self.lock:
            ot = self.object_type(object_type)
            rec = self._live(ot, record_id)
            changes = self._normalize_props(ot, properties)
            t, ms = self._now()
            rec.begin_change(t)
            new_updated = (
                self._ts(updated_at, "updatedAt") if updated_at is not None else max(ms, rec.updated_at + 1)
            )
            self._record_changes(ot, rec, changes, source, new_updated)
            if changes:
                rec.overrides = {**(rec.overrides or {}), **changes}
            rec.updated_at = new_updated
            ot.write(rec, ot.modified_property, iso_ms(new_updated), CALCULATED, new_updated)
            return ot.wire(rec, None)

    def archive(self, object_type: str, record_id: Any) -> dict[str, Any]:
        """Archive (soft-delete). Sets archivedAt; does NOT bump updatedAt (as HubSpot)."""
        with self.lock:
            ot = self.object_type(object_type)
            rec = self._live(ot, record_id)
            t, ms = self._now()
            rec.begin_change(t)
            rec.archived = True
            rec.archived_at = ms
            return ot.wire(rec, None)

    def restore(self, object_type: str, record_id: Any) -> dict[str, Any]:
        """Un-archive a record. Restoring counts as a change and bumps updatedAt."""
        with self.lock:
            ot = self.object_type(object_type)
            rec = self._record(ot, record_id)
            if rec.merged_into is not None or not rec.archived:
                raise _bad(f"{ot.singular} {record_id} is not archived")
            t, ms = self._now()
            rec.begin_change(t)
            rec.archived = False
            rec.archived_at = None
            rec.updated_at = max(ms, rec.updated_at + 1)
            ot.write(rec, ot.modified_property, iso_ms(rec.updated_at), CALCULATED, rec.updated_at)
            return ot.wire(rec, None)

    def merge(
        self,
        object_type: str,
        primary_id: Any,
        id_to_merge: Any,
        *,
        at_ms: int | None = None,
        source: Source = MERGE,
    ) -> dict[str, Any]:
        """Merge ``id_to_merge`` into ``primary_id`` and return the survivor.

        The merged record disappears from every read (not archived). The survivor's
        ``hs_merged_object_ids`` gains the merged id plus ids previously merged into it,
        its updatedAt bumps, and the merged record's associations move to the survivor.
        """
        with self.lock:
            ot = self.object_type(object_type)
            return ot.wire(self._merge(ot, primary_id, id_to_merge, at_ms, source), None)

    def _merge(
        self, ot: ObjectType, primary_id: Any, id_to_merge: Any, at_ms: int | None, source: Source = MERGE
    ) -> Record:
        with self.lock:
            survivor = self._live(ot, primary_id)
            merged = self._live(ot, id_to_merge)
            if survivor is merged:
                raise _bad("primaryObjectId and objectIdToMerge must differ")
            t, ms = self._now()
            if at_ms is not None:
                t, ms = at_ms / 1000, at_ms
            previous = self._merged_ids(ot, merged)
            ids = self._merged_ids(ot, survivor)
            for mid in [str(merged.id), *previous]:
                if mid not in ids:
                    ids.append(mid)
            merged.begin_change(t)
            merged.merged_into = survivor.id
            for prev in previous:  # records merged into the absorbed one now point at the survivor
                other = ot.records.get(int(prev))
                if other is not None and other.merged_into == merged.id:
                    other.merged_into = survivor.id
            survivor.begin_change(t)
            survivor.overrides = {**(survivor.overrides or {}), "hs_merged_object_ids": ";".join(ids)}
            survivor.updated_at = max(ms, survivor.updated_at + 1) if at_ms is None else ms
            stamp = survivor.updated_at
            ot.write(survivor, "hs_merged_object_ids", ";".join(ids), source, stamp)
            ot.write(survivor, ot.modified_property, iso_ms(stamp), CALCULATED, stamp)
            self._move_associations(ot.object_type_id, merged.id, survivor.id)
            return survivor

    def _merged_ids(self, ot: ObjectType, rec: RecordVersion) -> list[str]:
        raw = ot.value(rec, "hs_merged_object_ids")
        return [p for p in (raw or "").split(";") if p]

    def add_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        """Define a new property (existing records have no value until set)."""
        with self.lock:
            ot = self.object_type(object_type)
            try:
                prop = normalize_property(
                    definition, "property", f"{ot.singular.lower()}information", False, self._now()[1]
                )
            except FixtureError as exc:
                raise _bad(str(exc)) from exc
            if prop["name"] in ot.properties:
                raise PortalError(409, "CONFLICT", f"Property {prop['name']} already exists on {ot.name}")
            ot.properties[prop["name"]] = prop
            return prop

    def add_owner(self, owner: dict[str, Any]) -> dict[str, Any]:
        """Add (or replace by id) an owner; input as in the fixture ``owners`` list."""
        from .loader import normalize_owner

        with self.lock:
            try:
                norm = normalize_owner(owner, "owner", self._now()[1])
            except FixtureError as exc:
                raise _bad(str(exc)) from exc
            self.owners = [o for o in self.owners if o["id"] != norm["id"]] + [norm]
            self.owners.sort(key=lambda o: int(o["id"]))
            return norm

    # ------------------------------------------------------------ associations
    def add_label_pair(
        self,
        from_type: str,
        to_type: str,
        type_id: int,
        inverse_type_id: int,
        category: str = "HUBSPOT_DEFINED",
        label: str | None = None,
        inverse_label: str | None = None,
    ) -> None:
        """Define an association type and its inverse (``from -> to`` and ``to -> from``)."""
        with self.lock:
            f = self._any_type(from_type).object_type_id
            t = self._any_type(to_type).object_type_id
            self.labels.setdefault((f, t), {})[type_id] = LabelDef(
                f, t, type_id, category, label, inverse_type_id
            )
            self.labels.setdefault((t, f), {})[inverse_type_id] = LabelDef(
                t, f, inverse_type_id, category, inverse_label, type_id
            )

    def define_label(
        self,
        from_type: str,
        to_type: str,
        label: str,
        inverse_label: str | None = None,
        category: str = "USER_DEFINED",
    ) -> dict[str, Any]:
        """A new labelled association type pair (next free type ids), as HubSpot's settings create it."""
        with self.lock:
            used = self._all_type_ids()
            first = max([FIRST_AUTO_TYPE_ID - 1, *used]) + 1
            f = self.object_type(from_type).object_type_id
            t = self.object_type(to_type).object_type_id
            second = first + 1 if f != t else first
            self.add_label_pair(f, t, first, second, category, label, inverse_label or label)
            return {"typeId": first, "inverseTypeId": second, "category": category, "label": label}

    def rename_label(self, from_type: str, to_type: str, type_id: int, label: str) -> dict[str, Any]:
        """Rename one direction of a user-defined association type (existing links keep the type)."""
        with self.lock:
            f = self.object_type(from_type).object_type_id
            t = self.object_type(to_type).object_type_id
            old = self.labels.get((f, t), {}).get(int(type_id))
            if old is None or old.category == "HUBSPOT_DEFINED":
                raise _bad(f"no user-defined association type {type_id} for {f} -> {t}")
            self.labels[(f, t)][old.type_id] = LabelDef(
                f, t, old.type_id, old.category, label, old.inverse_type_id
            )
            return self.labels[(f, t)][old.type_id].wire()

    def add_pipeline(self, object_type: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Create a pipeline (with its stages), as a HubSpot admin does in settings."""
        from .loader import normalize_pipeline

        with self.lock:
            ot = self.object_type(object_type)
            _, ms = self._now()
            pipeline = normalize_pipeline({"createdAt": ms, **spec}, "pipeline", ot.name)
            pipes = self.pipelines.setdefault(ot.object_type_id, [])
            if any(p["id"] == pipeline["id"] for p in pipes):
                raise _bad(f"pipeline {pipeline['id']} already exists")
            pipes.append(pipeline)
            return dict(pipeline)

    def change_pipeline(
        self, object_type: str, pipeline_id: str, changes: dict[str, Any], stage_id: str | None = None
    ) -> dict[str, Any]:
        """Relabel, reorder or archive/unarchive a pipeline, or one of its stages."""
        with self.lock:
            pipeline = self._pipeline(object_type, pipeline_id)
            target = pipeline
            if stage_id is not None:
                target = next((s for s in pipeline["stages"] if s["id"] == str(stage_id)), None)
                if target is None:
                    raise _not_found(f"stage {stage_id} not found in pipeline {pipeline_id}")
            unknown = set(changes) - {"label", "displayOrder", "archived", "metadata"}
            if unknown:
                raise _bad(f"unknown pipeline fields: {sorted(unknown)}")
            _, ms = self._now()
            for key in ("label", "displayOrder"):
                if key in changes:
                    target[key] = changes[key]
            if "metadata" in changes:
                target["metadata"] = {
                    **target.get("metadata", {}),
                    **{k: str(v) for k, v in changes["metadata"].items()},
                }
            if "archived" in changes:
                target["archived"] = bool(changes["archived"])
                if target["archived"]:
                    target["archivedAt"] = iso_ms(ms)
                else:
                    target.pop("archivedAt", None)
            target["updatedAt"] = iso_ms(ms)
            return dict(target)

    def add_stage(self, object_type: str, pipeline_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Add a stage to a pipeline."""
        from .loader import normalize_pipeline

        with self.lock:
            pipeline = self._pipeline(object_type, pipeline_id)
            if any(s["id"] == str(spec.get("id")) for s in pipeline["stages"]):
                raise _bad(f"stage {spec.get('id')} already exists in pipeline {pipeline_id}")
            _, ms = self._now()
            ot = self.object_type(object_type)
            stage = normalize_pipeline({"id": "x", "createdAt": ms, "stages": [spec]}, "stage", ot.name)[
                "stages"
            ][0]
            pipeline["stages"].append(stage)
            pipeline["updatedAt"] = iso_ms(ms)
            return dict(stage)

    def _pipeline(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        ot = self.object_type(object_type)
        for pipeline in self.pipelines.get(ot.object_type_id, []):
            if pipeline["id"] == str(pipeline_id):
                return pipeline
        raise _not_found(f"pipeline {pipeline_id} not found")

    def _all_type_ids(self) -> set[int]:
        return {tid for defs in self.labels.values() for tid in defs}

    def default_label(self, f: str, t: str) -> LabelDef:
        """The unlabeled HUBSPOT_DEFINED type for the pair, created on demand."""
        defs = self.labels.get((f, t), {})
        unlabeled = sorted(
            (d for d in defs.values() if d.category == "HUBSPOT_DEFINED" and d.label is None),
            key=lambda d: d.type_id,
        )
        if unlabeled:
            return unlabeled[0]
        used = self._all_type_ids()
        first = max([FIRST_AUTO_TYPE_ID - 1, *used]) + 1
        second = first + 1 if f != t else first
        self.add_label_pair(f, t, first, second)
        return self.labels[(f, t)][first]

    def _find_label(
        self, f: str, t: str, type_id: int | None, label: str | None, category: str | None
    ) -> LabelDef:
        defs = self.labels.get((f, t), {})
        if type_id is not None:
            found = defs.get(int(type_id))
            if found is None or (category and found.category != category):
                raise _bad(
                    f"Unknown association type {type_id} ({category or 'any category'}) for {f} -> {t}"
                )
            return found
        if label is not None:
            for d in defs.values():
                if d.label == label:
                    return d
            raise _bad(f"Unknown association label {label!r} for {f} -> {t}")
        return self.default_label(f, t)

    def _intern(self, types: tuple[int, ...]) -> tuple[int, ...]:
        return self._tuples.setdefault(types, types)

    def link(self, f: str, fid: int, t: str, tid: int, type_ids: tuple[int, ...]) -> None:
        """Low-level one-direction link (no validation); used by loaders/generators."""
        targets = self.assoc.setdefault((f, t), {}).setdefault(fid, {})
        current = targets.get(tid)
        merged = type_ids if current is None else tuple(sorted(set(current) | set(type_ids)))
        targets[tid] = self._intern(merged)

    def _unlink(self, f: str, fid: int, t: str, tid: int, type_id: int | None) -> bool:
        targets = self.assoc.get((f, t), {}).get(fid)
        if not targets or tid not in targets:
            return False
        if type_id is None:
            del targets[tid]
        else:
            left = tuple(x for x in targets[tid] if x != type_id)
            if left:
                targets[tid] = self._intern(left)
            else:
                del targets[tid]
        if not targets:
            del self.assoc[(f, t)][fid]
        return True

    def associate(
        self,
        from_type: str,
        from_id: Any,
        to_type: str,
        to_id: Any,
        *,
        type_id: int | None = None,
        category: str | None = None,
        label: str | None = None,
    ) -> dict[str, Any]:
        """Associate two records in both directions (default: HubSpot-defined unlabeled type).

        A labelled association also implies the unlabeled default one (as in HubSpot).
        Does not bump modified dates.
        """
        with self.lock:
            fot, tot = self.object_type(from_type), self.object_type(to_type)
            frec, trec = self._live(fot, from_id), self._live(tot, to_id)
            f, t = fot.object_type_id, tot.object_type_id
            chosen = self._find_label(f, t, type_id, label, category)
            default = self.default_label(f, t)
            self.link(f, frec.id, t, trec.id, tuple(sorted({default.type_id, chosen.type_id})))
            self.link(
                t, trec.id, f, frec.id, tuple(sorted({default.inverse_type_id, chosen.inverse_type_id}))
            )
            return self._assoc_entry(f, t, frec.id, trec.id)

    def disassociate(
        self, from_type: str, from_id: Any, to_type: str, to_id: Any, *, type_id: int | None = None
    ) -> dict[str, Any]:
        """Remove the association (all types, or just ``type_id``) in both directions."""
        with self.lock:
            fot, tot = self.object_type(from_type), self.object_type(to_type)
            frec, trec = self._record(fot, from_id), self._record(tot, to_id)
            f, t = fot.object_type_id, tot.object_type_id
            inverse = None
            if type_id is not None:
                inverse = self._find_label(f, t, type_id, None, None).inverse_type_id
            removed = self._unlink(f, frec.id, t, trec.id, type_id)
            self._unlink(t, trec.id, f, frec.id, inverse)
            if not removed:
                raise _not_found(f"No association {fot.name}/{frec.id} -> {tot.name}/{trec.id}")
            return self._assoc_entry(f, t, frec.id, trec.id)

    def _assoc_entry(self, f: str, t: str, fid: int, tid: int) -> dict[str, Any]:
        types = self.assoc.get((f, t), {}).get(fid, {}).get(tid, ())
        return {
            "fromObjectTypeId": f,
            "fromObjectId": str(fid),
            "toObjectTypeId": t,
            "toObjectId": str(tid),
            "associationTypes": [self._label_wire(f, t, x) for x in types],
        }

    def _label_wire(self, f: str, t: str, type_id: int) -> dict[str, Any]:
        d = self.labels.get((f, t), {}).get(type_id)
        if d is None:
            return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
        return d.wire()

    def _move_associations(self, type_id: str, merged: int, survivor: int) -> None:
        for (f, t), fmap in list(self.assoc.items()):
            if f != type_id:
                continue
            links = fmap.pop(merged, None)
            if not links:
                continue
            back = self.assoc.get((t, f), {})
            for to_id, types in links.items():
                rev = back.get(to_id)
                rtypes = rev.pop(merged, ()) if rev is not None else ()
                if rev is not None and not rev:
                    back.pop(to_id, None)
                if f == t and to_id in (merged, survivor):
                    continue
                self.link(f, survivor, t, to_id, types)
                if rtypes:
                    self.link(t, to_id, f, survivor, rtypes)

    # -------------------------------------------------------------- inspection
    def snapshot(self, object_type: str) -> dict[str, Any]:
        """Full truth for oracle tests: every non-merged record (incl. archived) with all
        non-null properties, the merged-away ids with their survivor, and associations."""
        with self.lock:
            ot = self.object_type(object_type)
            records, merged = [], {}
            for rid in ot.ids:
                rec = ot.records[rid]
                if rec.merged_into is not None:
                    merged[str(rid)] = str(rec.merged_into)
                else:
                    records.append(ot.wire(rec, None))
            associations = []
            for (f, t), fmap in self.assoc.items():
                if f != ot.object_type_id:
                    continue
                tname = self.types[t].name
                for fid in sorted(fmap):
                    for tid in sorted(fmap[fid]):
                        associations.append(
                            {
                                "fromId": str(fid),
                                "toType": tname,
                                "toId": str(tid),
                                "associationTypes": [self._label_wire(f, t, x) for x in fmap[fid][tid]],
                            }
                        )
            return {
                "objectType": ot.name,
                "objectTypeId": ot.object_type_id,
                "records": records,
                "merged": merged,
                "associations": associations,
            }

    def history_snapshot(self, object_type: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Full property history for oracle tests: ``{record id: {property: [entries newest
        first]}}`` for every record that ever existed (archived and merged-away ones too);
        properties never written are absent. Entries are HubSpot's wire shape."""
        with self.lock:
            ot = self.object_type(object_type)
            names = list(ot.properties)
            return {str(rid): ot.history_wire(ot.records[rid], names) for rid in ot.ids}

    def record_history(self, object_type: str, record_id: Any) -> dict[str, list[dict[str, Any]]]:
        """One record's full property history (any record that ever existed), newest first."""
        with self.lock:
            ot = self.object_type(object_type)
            return ot.history_wire(self._record(ot, record_id), list(ot.properties))

    def owners_snapshot(self) -> dict[str, Any]:
        """All owners, active and archived."""
        with self.lock:
            return {"owners": [dict(o) for o in self.owners]}

    # ------------------------------------------------------------------ reads
    def list_records(
        self,
        object_type: str,
        *,
        limit: int = 10,
        after_id: int | None = None,
        properties: list[str] | None = None,
        archived: bool = False,
        history: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of the list endpoint (ids ascending) and the id the next page starts at.

        ``history``: property names whose ``propertiesWithHistory`` each result carries."""
        with self.lock:
            ot = self.object_type(object_type)
            props = ot.resolve_properties(properties)
            start = bisect.bisect_left(ot.ids, after_id) if after_id is not None else 0
            out: list[dict[str, Any]] = []
            for rid in ot.ids[start:] if start else ot.ids:
                rec = ot.records[rid]
                if rec.merged_into is not None or rec.archived != archived:
                    continue
                if len(out) == limit:
                    return out, rid
                out.append(self._wire(ot, rec, props, history))
            return out, None

    @staticmethod
    def _wire(ot: ObjectType, rec: Record, props: list[str], history: list[str] | None) -> dict[str, Any]:
        out = ot.wire(rec, props)
        if history:
            out["propertiesWithHistory"] = ot.history_wire(rec, history)
        return out

    def get_record(
        self,
        object_type: str,
        record_id: Any,
        *,
        properties: list[str] | None = None,
        archived: bool = False,
        history: list[str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            ot = self.object_type(object_type)
            rec = self._record(ot, record_id)
            if rec.merged_into is not None:
                rec = ot.records[rec.merged_into]  # HubSpot resolves merged ids to the survivor
            if rec.archived != archived:
                raise _not_found(f"{ot.singular} {record_id} not found", ids=[str(record_id)])
            return self._wire(ot, rec, ot.resolve_properties(properties), history)

    def _versions_at(
        self, ot: ObjectType, at: float | None, lo: int | None = None, hi: int | None = None
    ) -> Iterator[RecordVersion]:
        """Live versions as the index saw them at ``at``, ids in ``[lo, hi)`` (None: unbounded)."""
        start = bisect.bisect_left(ot.ids, lo) if lo is not None else 0
        stop = bisect.bisect_left(ot.ids, hi) if hi is not None else len(ot.ids)
        for rid in ot.ids[start:stop]:
            rec = ot.records[rid]
            ver = rec if at is None else rec.version_at(at)
            if ver is not None and not ver.archived and ver.merged_into is None:
                yield ver

    def search(
        self,
        object_type: str,
        body: dict[str, Any],
        *,
        limit: int = 10,
        offset: int = 0,
        index_lag_s: float = 0.0,
    ) -> dict[str, Any]:
        """CRM search over the index as it was ``index_lag_s`` seconds ago."""
        with self.lock:
            ot = self.object_type(object_type)
            props_in = body.get("properties")
            if props_in is not None and not isinstance(props_in, list):
                raise _bad("properties must be a list of property names")
            props = ot.resolve_properties(props_in or None)
            at = self.clock() - index_lag_s if index_lag_s and index_lag_s > 0 else None
            lo, hi = id_bounds(body.get("filterGroups"))
            matches = run_search(ot, self._versions_at(ot, at, lo, hi), body)
            page = matches[offset : offset + limit]
            out: dict[str, Any] = {"total": len(matches), "results": [ot.wire(v, props) for v in page]}
            if offset + limit < len(matches):
                nxt = str(offset + limit)
                out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
            return out

    def batch_read(
        self,
        object_type: str,
        ids: list[str],
        *,
        properties: list[str] | None = None,
        archived: bool = False,
        history: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Found records (input order, de-duplicated) and the ids that were not found."""
        with self.lock:
            ot = self.object_type(object_type)
            props = ot.resolve_properties(properties)
            found, missing, seen = [], [], set()
            for raw in ids:
                key = str(raw)
                if key in seen:
                    continue
                seen.add(key)
                rec = ot.records.get(int(key)) if key.isdigit() else None
                if rec is None or rec.merged_into is not None or rec.archived != archived:
                    missing.append(key)
                else:
                    found.append(self._wire(ot, rec, props, history))
            return found, missing

    def list_properties(self, object_type: str, *, archived: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            ot = self.object_type(object_type)
            return [dict(p) for p in ot.properties.values() if bool(p.get("archived")) == archived]

    def _schema(self, ot: ObjectType) -> dict[str, Any]:
        associations = []
        for (f, t), defs in sorted(self.labels.items()):
            if ot.object_type_id not in (f, t):
                continue
            for d in sorted(defs.values(), key=lambda d: d.type_id):
                if d.category != "HUBSPOT_DEFINED" or d.label is not None:
                    continue
                associations.append(
                    {
                        "id": str(d.type_id),
                        "fromObjectTypeId": f,
                        "toObjectTypeId": t,
                        "name": f"{self.types[f].name}_to_{self.types[t].name}".upper(),
                        "createdAt": iso_ms(ot.created_at),
                        "updatedAt": iso_ms(ot.updated_at),
                    }
                )
        return {
            "id": ot.object_type_id.split("-", 1)[1],
            "objectTypeId": ot.object_type_id,
            "name": ot.name,
            "fullyQualifiedName": ot.fully_qualified_name,
            "labels": {"singular": ot.singular, "plural": ot.plural},
            "description": ot.description,
            "primaryDisplayProperty": ot.primary_display_property,
            "secondaryDisplayProperties": list(ot.secondary_display_properties),
            "requiredProperties": list(ot.required_properties),
            "searchableProperties": list(ot.searchable_properties),
            "properties": [dict(p) for p in ot.properties.values() if not p.get("archived")],
            "associations": associations,
            "metaType": "PORTAL_SPECIFIC",
            "archived": False,
            "allowsSensitiveProperties": False,
            "createdAt": iso_ms(ot.created_at),
            "updatedAt": iso_ms(ot.updated_at),
        }

    def list_schemas(self) -> list[dict[str, Any]]:
        """Custom object schemas only (as HubSpot's schemas endpoint)."""
        with self.lock:
            return [self._schema(ot) for ot in self.types.values() if ot.is_custom]

    def get_schema(self, object_type: str) -> dict[str, Any]:
        with self.lock:
            ot = self.object_type(object_type)
            if not ot.is_custom:
                raise _not_found(f"Unable to find a custom object schema for {object_type}")
            return self._schema(ot)

    def list_pipelines(self, object_type: str, *, archived: bool = False) -> list[dict[str, Any]]:
        """Active pipelines with active stages; ``archived=True`` returns everything,
        archived pipelines/stages flagged with ``archived: true`` and ``archivedAt``."""
        with self.lock:
            ot = self.object_type(object_type)
            out = []
            for pipe in self.pipelines.get(ot.object_type_id, []):
                if pipe["archived"] and not archived:
                    continue
                copy = dict(pipe)
                copy["stages"] = [dict(s) for s in pipe["stages"] if archived or not s["archived"]]
                out.append(copy)
            return out

    def list_owners(
        self,
        *,
        limit: int = 100,
        after_id: int | None = None,
        archived: bool = False,
        email: str | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page of owners (id ascending); ``archived=True`` lists only archived owners."""
        with self.lock:
            out: list[dict[str, Any]] = []
            for owner in self.owners:
                oid = int(owner["id"])
                if after_id is not None and oid < after_id:
                    continue
                if owner["archived"] != archived:
                    continue
                if email is not None and (owner.get("email") or "").lower() != email.lower():
                    continue
                if len(out) == limit:
                    return out, oid
                out.append(dict(owner))
            return out, None

    def association_labels(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        with self.lock:
            f = self.object_type(from_type).object_type_id
            t = self.object_type(to_type).object_type_id
            self.default_label(f, t)
            defs = sorted(self.labels.get((f, t), {}).values(), key=lambda d: d.type_id)
            return [d.wire() for d in defs]

    def association_batch_read(
        self, from_type: str, to_type: str, inputs: list[dict[str, Any]], *, page_size: int = 500
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """v4 batch read: per input at most ``page_size`` targets (``toObjectId`` ascending)
        with a per-input ``paging.next.after``. Inputs without associations are omitted.
        Returns (results, missing from-ids). Links to archived/merged records are hidden."""
        from ._util import decode_id_cursor

        with self.lock:
            fot, tot = self.object_type(from_type), self.object_type(to_type)
            f, t = fot.object_type_id, tot.object_type_id
            fmap = self.assoc.get((f, t), {})
            results, missing, seen = [], [], set()
            for item in inputs:
                key = str(item.get("id", ""))
                after = item.get("after")
                if (key, after) in seen:
                    continue
                seen.add((key, after))
                rec = fot.records.get(int(key)) if key.isdigit() else None
                if rec is None or not rec.visible:
                    missing.append(key)
                    continue
                start = 0
                if after:
                    try:
                        start = decode_id_cursor(str(after))
                    except ValueError as exc:
                        raise _bad(f"Invalid after cursor for id {key}: {after!r}") from exc
                targets = fmap.get(rec.id, {})
                to_ids = sorted(
                    tid
                    for tid in targets
                    if tid >= start and (r := tot.records.get(tid)) is not None and r.visible
                )
                if not to_ids:
                    continue
                page, rest = to_ids[:page_size], to_ids[page_size:]
                entry: dict[str, Any] = {
                    "from": {"id": key},
                    "to": [
                        {
                            "toObjectId": str(tid),  # a string in the v4 and 2026-09 specs
                            "associationTypes": [self._label_wire(f, t, x) for x in targets[tid]],
                        }
                        for tid in page
                    ],
                }
                if rest:
                    cursor = encode_cursor(rest[0])
                    entry["paging"] = {"next": {"after": cursor, "link": None}}
                results.append(entry)
            return results, missing
