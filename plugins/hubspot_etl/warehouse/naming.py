"""Dialect-neutral naming: HubSpot object/property names -> warehouse table/column names.

Rules (identical for every warehouse; only ``max_bytes`` and the allowed character set differ):

* Table names: ``table_name_for_object("contacts") == "contact"``; custom objects lose their
  ``p<portal id>_`` prefix (``p123_meters`` -> ``meters``) and are otherwise kept as they are.
  Association tables are ``<from>_<to>`` and pipeline tables ``<object>_pipeline`` /
  ``<object>_pipeline_stage``.
* Column names come from :class:`ColumnMapper`. A column name is lower case, uses only the
  allowed characters, never starts with a digit or ``_`` (``_`` is the prefix of system columns),
  is never ``id`` or ``merged_into_id``, and fits in ``max_bytes`` UTF-8 bytes. Names that had to
  be truncated, or that would collide, get a short stable hash suffix. A mapping that was
  recorded before always wins, so a column never changes its name and a new property never takes
  over a column that belongs to another property.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping

#: Columns every object table has besides the property columns. ``id`` and ``merged_into_id``
#: are the only ones not starting with ``_``.
RESERVED_COLUMNS: frozenset[str] = frozenset({"id", "merged_into_id"})

POSTGRES_MAX_IDENTIFIER_BYTES = 63
BIGQUERY_MAX_COLUMN_CHARS = 300

_PORTAL_PREFIX = re.compile(r"^p\d+_")
_HASH_LEN = 8

#: HubSpot plural object names -> singular table names (standard objects).
_STANDARD_OBJECTS: dict[str, str] = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
    "services": "service",
    "products": "product",
    "line_items": "line_item",
    "quotes": "quote",
    "calls": "call",
    "emails": "email",
    "meetings": "meeting",
    "notes": "note",
    "tasks": "task",
    "communications": "communication",
    "postal_mail": "postal_mail",
    "feedback_submissions": "feedback_submission",
    "invoices": "invoice",
    "marketing_events": "marketing_event",
    "subscriptions": "subscription",
    "goals": "goal",
    "goal_targets": "goal_target",
    "discounts": "discount",
    "fees": "fee",
    "taxes": "tax",
    "payments": "payment",
    "users": "user",
    "orders": "order",
    "leads": "lead",
    "carts": "cart",
    "courses": "course",
    "listings": "listing",
    "appointments": "appointment",
    "projects": "project",
}


def short_hash(text: str, length: int = _HASH_LEN) -> str:
    """Stable lowercase hex digest prefix of ``text`` (SHA-1, not for security)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _truncate_bytes(text: str, max_bytes: int) -> str:
    """Cut ``text`` so that its UTF-8 encoding fits ``max_bytes`` without splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def _fold(name: str, allow_upper: bool) -> str:
    """Unicode -> closest ASCII (accents dropped), lower-cased unless ``allow_upper``."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return ascii_text if allow_upper else ascii_text.lower()


def sanitize_identifier(
    name: str,
    max_bytes: int = POSTGRES_MAX_IDENTIFIER_BYTES,
    *,
    allowed: str = "a-z0-9_",
    lowercase: bool = True,
    prefix: str = "p_",
) -> str:
    """Turn any string into a safe identifier (without collision handling).

    Characters outside ``allowed`` (a regex character-class body) become ``_``; runs of ``_`` are
    collapsed and edge underscores stripped. A name that would start with a digit or ``_`` (or is
    empty after cleaning, e.g. all-CJK) gets ``prefix``; an empty name becomes ``prefix + hash``.
    Longer-than-``max_bytes`` names are truncated and suffixed with ``_<hash of the original>``, so
    two long names sharing a prefix stay distinct.
    """
    folded = _fold(name, allow_upper=not lowercase)
    cleaned = re.sub(f"[^{allowed}]+", "_", folded)
    cleaned = re.sub(r"_+", "_", cleaned).strip("_")
    if not cleaned:
        cleaned = f"{prefix}{short_hash(name)}"
    elif cleaned[0].isdigit():
        cleaned = f"{prefix}{cleaned}"
    if len(cleaned.encode("utf-8")) > max_bytes:
        suffix = f"_{short_hash(name)}"
        cleaned = _truncate_bytes(cleaned, max_bytes - len(suffix)).rstrip("_") + suffix
    return cleaned


