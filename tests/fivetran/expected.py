"""The Fivetran HubSpot schema as ``fivetran/dbt_hubspot`` reads it: every table, column and type.

Transcribed from the facts file (``fivetran-schema.md``, the package's column macros, v1.7.2).
Types are families: ``id`` (bigint: every ``id`` / ``*_id`` except pipeline and stage ids),
``int`` (bigint too: counts and orders), ``text``, ``ts`` (timestamp), ``bool``, ``float``
(double or numeric) and ``number`` (a HubSpot number property: the macros say integer, HubSpot
amounts carry decimals, so numeric, double or bigint).
"""

from __future__ import annotations

FAMILIES: dict[str, frozenset[str]] = {
    "id": frozenset({"bigint"}),
    "int": frozenset({"bigint"}),
    "text": frozenset({"text"}),
    "ts": frozenset({"timestamp"}),
    "bool": frozenset({"boolean"}),
    "float": frozenset({"double", "numeric"}),
    "number": frozenset({"numeric", "double", "bigint"}),
}

_ENGAGEMENT = (
    "_fivetran_synced ts, _fivetran_deleted bool, engagement_id id, type text, property_hs_createdate ts, "
    "property_hs_timestamp ts, property_hubspot_owner_id id, property_hubspot_team_id id"
)
_HISTORY = "_fivetran_synced ts, {o}_id id, name text, source text, source_id text, timestamp ts, value text"

_SPEC = {
    "deal": "_fivetran_synced ts, _fivetran_deleted bool, deal_id id, deal_pipeline_id text, "
    "deal_pipeline_stage_id text, is_deleted bool, owner_id id, portal_id id, property_dealname text, "
    "property_description text, property_amount number, property_closedate ts, property_createdate ts",
    "company": "_fivetran_synced ts, _fivetran_deleted bool, id id, is_deleted bool, property_name text, "
    "property_description text, property_createdate ts, property_industry text, property_address text, "
    "property_address_2 text, property_city text, property_state text, property_country text, "
    "property_annualrevenue number",
    "contact": "_fivetran_deleted bool, _fivetran_synced ts, id id, property_hs_merged_object_ids text, "
    "property_email text, property_company text, property_firstname text, property_lastname text, "
    "property_createdate ts, property_jobtitle text, property_annualrevenue number",
    "owner": "_fivetran_synced ts, active_user_id id, created_at ts, email text, first_name text, "
    "last_name text, owner_id id, portal_id id, type text, updated_at ts",
    "deal_pipeline": "_fivetran_deleted bool, _fivetran_synced ts, active bool, display_order int, label text, "
    "pipeline_id text, created_at ts, updated_at ts",
    "deal_pipeline_stage": "_fivetran_deleted bool, _fivetran_synced ts, active bool, closed_won bool, "
    "is_closed bool, display_order int, label text, pipeline_id text, probability float, stage_id text, "
    "created_at ts, updated_at ts",
    "deal_company": "_fivetran_synced ts, deal_id id, company_id id, type_id int, category text",
    "deal_contact": "_fivetran_synced ts, deal_id id, contact_id id, type_id int, category text",
    "deal_stage": "_fivetran_active bool, _fivetran_end ts, _fivetran_start ts, _fivetran_synced ts, "
    "date_entered ts, deal_id id, source text, source_id text, value text",
    "deal_property_history": _HISTORY.format(o="deal"),
    "company_property_history": _HISTORY.format(o="company"),
    "contact_property_history": _HISTORY.format(o="contact"),
    "engagement": "_fivetran_synced ts, id id, portal_id id, type text",
    "engagement_call": _ENGAGEMENT,
    "engagement_email": _ENGAGEMENT,
    "engagement_meeting": _ENGAGEMENT,
    "engagement_note": _ENGAGEMENT + ", body text",
    "engagement_task": _ENGAGEMENT,
    "engagement_communication": _ENGAGEMENT,
    "engagement_deal": "_fivetran_synced ts, deal_id id, engagement_id id, category text",
    "engagement_contact": "_fivetran_synced ts, contact_id id, engagement_id id, category text",
    "engagement_company": "_fivetran_synced ts, company_id id, engagement_id id, category text",
    "owner_team": "_fivetran_synced ts, _fivetran_deleted bool, owner_id id, team_id id, is_team_primary bool",
    "team": "_fivetran_synced ts, _fivetran_deleted bool, id id, name text",
    "team_user": "_fivetran_synced ts, _fivetran_deleted bool, team_id id, user_id id, is_secondary_user bool",
    "users": "_fivetran_synced ts, _fivetran_deleted bool, id text, primary_team_id id, role_id id, email text, "
    "first_name text, last_name text",
    "role": "_fivetran_synced ts, _fivetran_deleted bool, id id, name text, requires_billing_write bool",
    "property": "_fivetran_id text, _fivetran_synced ts, calculated bool, created_at ts, description text, "
    "field_type text, group_name text, hubspot_defined bool, hubspot_object text, label text, name text, "
    "show_currency_symbol bool, type text, updated_at ts",
    "property_option": "label text, property_id text, _fivetran_synced ts, display_order int, hidden bool, "
    "value text, hubspot_object text, name text",
    "merged_deal": "_fivetran_synced ts, deal_id id, merged_deal_id id",
}
#: On every table besides its own columns (the issue: "on every table").
EVERY_TABLE = {"_fivetran_synced": "ts", "_fivetran_deleted": "bool", "is_deleted": "bool"}


def _parse(spec: str) -> dict[str, str]:
    columns = {}
    for item in spec.split(","):
        name, family = item.split()
        assert family in FAMILIES, (name, family)
        columns[name] = family
    return columns


#: table -> column -> family
TABLES: dict[str, dict[str, str]] = {t: {**_parse(spec), **EVERY_TABLE} for t, spec in _SPEC.items()}

#: The keys the package tests ``not_null`` on, per table.
NOT_NULL: dict[str, tuple[str, ...]] = {
    "deal": ("deal_id",),
    "company": ("id",),
    "contact": ("id",),
    "owner": ("owner_id",),
    "deal_pipeline": ("pipeline_id",),
    "deal_pipeline_stage": ("stage_id", "pipeline_id"),
    "deal_company": ("deal_id", "company_id"),
    "deal_contact": ("deal_id", "contact_id"),
    "deal_stage": ("deal_id", "value", "_fivetran_start", "_fivetran_end"),
    "deal_property_history": ("deal_id", "name", "timestamp"),
    "company_property_history": ("company_id", "name", "timestamp"),
    "contact_property_history": ("contact_id", "name", "timestamp"),
    "engagement": ("id", "type"),
    **{
        f"engagement_{t}": ("engagement_id", "type", "_fivetran_deleted")
        for t in ("call", "email", "meeting", "note", "task", "communication")
    },
    "engagement_deal": ("engagement_id", "deal_id"),
    "engagement_contact": ("engagement_id", "contact_id"),
    "engagement_company": ("engagement_id", "company_id"),
    "owner_team": ("owner_id", "team_id"),
    "team": ("id",),
    "team_user": ("team_id", "user_id"),
    "users": ("id",),
    "merged_deal": ("deal_id", "merged_deal_id"),
    "property": ("_fivetran_id", "name", "hubspot_object"),
    "property_option": ("property_id", "value"),
}
