"""The HubSpot CRM read endpoints, one method per call shape.

Metadata (properties, schemas, pipelines, owners, association labels, object types), one list
page, batch read by id (with or without property history), search (one page, raw paging,
counts) and association batch reads.
Paging here only follows ``paging.next.after``; the strategies built on top live in
:mod:`~hubspot_etl.hooks.object_listing` (full listings) and
:mod:`~hubspot_etl.hooks.search_windows` (modified-since reads past search's 10,000 cap).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hubspot_etl.hooks.errors import HubSpotObjectTypeError, HubSpotScopeError, HubSpotSearchCapError
from hubspot_etl.hooks.log import logger
from hubspot_etl.hooks.object_types import standard_object_type
from hubspot_etl.hooks.paths import build_path
from hubspot_etl.hooks.stats import HubSpotStats
from hubspot_etl.hooks.transport import HubSpotTransport

SEARCH_CAP = 10_000
LIST_PAGE_MAX = 100
SEARCH_PAGE_MAX = 200
BATCH_READ_MAX = 100
#: inputs per batch read with ``propertiesWithHistory`` (HubSpot answers 400 above it)
HISTORY_BATCH_MAX = 50
#: the ``stats.calls`` key of batch reads with history (the path is that of ``objects.batch_read``)
HISTORY_ENDPOINT = "objects.batch_read_history"
ASSOCIATION_BATCH_MAX = 1000
ACCOUNT_DETAILS_PATH = "/account-info/v3/details"


class BatchReadResult(list):
    """List of records returned by :meth:`CrmEndpoints.batch_read` plus what was not found.

    :ivar missing: requested ids (strings) that HubSpot did not return (207 errors or silent omission).
    :ivar errors: raw ``errors`` entries of 207 responses.
    """

    def __init__(self, records: Iterable[dict] = ()) -> None:
        super().__init__(records)
        self.missing: list[str] = []
        self.errors: list[dict] = []


class PropertyHistory(list):
    """Rows returned by :meth:`CrmEndpoints.batch_read_history` (see :func:`history_rows`).

    :ivar records: records HubSpot returned.
    :ivar missing: requested ids (strings) it did not return.
    """

    def __init__(self, rows: Iterable[dict] = ()) -> None:
        super().__init__(rows)
        self.records = 0
        self.missing: list[str] = []


def history_rows(record: dict) -> list[dict[str, Any]]:
    """The ``propertiesWithHistory`` of one record as rows, one per entry (every write).

    ``value`` is text (None stays None), ``timestamp`` HubSpot's ISO-8601 text,
    ``updated_by_user_id`` an int; absent ``sourceId``, ``sourceLabel`` or ``updatedByUserId``
    are None. An entry without a timestamp names no write and is dropped.
    """
    object_id = int(str(record["id"]))
    rows = []
    for prop, entries in (record.get("propertiesWithHistory") or {}).items():
        for entry in entries or []:
            if not entry.get("timestamp"):
                continue
            value = entry.get("value")
            user = entry.get("updatedByUserId")
            rows.append(
                {
                    "object_id": object_id,
                    "property": str(prop),
                    "value": None if value is None else str(value),
                    "timestamp": str(entry["timestamp"]),
                    "source_type": entry.get("sourceType"),
                    "source_id": entry.get("sourceId"),
                    "source_label": entry.get("sourceLabel"),
                    "updated_by_user_id": int(str(user)) if user not in (None, "") else None,
                }
            )
    return rows


def next_after(data: dict) -> str | None:
    """The ``paging.next.after`` cursor of a response, None on the last page."""
    after = ((data.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def unique(values: Iterable[Any]) -> list[str]:
    """``values`` as strings, first occurrence kept, order kept."""
    return list(dict.fromkeys(str(v) for v in values))


def page_limit(page_size: int, maximum: int) -> int:
    """``page_size`` clamped to what the endpoint accepts (1 .. ``maximum``)."""
    return max(1, min(int(page_size), maximum))


class CrmEndpoints:
    """The CRM read calls of one hook; every request goes through ``transport``."""

    def __init__(self, transport: HubSpotTransport, stats: HubSpotStats) -> None:
        self._transport = transport
        self._stats = stats
        self._schemas_cache: list[dict] | None = None

    def path(self, endpoint: str, **params: str) -> str:
        """URL path of a logical endpoint in the configured API version."""
        return build_path(self._transport.settings.api_version, endpoint, **params)

    # ------------------------------------------------------------------ metadata
    def get_properties(self, object_type: str, archived: bool = False) -> list[dict]:
        """All property definitions of ``object_type`` (no paging on this endpoint)."""
        path = self.path("properties", object_type=object_type)
        data = self._transport.request("properties", "GET", path, params={"archived": archived})
        return data.get("results", [])

    def get_schemas(self, archived: bool = False) -> list[dict]:
        """Custom object schemas."""
        path = self.path("schemas")
        data = self._transport.request("schemas", "GET", path, params={"archived": archived})
        return data.get("results", [])

    def get_pipelines(self, object_type: str) -> list[dict]:
        """Every pipeline and stage of ``object_type`` that HubSpot has or had, with ``archived``.

        Two calls: the default listing (active pipelines, active stages) and ``archived=true``
        (archived ones; HubSpot's spec reads "whether to return only results that have been
        archived", some portals return everything). Their union, by pipeline and stage id, takes
        the archived listing's version of anything listed twice, which carries the flags and
        ``archivedAt``.
        """
        path = self.path("pipelines", object_type=object_type)
        active = self._transport.request("pipelines", "GET", path).get("results", [])
        archived = self._transport.request("pipelines", "GET", path, params={"archived": True})
        return _union_pipelines(active, archived.get("results", []))

    def iter_owners(self, archived: bool = False, page_size: int = 100) -> Iterator[list[dict]]:
        """Owners, one list per page."""
        path = self.path("owners")
        after: str | None = None
        while True:
            params = {"limit": page_size, "archived": archived, "after": after}
            data = self._transport.request("owners", "GET", path, params=params)
            yield data.get("results", [])
            after = next_after(data)
            if not after:
                return

    def get_portal_id(self) -> int:
        """The portal (HubSpot account) id: ``portalId`` of ``GET /account-info/v3/details``.

        The same path under every API version; counted in ``stats.calls`` as ``account.details``.
        Raises ``ValueError`` when the answer carries no positive integer ``portalId``.
        """
        data = self._transport.request("account.details", "GET", ACCOUNT_DETAILS_PATH)
        value = data.get("portalId") if isinstance(data, dict) else None
        text = str(value).strip()
        if isinstance(value, bool) or not text.isascii() or not text.isdigit() or int(text) <= 0:
            raise ValueError(f"account-info details carry no portal id (portalId={value!r})")
        return int(text)

    def get_association_labels(self, from_type: str, to_type: str) -> list[dict]:
        """Association type definitions (``category``, ``typeId``, ``label``) for a pair of types."""
        path = self.path("associations.labels", from_type=from_type, to_type=to_type)
        return self._transport.request("associations.labels", "GET", path).get("results", [])

    def resolve_object_type(self, name_or_id: str) -> dict:
        """Resolve a standard or custom object type, never ambiguously.

        Returns ``{"name", "object_type_id", "fully_qualified_name", "custom"}``. ``0-N`` ids
        resolve from the fixed standard table without a call; a custom ``fullyQualifiedName``
        (``p123_meters``) or objectTypeId (``2-1001``) from the custom-object schemas (fetched
        once per hook). A bare name is looked up in both: one that names a custom object and a
        standard one (HubSpot's object library adds Services, Courses, Listings and
        Appointments to portals that may already have a custom object of that name) raises,
        naming both ids. A custom object whose name is a standard name is named by its
        ``fullyQualifiedName``, so its tables never collide with the standard object's. If the
        token may not read schemas (403), the standard table alone decides.
        """
        wanted = str(name_or_id).strip()
        standard = standard_object_type(wanted)
        if standard and wanted.startswith("0-"):
            return standard
        matches = [schema for schema in self._custom_schemas() if _schema_matches(schema, wanted)]
        if matches:
            schema = matches[0]
            custom = {
                "name": schema.get("name"),
                "object_type_id": schema.get("objectTypeId") or schema.get("id"),
                "fully_qualified_name": schema.get("fullyQualifiedName"),
                "custom": True,
            }
            by_name_only = wanted.lower() == str(schema.get("name") or "").lower()
            if standard and by_name_only:
                raise HubSpotObjectTypeError(
                    f"object type {wanted!r} is ambiguous: it names the custom object "
                    f"{custom['object_type_id']} ({custom['fully_qualified_name']}) and HubSpot's "
                    f"{standard['name']} object {standard['object_type_id']}; set object_type to "
                    f"{custom['fully_qualified_name']!r} or {custom['object_type_id']!r} for the custom "
                    f"object, or {standard['object_type_id']!r} for HubSpot's"
                )
            if standard_object_type(str(custom["name"])) and custom["fully_qualified_name"]:
                custom["name"] = custom["fully_qualified_name"]  # its own tables, never the standard's
            return custom
        if standard:
            return standard
        raise HubSpotObjectTypeError(f"unknown object type {name_or_id!r} (not standard, no custom schema)")

    def _custom_schemas(self) -> list[dict]:
        if self._schemas_cache is None:
            try:
                self._schemas_cache = self.get_schemas()
            except HubSpotScopeError:
                logger.warning(
                    "HubSpot schemas: token cannot read custom object schemas; standard types only"
                )
                self._schemas_cache = []
        return self._schemas_cache

    # ------------------------------------------------------------------ objects
    def list_page(
        self, path: str, props: Sequence[str], page_size: int, archived: bool, after: str | None
    ) -> dict:
        """One page of the list endpoint at ``path``, ``props`` in the URL."""
        params = {"limit": page_size, "archived": archived, "after": after}
        if props:
            params["properties"] = ",".join(props)
        return self._transport.request("objects.list", "GET", path, params=params)

    def batch_read(
        self,
        object_type: str,
        ids: Iterable[str | int],
        properties: Sequence[str] | None = None,
        archived: bool = False,
    ) -> BatchReadResult:
        """Read records by id (chunks of 100, properties in the JSON body).

        Returns a :class:`BatchReadResult` (a ``list`` of records) whose ``missing`` attribute lists
        the requested ids HubSpot did not return (207 partial results) and ``errors`` the raw
        error entries; ``stats.batch_missing_ids`` counts them too.
        """
        wanted = unique(ids)
        props = unique(properties or [])
        path = self.path("objects.batch_read", object_type=object_type)
        result = BatchReadResult()
        for chunk in _chunked(wanted, BATCH_READ_MAX):
            body = {"inputs": [{"id": i} for i in chunk], "properties": props}
            params = {"archived": archived}
            data = self._transport.request("objects.batch_read", "POST", path, params=params, body=body)
            records = data.get("results", [])
            result.extend(records)
            result.errors.extend(data.get("errors") or [])
            returned = {str(r.get("id")) for r in records}
            result.missing.extend(i for i in chunk if i not in returned)
        if result.missing:
            self._stats.add("batch_missing_ids", len(result.missing))
        return result

    def batch_read_history(
        self,
        object_type: str,
        ids: Iterable[str | int],
        properties: Sequence[str],
        batch_size: int = HISTORY_BATCH_MAX,
        archived: bool = False,
    ) -> PropertyHistory:
        """The history of ``properties`` of the records ``ids``, one row per write.

        Batch reads with ``propertiesWithHistory`` in the JSON body, at most 50 inputs each
        (HubSpot's limit for requests with history); counted in ``stats.calls`` as
        ``objects.batch_read_history``. Each row is ``{"object_id", "property", "value",
        "timestamp", "source_type", "source_id", "source_label", "updated_by_user_id"}``
        (:func:`history_rows`). ``archived=True`` reads archived records (HubSpot keeps their
        history). Ids HubSpot does not return (deleted, or restored, meanwhile) are listed in
        ``missing`` and counted in ``stats.batch_missing_ids``.
        """
        wanted = unique(ids)
        props = unique(properties)
        result = PropertyHistory()
        if not wanted or not props:
            return result
        path = self.path("objects.batch_read", object_type=object_type)
        for chunk in _chunked(wanted, page_limit(batch_size, HISTORY_BATCH_MAX)):
            body = {
                "inputs": [{"id": i} for i in chunk],
                "properties": ["hs_object_id"],
                "propertiesWithHistory": props,
            }
            params = {"archived": archived}
            data = self._transport.request(HISTORY_ENDPOINT, "POST", path, params=params, body=body)
            records = data.get("results", [])
            for record in records:
                result.extend(history_rows(record))
            returned = {str(r.get("id")) for r in records}
            result.records += len(returned)
            result.missing.extend(i for i in chunk if i not in returned)
        if result.missing:
            self._stats.add("batch_missing_ids", len(result.missing))
        return result

    # ------------------------------------------------------------------ search
    def search_page(
        self,
        object_type: str,
        filter_groups: list[dict] | None,
        properties: Sequence[str] | None,
        sorts: list[dict] | None,
        limit: int,
        after: str | int | None = None,
        query: str | None = None,
    ) -> dict:
        """One search request (``after`` is search's result offset; 0 or empty: the first page)."""
        body: dict[str, Any] = {
            "filterGroups": filter_groups or [],
            "sorts": sorts or [],
            "properties": unique(properties or []),
            "limit": page_limit(limit, SEARCH_PAGE_MAX),
        }
        if after not in (None, "", 0, "0"):
            body["after"] = str(after)
        if query:
            body["query"] = query
        path = self.path("objects.search", object_type=object_type)
        return self._transport.request("objects.search", "POST", path, body=body)

    def search(
        self,
        object_type: str,
        filter_groups: list[dict] | None = None,
        properties: Sequence[str] | None = None,
        sorts: list[dict] | None = None,
        page_size: int = 200,
        query: str | None = None,
    ) -> Iterator[list[dict]]:
        """Raw search paging (offset ``after``), one list per page.

        HubSpot refuses offsets beyond 10,000; instead of letting results silently end, this raises
        :class:`HubSpotSearchCapError` when more pages would be needed. Use ``iter_modified``
        for complete incremental reads.
        """
        limit = page_limit(page_size, SEARCH_PAGE_MAX)
        after: str | None = None
        while True:
            data = self.search_page(object_type, filter_groups, properties, sorts, limit, after, query)
            yield data.get("results", [])
            after = next_after(data)
            if not after:
                return
            if int(after) + limit > SEARCH_CAP:
                raise HubSpotSearchCapError(
                    f"search matched {data.get('total')} records; paging past 10,000 is impossible "
                    "(use iter_modified or narrower filters)",
                    endpoint="objects.search",
                )

    def count(self, object_type: str, filter_groups: list[dict] | None = None) -> int:
        """How many live records match (one ``limit=1`` search; search's ``total``)."""
        data = self.search_page(object_type, filter_groups, ["hs_object_id"], None, 1, None, None)
        return int(data.get("total") or 0)

    def id_span(self, object_type: str) -> tuple[int, int | None]:
        """``(live records, highest live id)`` from one search sorted by id, newest first.

        Search is eventually consistent: both figures may lag recent writes by seconds.
        """
        sorts = [{"propertyName": "hs_object_id", "direction": "DESCENDING"}]
        data = self.search_page(object_type, None, ["hs_object_id"], sorts, 1, None, None)
        results = data.get("results") or []
        top = int(results[0]["id"]) if results else None
        return int(data.get("total") or 0), top

    # ------------------------------------------------------------------ associations
    def iter_associations(
        self, from_type: str, to_type: str, ids: Iterable[str | int], batch_size: int = ASSOCIATION_BATCH_MAX
    ) -> Iterator[dict]:
        """Associations of ``ids`` via v4 batch read, following each input's ``paging.next.after``.

        Yields ``{"from_id": int, "to_id": int, "type_id": int, "category": str, "label": str | None}``
        (one row per association type). Unknown ids (207 errors) are tolerated and counted in
        ``stats.association_errors``.
        """
        path = self.path("associations.batch_read", from_type=from_type, to_type=to_type)
        size = page_limit(batch_size, ASSOCIATION_BATCH_MAX)
        for chunk in _chunked(unique(ids), size):
            pending: list[dict] = [{"id": i} for i in chunk]
            while pending:
                body = {"inputs": pending}
                data = self._transport.request("associations.batch_read", "POST", path, body=body)
                errors = data.get("errors") or []
                if errors:
                    self._stats.add("association_errors", int(data.get("numErrors") or len(errors)))
                pending = []
                for result in data.get("results", []):
                    from_id = int(str((result.get("from") or {}).get("id")))
                    yield from _association_rows(from_id, result.get("to") or [])
                    after = next_after(result)
                    if after:
                        pending.append({"id": str(from_id), "after": after})


def _chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _association_rows(from_id: int, targets: list[dict]) -> Iterator[dict]:
    for target in targets:
        to_id = int(str(target.get("toObjectId")))
        for assoc in target.get("associationTypes") or []:
            yield {
                "from_id": from_id,
                "to_id": to_id,
                "type_id": int(assoc.get("typeId")),
                "category": str(assoc.get("category")),
                "label": assoc.get("label"),
            }


def _union_pipelines(active: list[dict], archived: list[dict]) -> list[dict]:
    """Pipelines of both listings by id, stages by id; the archived listing wins a tie."""
    merged: dict[str, dict] = {}
    for pipeline in [*active, *archived]:
        key = str(pipeline["id"])
        stages = {str(s["id"]): s for s in (merged.get(key) or {}).get("stages") or []}
        stages.update((str(s["id"]), s) for s in pipeline.get("stages") or [])
        merged[key] = {**merged.get(key, {}), **pipeline, "stages": list(stages.values())}
    return list(merged.values())


def _schema_matches(schema: dict, wanted: str) -> bool:
    keys = (
        schema.get("name"),
        schema.get("fullyQualifiedName"),
        schema.get("objectTypeId"),
        schema.get("id"),
    )
    return wanted.lower() in {str(k).lower() for k in keys if k}