def table_name_for_object(name: str, max_bytes: int = POSTGRES_MAX_IDENTIFIER_BYTES) -> str:
    """Singular snake-case table name for a HubSpot object name (``contacts`` -> ``contact``).

    Custom objects (``p123_meters``) lose the portal prefix and keep their name (``meters``).
    Object type ids such as ``2-1001`` must be resolved to names by the caller.
    """
    lowered = name.strip().lower()
    if lowered in _STANDARD_OBJECTS:
        return _STANDARD_OBJECTS[lowered]
    stripped = _PORTAL_PREFIX.sub("", lowered)
    return sanitize_identifier(stripped, max_bytes, prefix="o_")


def association_table_name(
    from_object: str, to_object: str, max_bytes: int = POSTGRES_MAX_IDENTIFIER_BYTES
) -> str:
    """``contacts``, ``companies`` -> ``contact_company``."""
    joined = f"{table_name_for_object(from_object)}_{table_name_for_object(to_object)}"
    return sanitize_identifier(joined, max_bytes)


def pipeline_table_names(object_name: str, max_bytes: int = POSTGRES_MAX_IDENTIFIER_BYTES) -> tuple[str, str]:
    """``deals`` -> (``deal_pipeline``, ``deal_pipeline_stage``)."""
    base = table_name_for_object(object_name)
    return (
        sanitize_identifier(f"{base}_pipeline", max_bytes),
        sanitize_identifier(f"{base}_pipeline_stage", max_bytes),
    )


class ColumnMapper:
    """Stable property-name -> column-name mapping for one object table.

    ``existing`` is the mapping recorded by earlier runs; it is never changed. New names are
    assigned by :meth:`assign` (deterministically: the result depends only on ``existing`` and the
    *set* of new names, not on their order).
    """

    def __init__(
        self,
        existing: Mapping[str, str] | None = None,
        *,
        max_bytes: int = POSTGRES_MAX_IDENTIFIER_BYTES,
        allowed: str = "a-z0-9_",
        lowercase: bool = True,
        reserved: Iterable[str] = RESERVED_COLUMNS,
    ) -> None:
        self.max_bytes = max_bytes
        self.allowed = allowed
        self.lowercase = lowercase
        self._reserved = {self._key(r) for r in reserved}
        self._mapping: dict[str, str] = dict(existing or {})
        self._taken: set[str] = {self._key(c) for c in self._mapping.values()}

    @property
    def mapping(self) -> dict[str, str]:
        """A copy of the full mapping (recorded + newly assigned)."""
        return dict(self._mapping)

    def _key(self, column: str) -> str:
        """Collision key: identifiers are compared case-insensitively (BigQuery semantics)."""
        return column.lower()

    def _is_free(self, column: str) -> bool:
        key = self._key(column)
        return key not in self._taken and key not in self._reserved and not column.startswith("_")

    def _sanitize(self, name: str) -> str:
        return sanitize_identifier(name, self.max_bytes, allowed=self.allowed, lowercase=self.lowercase)

    def _with_suffix(self, base: str, name: str, attempt: int) -> str:
        token = name if attempt == 0 else f"{name}\x00{attempt}"
        suffix = f"_{short_hash(token)}"
        return _truncate_bytes(base, self.max_bytes - len(suffix)).rstrip("_") + suffix

    def _take(self, name: str, column: str) -> str:
        self._mapping[name] = column
        self._taken.add(self._key(column))
        return column

    def _place(self, name: str) -> str:
        base = self._sanitize(name)
        if self._is_free(base):
            return self._take(name, base)
        attempt = 0
        while True:
            candidate = self._with_suffix(base, name, attempt)
            if self._is_free(candidate):
                return self._take(name, candidate)
            attempt += 1

    def assign(self, names: Iterable[str]) -> dict[str, str]:
        """Map every name (existing ones unchanged) and return ``{name: column}`` for ``names``.

        New names whose sanitized form equals the name itself are placed first, so ``foo`` gets
        ``foo`` and ``Foo`` gets a hashed variant, whatever order they arrive in.
        """
        wanted = list(dict.fromkeys(names))
        new = sorted(n for n in wanted if n not in self._mapping)
        exact = [n for n in new if self._sanitize(n) == n]
        for name in exact + [n for n in new if n not in exact]:
            self._place(name)
        return {n: self._mapping[n] for n in wanted}
