"""CRM search semantics: filterGroups/filters/sorts/query compiled into Python predicates.

Implements the operators of the fact sheet §6 (EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN
HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN NOT_CONTAINS_TOKEN) with HubSpot's limits
(5 groups, 10 filters per group, 25 filters in total, one sort). Comparisons are typed by the
property definition: numbers numerically, datetimes/dates by epoch ms (filter values may be
ms-epoch strings or ISO strings), everything else case-insensitively as text.

HubSpot quirk reproduced on purpose: on **contacts**, a filter on ``hs_lastmodifieddate``
silently matches nothing — contacts must be filtered on ``lastmodifieddate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any

from ._util import DAY_MS, PortalError, parse_datetime_ms
from .model import ObjectType, RecordVersion

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS_TOTAL = 25
OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}

Predicate = Callable[[RecordVersion], bool]


def _bad(message: str) -> PortalError:
    return PortalError(400, "VALIDATION_ERROR", message)


def _converter(ptype: str, name: str) -> Callable[[Any], Any]:
    def convert(raw: Any) -> Any:
        if raw is None:
            raise _bad(f"Filter value for property {name} is missing")
        text = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)
        try:
            if ptype == "number":
                return float(text)
            if ptype == "datetime":
                return parse_datetime_ms(text)
            if ptype == "date":
                ms = parse_datetime_ms(text)
                return ms - ms % DAY_MS
        except ValueError as exc:
            raise _bad(f"Invalid value {text!r} for {ptype} property {name}") from exc
        return text.lower()

    return convert


def _parts(ot: ObjectType, rec: RecordVersion, name: str) -> set[str]:
    raw = ot.value(rec, name)
    if raw is None or raw == "":
        return set()
    return {p.lower() for p in raw.split(";")}


def _has(ot: ObjectType, name: str) -> Predicate:
    def has(rec: RecordVersion) -> bool:
        val = ot.value(rec, name)
        return val is not None and val != ""

    return has


def _tokens_match(ot: ObjectType, name: str, pattern: str) -> Predicate:
    pat = pattern.lower()

    def match(rec: RecordVersion) -> bool:
        raw = ot.value(rec, name)
        if not raw:
            return False
        words = raw.lower().replace("@", " ").replace(".", " ").split() + [raw.lower()]
        return any(fnmatchcase(w, pat) for w in words)

    return match


def _negate(pred: Predicate) -> Predicate:
    return lambda rec: not pred(rec)


def _compare(ot: ObjectType, name: str, op: str, bound: Any) -> Predicate:
    def cmp(rec: RecordVersion) -> bool:
        val = ot.typed_value(rec, name)
        if val is None:
            return False
        if op == "LT":
            return val < bound
        if op == "LTE":
            return val <= bound
        if op == "GT":
            return val > bound
        return val >= bound

    return cmp


def _equals(ot: ObjectType, name: str, multi: bool, wanted: set[Any]) -> Predicate:
    if multi:
        return lambda rec: not _parts(ot, rec, name).isdisjoint(wanted)
    return lambda rec: ot.typed_value(rec, name) in wanted


def compile_filter(ot: ObjectType, flt: Any, where: str) -> Predicate:
    """Compile one filter dict into a predicate. Raises PortalError(400)."""
    if not isinstance(flt, dict):
        raise _bad(f"{where}: a filter must be an object")
    name = flt.get("propertyName")
    op = str(flt.get("operator", "")).upper()
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}: propertyName is required")
    if op not in OPERATORS:
        raise _bad(f"{where}: unknown operator {flt.get('operator')!r}; expected one of {sorted(OPERATORS)}")
    prop = ot.properties.get(name)
    if prop is None:
        raise _bad(f"{where}: Property {name!r} does not exist on {ot.name}")
    if ot.name == "contacts" and name == "hs_lastmodifieddate":
        return lambda rec: False  # HubSpot: silently fails to return objects
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        pred = _has(ot, name)
        return pred if op == "HAS_PROPERTY" else _negate(pred)
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pred = _tokens_match(ot, name, str(flt.get("value", "")))
        return pred if op == "CONTAINS_TOKEN" else _negate(pred)
    ptype = "number" if name == "hs_object_id" else prop["type"]
    conv = _converter(ptype, name)
    multi = prop.get("fieldType") == "checkbox"
    if op in ("EQ", "NEQ"):
        pred = _equals(ot, name, multi, {conv(flt.get("value"))})
        return pred if op == "EQ" else _negate(pred)
    if op in ("IN", "NOT_IN"):
        values = flt.get("values")
        if not isinstance(values, list):
            raise _bad(f"{where}: operator {op} requires 'values' (a list)")
        pred = _equals(ot, name, multi, {conv(v) for v in values})
        return pred if op == "IN" else _negate(pred)
    if op == "BETWEEN":
        low, high = conv(flt.get("value")), conv(flt.get("highValue"))
        lo_pred, hi_pred = _compare(ot, name, "GTE", low), _compare(ot, name, "LTE", high)
        return lambda rec: lo_pred(rec) and hi_pred(rec)
    return _compare(ot, name, op, conv(flt.get("value")))


def compile_groups(ot: ObjectType, groups: Any) -> Predicate | None:
    """OR of groups, AND within a group. Returns None when there is nothing to filter."""
    if groups in (None, []):
        return None
    if not isinstance(groups, list):
        raise _bad("filterGroups must be a list")
    if len(groups) > MAX_GROUPS:
        raise _bad(f"Too many filterGroups: {len(groups)} (maximum {MAX_GROUPS})")
    compiled: list[list[Predicate]] = []
    total = 0
    for gi, group in enumerate(groups):
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise _bad(f"filterGroups[{gi}].filters must be a list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise _bad(
                f"Too many filters in filterGroups[{gi}]: {len(filters)} (maximum {MAX_FILTERS_PER_GROUP})"
            )
        total += len(filters)
        compiled.append(
            [compile_filter(ot, f, f"filterGroups[{gi}].filters[{fi}]") for fi, f in enumerate(filters)]
        )
    if total > MAX_FILTERS_TOTAL:
        raise _bad(f"Too many filters: {total} (maximum {MAX_FILTERS_TOTAL} across all filterGroups)")
    compiled = [g for g in compiled if g]
    if not compiled:
        return None
    return lambda rec: any(all(p(rec) for p in group) for group in compiled)


def query_predicate(ot: ObjectType, query: Any) -> Predicate | None:
    """Free-text ``query``: case-insensitive substring match on the searchable properties."""
    if query in (None, ""):
        return None
    if not isinstance(query, str):
        raise _bad("query must be a string")
    if len(query) > 3000:
        raise _bad("query must be at most 3000 characters")
    needle = query.lower()
    names = [n for n in (ot.searchable_properties or [ot.primary_display_property]) if n]

    def match(rec: RecordVersion) -> bool:
        for name in names:
            val = ot.value(rec, name)
            if val and needle in val.lower():
                return True
        return False

    return match


def parse_sort(ot: ObjectType, sorts: Any) -> tuple[str, bool] | None:
    """Return ``(propertyName, descending)`` or None for the default (id ascending)."""
    if sorts in (None, []):
        return None
    if not isinstance(sorts, list):
        raise _bad("sorts must be a list")
    if len(sorts) > 1:
        raise _bad("Only one sort is supported per search request")
    sort = sorts[0]
    if isinstance(sort, str):
        name, desc = (sort[1:], True) if sort.startswith("-") else (sort, False)
    elif isinstance(sort, dict):
        name = sort.get("propertyName")
        desc = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    else:
        raise _bad("sorts[0] must be an object {propertyName, direction}")
    if not isinstance(name, str) or name not in ot.properties:
        raise _bad(f"Cannot sort on unknown property {name!r}")
    return name, desc


def sort_versions(
    ot: ObjectType, versions: list[RecordVersion], sort: tuple[str, bool]
) -> list[RecordVersion]:
    """Sort by the property (nulls last), ties by id ascending (input is id-ascending)."""
    name, desc = sort
    if name == "hs_object_id":  # every record has one, and the input is in id order already
        return versions[::-1] if desc else versions
    keyed = [(ot.typed_value(v, name), v) for v in versions]
    present = [kv for kv in keyed if kv[0] is not None]
    missing = [kv[1] for kv in keyed if kv[0] is None]
    present.sort(key=lambda kv: kv[0], reverse=desc)
    return [v for _, v in present] + missing


def id_bounds(groups: Any) -> tuple[int | None, int | None]:
    """``[lo, hi)`` of record ids a single filter group's ``hs_object_id`` filters allow.

    Only narrows where the sandbox looks (the full predicate still decides every match), so
    an id-range search reads its range instead of scanning every record. Anything unusual
    (several groups, non-numeric values) gives ``(None, None)``: no narrowing.
    """
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        return None, None
    lo: int | None = None
    hi: int | None = None
    for flt in groups[0].get("filters") or []:
        if not isinstance(flt, dict) or flt.get("propertyName") != "hs_object_id":
            continue
        op = str(flt.get("operator", "")).upper()
        try:
            value = int(str(flt.get("value")))
        except ValueError:
            continue
        start = {"GTE": value, "GT": value + 1, "EQ": value}.get(op)
        stop = {"LT": value, "LTE": value + 1, "EQ": value + 1}.get(op)
        if start is not None:
            lo = start if lo is None else max(lo, start)
        if stop is not None:
            hi = stop if hi is None else min(hi, stop)
    return lo, hi


def run_search(
    ot: ObjectType,
    versions: Iterable[RecordVersion],
    body: dict[str, Any],
) -> list[RecordVersion]:
    """All matching record versions in result order (caller slices and renders)."""
    pred = compile_groups(ot, body.get("filterGroups"))
    qpred = query_predicate(ot, body.get("query"))
    sort = parse_sort(ot, body.get("sorts"))
    matches = [v for v in versions if (pred is None or pred(v)) and (qpred is None or qpred(v))]
    if sort is not None:
        matches = sort_versions(ot, matches, sort)
    return matches
