"""Built-in HubSpot knowledge used by the sandbox: standard objects, their standard
properties, default pipelines, HubSpot-defined association types and OAuth scopes.

Fixtures only need to declare what differs from these defaults, so a hand-written portal
can be tiny. Values follow the fact sheet (/work/shared/research/hubspot-api.md).
"""

from __future__ import annotations

from typing import Any

from .families import FAMILIES, FAMILY_ASSOCIATION_TYPES, FAMILY_SCOPES, LEAD_PIPELINES

SCOPE_CONTACTS = "crm.objects.contacts.read"
SCOPE_COMPANIES = "crm.objects.companies.read"
SCOPE_DEALS = "crm.objects.deals.read"
SCOPE_TICKETS = "tickets"
SCOPE_CUSTOM = "crm.objects.custom.read"
SCOPE_SCHEMAS = "crm.schemas.custom.read"
SCOPE_OWNERS = "crm.objects.owners.read"

ALL_SCOPES: list[str] = [
    SCOPE_CONTACTS,
    SCOPE_COMPANIES,
    SCOPE_DEALS,
    SCOPE_TICKETS,
    SCOPE_CUSTOM,
    SCOPE_SCHEMAS,
    SCOPE_OWNERS,
    *FAMILY_SCOPES,
    "crm.export",
]

PROPERTY_TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
FIELD_TYPES = (
    "booleancheckbox",
    "calculation_equation",
    "checkbox",
    "date",
    "file",
    "html",
    "number",
    "phonenumber",
    "radio",
    "select",
    "text",
    "textarea",
)
DEFAULT_FIELD_TYPE = {
    "bool": "booleancheckbox",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "number": "number",
    "phone_number": "phonenumber",
    "string": "text",
}

# name -> (objectTypeId, singular label, plural label, scope, created prop, modified prop, defaults)
STANDARD_OBJECTS: dict[str, dict[str, Any]] = {
    "contacts": {
        "objectTypeId": "0-1",
        "singular": "Contact",
        "plural": "Contacts",
        "scope": SCOPE_CONTACTS,
        "createdProperty": "createdate",
        "modifiedProperty": "lastmodifieddate",
        "defaultProperties": ["firstname", "lastname", "email"],
        "primaryDisplayProperty": "email",
        "searchable": ["firstname", "lastname", "email", "phone", "company"],
    },
    "companies": {
        "objectTypeId": "0-2",
        "singular": "Company",
        "plural": "Companies",
        "scope": SCOPE_COMPANIES,
        "createdProperty": "createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["name", "domain"],
        "primaryDisplayProperty": "name",
        "searchable": ["name", "domain", "phone"],
    },
    "deals": {
        "objectTypeId": "0-3",
        "singular": "Deal",
        "plural": "Deals",
        "scope": SCOPE_DEALS,
        "createdProperty": "createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["dealname", "amount", "closedate", "pipeline", "dealstage"],
        "primaryDisplayProperty": "dealname",
        "searchable": ["dealname"],
    },
    "tickets": {
        "objectTypeId": "0-5",
        "singular": "Ticket",
        "plural": "Tickets",
        "scope": SCOPE_TICKETS,
        "createdProperty": "createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": [
            "content",
            "hs_pipeline",
            "hs_pipeline_stage",
            "hs_ticket_category",
            "hs_ticket_priority",
            "subject",
        ],
        "primaryDisplayProperty": "subject",
        "searchable": ["subject", "content"],
    },
}


def _opts(*values: str | tuple[str, str]) -> list[dict[str, Any]]:
    out = []
    for i, v in enumerate(values):
        value, label = v if isinstance(v, tuple) else (v, v.replace("_", " ").title())
        out.append({"label": label, "value": value, "hidden": False, "displayOrder": i, "description": ""})
    return out


def _p(name: str, label: str, ptype: str, field_type: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "label": label, "type": ptype}
    if field_type:
        spec["fieldType"] = field_type
    spec.update(extra)
    return spec


LIFECYCLE = _opts(
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)


def system_properties(created: str, modified: str) -> list[dict[str, Any]]:
    """Properties every object has (auto-defined when a fixture omits them)."""
    props = [
        _p("hs_object_id", "Record ID", "number", "number", readOnly=True),
        _p(created, "Create Date", "datetime", "date", readOnly=True),
        _p(modified, "Last Modified Date", "datetime", "date", readOnly=True),
        _p("hs_merged_object_ids", "Merged record IDs", "enumeration", "checkbox", readOnly=True),
        _p("hubspot_owner_id", "Owner", "enumeration", "select", externalOptions=True),
    ]
    if modified != "hs_lastmodifieddate":
        # contacts also carry hs_lastmodifieddate, but it is not the property search keys on
        props.append(_p("hs_lastmodifieddate", "Object last modified date/time", "datetime", "date"))
    return props


STANDARD_PROPERTIES: dict[str, list[dict[str, Any]]] = {
    "contacts": [
        _p("firstname", "First Name", "string", "text"),
        _p("lastname", "Last Name", "string", "text"),
        _p("email", "Email", "string", "text", hasUniqueValue=False),
        _p("phone", "Phone Number", "phone_number", "phonenumber"),
        _p("company", "Company Name", "string", "text"),
        _p("jobtitle", "Job Title", "string", "text"),
        _p("city", "City", "string", "text"),
        _p("country", "Country/Region", "string", "text"),
        _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE),
        _p(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "select",
            options=_opts(
                "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "CONNECTED", "BAD_TIMING"
            ),
        ),
        _p(
            "hs_buying_role",
            "Buying Role",
            "enumeration",
            "checkbox",
            options=_opts("BUDGET_HOLDER", "CHAMPION", "DECISION_MAKER", "END_USER", "INFLUENCER", "OTHER"),
        ),
        _p("date_of_birth", "Date of birth", "date", "date"),
        _p("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox"),
        _p("num_notes", "Number of Sales Activities", "number", "number"),
    ],
    "companies": [
        _p("name", "Company name", "string", "text"),
        _p("domain", "Company Domain Name", "string", "text"),
        _p(
            "industry",
            "Industry",
            "enumeration",
            "select",
            options=_opts(
                "COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE", "RETAIL", "EDUCATION"
            ),
        ),
        _p("numberofemployees", "Number of Employees", "number", "number"),
        _p("annualrevenue", "Annual Revenue", "number", "number"),
        _p("city", "City", "string", "text"),
        _p("country", "Country/Region", "string", "text"),
        _p("phone", "Phone Number", "phone_number", "phonenumber"),
        _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE),
        _p("is_public", "Is Public", "bool", "booleancheckbox"),
        _p("founded_year", "Year Founded", "string", "text"),
    ],
    "deals": [
        _p("dealname", "Deal Name", "string", "text"),
        _p("amount", "Amount", "number", "number"),
        _p("closedate", "Close Date", "datetime", "date"),
        _p("pipeline", "Pipeline", "enumeration", "select"),
        _p("dealstage", "Deal Stage", "enumeration", "radio"),
        _p(
            "dealtype",
            "Deal Type",
            "enumeration",
            "radio",
            options=_opts(("newbusiness", "New Business"), ("existingbusiness", "Existing Business")),
        ),
        _p("hs_priority", "Priority", "enumeration", "select", options=_opts("low", "medium", "high")),
        _p("description", "Deal Description", "string", "textarea"),
    ],
    "tickets": [
        _p("subject", "Ticket name", "string", "text"),
        _p("content", "Ticket description", "string", "textarea"),
        _p("hs_pipeline", "Pipeline", "enumeration", "select"),
        _p("hs_pipeline_stage", "Ticket status", "enumeration", "select"),
        _p(
            "hs_ticket_priority",
            "Priority",
            "enumeration",
            "select",
            options=_opts("LOW", "MEDIUM", "HIGH", "URGENT"),
        ),
        _p(
            "hs_ticket_category",
            "Category",
            "enumeration",
            "checkbox",
            options=_opts("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"),
        ),
        _p("closed_date", "Close date", "datetime", "date"),
    ],
}

# enumeration properties whose options come from the pipelines
PIPELINE_PROPERTIES = {
    "deals": ("pipeline", "dealstage"),
    "tickets": ("hs_pipeline", "hs_pipeline_stage"),
}


def _stage(sid: str, label: str, order: int, **metadata: str) -> dict[str, Any]:
    return {"id": sid, "label": label, "displayOrder": order, "metadata": metadata}


DEFAULT_PIPELINES: dict[str, list[dict[str, Any]]] = {
    "deals": [
        {
            "id": "default",
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "createdAt": 0,
            "stages": [
                _stage(
                    "appointmentscheduled", "Appointment Scheduled", 0, probability="0.2", isClosed="false"
                ),
                _stage("qualifiedtobuy", "Qualified To Buy", 1, probability="0.4", isClosed="false"),
                _stage(
                    "presentationscheduled", "Presentation Scheduled", 2, probability="0.6", isClosed="false"
                ),
                _stage(
                    "decisionmakerboughtin",
                    "Decision Maker Bought-In",
                    3,
                    probability="0.8",
                    isClosed="false",
                ),
                _stage("contractsent", "Contract Sent", 4, probability="0.9", isClosed="false"),
                _stage("closedwon", "Closed Won", 5, probability="1.0", isClosed="true"),
                _stage("closedlost", "Closed Lost", 6, probability="0.0", isClosed="true"),
            ],
        }
    ],
    "tickets": [
        {
            "id": "0",
            "label": "Support Pipeline",
            "displayOrder": 0,
            "createdAt": 0,
            "stages": [
                _stage("1", "New", 0, ticketState="OPEN"),
                _stage("2", "Waiting on contact", 1, ticketState="OPEN"),
                _stage("3", "Waiting on us", 2, ticketState="OPEN"),
                _stage("4", "Closed", 3, ticketState="CLOSED"),
            ],
        }
    ],
}

# (from, to) -> (typeId, inverseTypeId) for the unlabeled HUBSPOT_DEFINED association type
DEFAULT_ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int]] = {
    ("contacts", "companies"): (1, 2),
    ("deals", "contacts"): (3, 4),
    ("deals", "companies"): (5, 6),
    ("contacts", "tickets"): (15, 16),
    ("companies", "tickets"): (25, 26),
    ("deals", "tickets"): (27, 28),
}


# ---------------------------------------------------------------- families
# Engagements, commerce, leads, goals and the object-library objects (families.py) are
# standard objects too: same keys, their properties in STANDARD_PROPERTIES.
for _name, _spec in FAMILIES.items():
    STANDARD_OBJECTS[_name] = {k: v for k, v in _spec.items() if k != "properties"}
    STANDARD_PROPERTIES[_name] = _spec["properties"]
DEFAULT_ASSOCIATION_TYPES.update(FAMILY_ASSOCIATION_TYPES)
DEFAULT_PIPELINES["leads"] = LEAD_PIPELINES
PIPELINE_PROPERTIES["leads"] = ("hs_pipeline", "hs_pipeline_stage")
CLASSIC_OBJECTS: tuple[str, ...] = ("contacts", "companies", "deals", "tickets")
