"""HubSpot's other standard object families, as the sandbox models them.

Engagements (calls, emails, meetings, notes, tasks, communications), commerce (products,
line items, quotes, invoices), leads, goals (HubSpot's ``goal_targets``) and the
object-library objects (services, appointments, courses, listings) that exist in a portal
only once it activated them. Each entry has the same keys as ``catalog.STANDARD_OBJECTS``
plus ``properties`` (standard property definitions), ``aliases`` (other names HubSpot
resolves in paths) and ``library`` (an object-library object).

Association type ids are HubSpot's published HUBSPOT_DEFINED ids where known; the few that
are not published are marked ``# assumed`` and listed in docs/sandbox.md.
"""

from __future__ import annotations

from typing import Any

SCOPE_ENGAGEMENTS = "crm.objects.contacts.read"  # HubSpot reads every engagement with it
SCOPE_PRODUCTS = ("crm.objects.products.read", "e-commerce")  # either one grants products
SCOPE_LINE_ITEMS = ("crm.objects.line_items.read", "e-commerce")
SCOPE_QUOTES = "crm.objects.quotes.read"
SCOPE_INVOICES = "crm.objects.invoices.read"
SCOPE_LEADS = "crm.objects.leads.read"
SCOPE_GOALS = "crm.objects.goals.read"
SCOPE_SERVICES = "crm.objects.services.read"
SCOPE_APPOINTMENTS = "crm.objects.appointments.read"
SCOPE_COURSES = "crm.objects.courses.read"
SCOPE_LISTINGS = "crm.objects.listings.read"

FAMILY_SCOPES: list[str] = [
    "crm.objects.products.read",
    "e-commerce",
    "crm.objects.line_items.read",
    SCOPE_QUOTES,
    SCOPE_INVOICES,
    SCOPE_LEADS,
    SCOPE_GOALS,
    SCOPE_SERVICES,
    SCOPE_APPOINTMENTS,
    SCOPE_COURSES,
    SCOPE_LISTINGS,
]


def _opts(*values: str | tuple[str, str]) -> list[dict[str, Any]]:
    out = []
    for i, v in enumerate(values):
        value, label = v if isinstance(v, tuple) else (v, v.replace("_", " ").title())
        out.append({"label": label, "value": value, "hidden": False, "displayOrder": i, "description": ""})
    return out


def _p(name: str, label: str, ptype: str, field_type: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "type": ptype, "fieldType": field_type, **extra}


def _text(name: str, label: str, multi: bool = False, **extra: Any) -> dict[str, Any]:
    return _p(name, label, "string", "textarea" if multi else "text", **extra)


def _num(name: str, label: str, **extra: Any) -> dict[str, Any]:
    return _p(name, label, "number", "number", **extra)


def _dt(name: str, label: str, **extra: Any) -> dict[str, Any]:
    return _p(name, label, "datetime", "date", **extra)


def _enum(name: str, label: str, *options: str | tuple[str, str], field: str = "select") -> dict[str, Any]:
    return _p(name, label, "enumeration", field, options=_opts(*options))


def _engagement_common(group: str) -> list[dict[str, Any]]:
    return [
        _dt("hs_timestamp", "Activity date", groupName=group),
        _p(
            "hubspot_team_id",
            "HubSpot Team",
            "enumeration",
            "select",
            externalOptions=True,
            groupName=group,
        ),
        _text("hs_body_preview", "Body preview", True, groupName=group),
        _num("hs_attachment_ids", "Attachment IDs", groupName=group),
    ]


CALL_DISPOSITIONS = (
    ("f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected"),
    ("73a0d17f-1163-4015-bdd5-ec830791da20", "No answer"),
    ("b2cf5968-551e-4856-9783-52b3da59a7d0", "Left voicemail"),
    ("a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "Left live message"),
    ("9d9162e7-6cf3-4944-bf63-4dff82258764", "Busy"),
    ("17b47fee-58de-441e-a44c-c6300d46f273", "Wrong number"),
)

# (from, to) -> (typeId from->to, typeId to->from), HUBSPOT_DEFINED and unlabeled
FAMILY_ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int]] = {
    ("calls", "contacts"): (194, 193),
    ("calls", "companies"): (182, 181),
    ("calls", "deals"): (206, 205),
    ("calls", "tickets"): (220, 219),
    ("emails", "contacts"): (198, 197),
    ("emails", "companies"): (186, 185),
    ("emails", "deals"): (210, 209),
    ("emails", "tickets"): (224, 223),
    ("meetings", "contacts"): (200, 199),
    ("meetings", "companies"): (188, 187),
    ("meetings", "deals"): (212, 211),
    ("meetings", "tickets"): (226, 225),
    ("notes", "contacts"): (202, 201),
    ("notes", "companies"): (190, 189),
    ("notes", "deals"): (214, 213),
    ("notes", "tickets"): (228, 227),
    ("tasks", "contacts"): (204, 203),
    ("tasks", "companies"): (192, 191),
    ("tasks", "deals"): (216, 215),
    ("tasks", "tickets"): (230, 229),
    ("communications", "contacts"): (81, 82),
    ("communications", "companies"): (87, 88),
    ("communications", "deals"): (85, 86),
    ("communications", "tickets"): (83, 84),
    ("line_items", "deals"): (20, 19),
    ("line_items", "quotes"): (68, 67),
    ("line_items", "invoices"): (410, 409),
    ("quotes", "deals"): (64, 63),
    ("quotes", "contacts"): (69, 70),
    ("quotes", "companies"): (71, 72),
    ("invoices", "deals"): (175, 176),
    ("invoices", "contacts"): (177, 178),
    ("invoices", "companies"): (179, 180),
    ("invoices", "quotes"): (407, 408),
    ("leads", "contacts"): (608, 607),  # 607 assumed (HubSpot publishes lead_to_contact 608)
    ("leads", "companies"): (610, 609),  # 609 assumed
    ("services", "contacts"): (798, 799),
    ("services", "companies"): (792, 793),
    ("services", "deals"): (794, 795),
    ("services", "tickets"): (796, 797),
    ("appointments", "contacts"): (966, 907),
    ("appointments", "companies"): (908, 909),
    ("appointments", "deals"): (944, 945),
    ("appointments", "tickets"): (946, 947),
    ("courses", "contacts"): (860, 861),
    ("courses", "companies"): (938, 939),
    ("courses", "deals"): (862, 863),
    ("courses", "tickets"): (940, 941),
    ("listings", "contacts"): (882, 883),
    ("listings", "companies"): (884, 885),
    ("listings", "deals"): (886, 887),
    ("listings", "tickets"): (942, 943),
}

#: HubSpot-defined *labelled* pairs: (from, to, typeId, inverseTypeId, label, inverseLabel)
FAMILY_LABELLED_TYPES: list[tuple[str, str, int, int, str, str]] = [
    ("leads", "contacts", 578, 577, "Primary", "Primary"),  # 577 assumed
]


def _engagement(
    type_id: str, singular: str, plural: str, props: list[dict[str, Any]], searchable: list[str]
) -> dict[str, Any]:
    group = f"{singular.lower()}information"
    return {
        "objectTypeId": type_id,
        "singular": singular,
        "plural": plural,
        "scope": SCOPE_ENGAGEMENTS,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": [],
        "primaryDisplayProperty": searchable[0] if searchable else "hs_timestamp",
        "searchable": searchable,
        "properties": _engagement_common(group) + props,
    }


FAMILIES: dict[str, dict[str, Any]] = {
    "calls": _engagement(
        "0-48",
        "Call",
        "Calls",
        [
            _text("hs_call_title", "Call Title"),
            _text("hs_call_body", "Call notes", True),
            _num("hs_call_duration", "Call duration (ms)", numberDisplayHint="duration"),
            _enum("hs_call_direction", "Call direction", ("INBOUND", "Inbound"), ("OUTBOUND", "Outbound")),
            _enum("hs_call_disposition", "Call outcome", *CALL_DISPOSITIONS),
            _enum(
                "hs_call_status",
                "Call status",
                "BUSY",
                "CALLING_CRM_USER",
                "CANCELED",
                "COMPLETED",
                "CONNECTING",
                "FAILED",
                "IN_PROGRESS",
                "NO_ANSWER",
                "QUEUED",
                "RINGING",
            ),
            _text("hs_call_from_number", "From number"),
            _text("hs_call_to_number", "To number"),
        ],
        ["hs_call_title", "hs_call_body"],
    ),
    "emails": _engagement(
        "0-49",
        "Email",
        "Emails",
        [
            _text("hs_email_subject", "Email subject"),
            _text("hs_email_text", "Email body", True),
            _enum(
                "hs_email_direction",
                "Email direction",
                ("EMAIL", "Email sent from CRM"),
                ("INCOMING_EMAIL", "Incoming email"),
                ("FORWARDED_EMAIL", "Forwarded email"),
            ),
            _enum(
                "hs_email_status", "Email send status", "BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"
            ),
            _text("hs_email_from_email", "From email"),
            _text("hs_email_to_email", "To email"),
        ],
        ["hs_email_subject", "hs_email_text"],
    ),
    "meetings": _engagement(
        "0-47",
        "Meeting",
        "Meetings",
        [
            _text("hs_meeting_title", "Meeting name"),
            _text("hs_meeting_body", "Meeting description", True),
            _text("hs_internal_meeting_notes", "Internal notes", True),
            _dt("hs_meeting_start_time", "Start time"),
            _dt("hs_meeting_end_time", "End time"),
            _enum(
                "hs_meeting_outcome",
                "Meeting outcome",
                "SCHEDULED",
                "COMPLETED",
                "RESCHEDULED",
                ("NO_SHOW", "No show"),
                ("CANCELED", "Canceled"),
            ),
            _text("hs_meeting_location", "Location"),
        ],
        ["hs_meeting_title", "hs_meeting_body"],
    ),
    "notes": _engagement(
        "0-46", "Note", "Notes", [_text("hs_note_body", "Note body", True)], ["hs_note_body"]
    ),
    "tasks": _engagement(
        "0-27",
        "Task",
        "Tasks",
        [
            _text("hs_task_subject", "Task title"),
            _text("hs_task_body", "Task notes", True),
            _enum(
                "hs_task_status",
                "Task status",
                "NOT_STARTED",
                "IN_PROGRESS",
                "WAITING",
                "COMPLETED",
                "DEFERRED",
            ),
            _enum("hs_task_priority", "Priority", "NONE", "LOW", "MEDIUM", "HIGH"),
            _enum("hs_task_type", "Task type", ("TODO", "To-do"), "CALL", "EMAIL", ("LINKED_IN", "LinkedIn")),
            _dt("hs_task_completion_date", "Completed at"),
        ],
        ["hs_task_subject", "hs_task_body"],
    ),
    "communications": _engagement(
        "0-18",
        "Communication",
        "Communications",
        [
            _enum(
                "hs_communication_channel_type",
                "Channel type",
                ("SMS", "SMS"),
                ("WHATS_APP", "WhatsApp"),
                ("LINKEDIN_MESSAGE", "LinkedIn"),
                ("PHYSICAL_MAIL", "Postal mail"),
                ("CUSTOM_CHANNEL_CONVERSATION", "Custom channel"),
            ),
            _enum("hs_communication_logged_from", "Logged from", ("CRM", "CRM")),
            _text("hs_communication_body", "Communication body", True),
        ],
        ["hs_communication_body"],
    ),
    "products": {
        "objectTypeId": "0-7",
        "singular": "Product",
        "plural": "Products",
        "scope": SCOPE_PRODUCTS,
        "createdProperty": "createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["name", "description", "price"],
        "primaryDisplayProperty": "name",
        "searchable": ["name", "hs_sku", "description"],
        "properties": [
            _text("name", "Name"),
            _text("description", "Description", True),
            _num("price", "Unit price", numberDisplayHint="currency", showCurrencySymbol=True),
            _text("hs_sku", "SKU"),
            _num("hs_cost_of_goods_sold", "Unit cost", numberDisplayHint="currency"),
            _enum(
                "hs_product_type",
                "Product type",
                ("inventory", "Inventory"),
                ("non_inventory", "Non-inventory"),
                ("service", "Service"),
            ),
            _enum(
                "recurringbillingfrequency",
                "Billing frequency",
                "weekly",
                "biweekly",
                "monthly",
                "quarterly",
                "per_six_months",
                "annually",
            ),
            _text("hs_recurring_billing_period", "Term"),
        ],
    },
    "line_items": {
        "objectTypeId": "0-8",
        "singular": "Line Item",
        "plural": "Line Items",
        "scope": SCOPE_LINE_ITEMS,
        "createdProperty": "createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["name", "quantity", "price", "amount", "hs_product_id"],
        "primaryDisplayProperty": "name",
        "searchable": ["name", "hs_sku"],
        "aliases": ["line_item", "lineitem", "lineitems"],
        "properties": [
            _text("name", "Name"),
            _text("description", "Description", True),
            _num("quantity", "Quantity"),
            _num("price", "Unit price", numberDisplayHint="currency"),
            _num("amount", "Net price", numberDisplayHint="currency", calculated=True),
            _num("discount", "Unit discount", numberDisplayHint="currency"),
            _num("hs_discount_percentage", "Discount percentage", numberDisplayHint="percentage"),
            _num("hs_product_id", "Product ID"),
            _text("hs_sku", "SKU"),
            _enum("recurringbillingfrequency", "Billing frequency", "monthly", "quarterly", "annually"),
            _p("hs_recurring_billing_start_date", "Billing start date", "date", "date"),
            _num("hs_position_on_quote", "Position on quote"),
        ],
    },
    "quotes": {
        "objectTypeId": "0-14",
        "singular": "Quote",
        "plural": "Quotes",
        "scope": SCOPE_QUOTES,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["hs_title", "hs_expiration_date", "hs_status", "hs_public_url_key"],
        "primaryDisplayProperty": "hs_title",
        "searchable": ["hs_title"],
        "properties": [
            _text("hs_title", "Quote name"),
            _dt("hs_expiration_date", "Expiration date"),
            _enum(
                "hs_status",
                "Quote approval status",
                "DRAFT",
                "APPROVAL_NOT_NEEDED",
                "PENDING_APPROVAL",
                "APPROVED",
                "REJECTED",
            ),
            _num("hs_quote_amount", "Quote amount", numberDisplayHint="currency", calculated=True),
            _text("hs_currency", "Currency"),
            _text("hs_public_url_key", "Public URL key"),
            _text("hs_language", "Language"),
            _text("hs_sender_email", "Sender email"),
        ],
    },
    "invoices": {
        "objectTypeId": "0-53",
        "singular": "Invoice",
        "plural": "Invoices",
        "scope": SCOPE_INVOICES,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": [],
        "primaryDisplayProperty": "hs_number",
        "searchable": ["hs_number"],
        "properties": [
            _text("hs_number", "Invoice number"),
            _enum("hs_invoice_status", "Invoice status", "draft", "open", "paid", "voided"),
            _num("hs_amount_billed", "Amount billed", numberDisplayHint="currency", calculated=True),
            _num("hs_balance_due", "Balance due", numberDisplayHint="currency", calculated=True),
            _text("hs_currency", "Currency"),
            _dt("hs_invoice_date", "Invoice date"),
            _dt("hs_due_date", "Due date"),
        ],
    },
    "leads": {
        "objectTypeId": "0-136",
        "singular": "Lead",
        "plural": "Leads",
        "scope": SCOPE_LEADS,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": [],
        "primaryDisplayProperty": "hs_lead_name",
        "searchable": ["hs_lead_name"],
        "properties": [
            _text("hs_lead_name", "Lead name"),
            _enum("hs_pipeline", "Pipeline"),
            _enum("hs_pipeline_stage", "Lead stage", field="radio"),
            _enum(
                "hs_lead_type",
                "Lead type",
                ("NEW_BUSINESS", "New business"),
                ("UPSELL", "Upsell"),
                ("RE_ATTEMPTING", "Re-attempting"),
            ),
            _enum("hs_lead_label", "Lead label", ("HOT", "Hot"), ("WARM", "Warm"), ("COLD", "Cold")),
        ],
    },
    "goal_targets": {
        "objectTypeId": "0-74",
        "singular": "Goal target",
        "plural": "Goal targets",
        "scope": SCOPE_GOALS,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": [],
        "primaryDisplayProperty": "hs_goal_name",
        "searchable": ["hs_goal_name"],
        "aliases": ["goals", "goal", "goal_target"],
        "properties": [
            _text("hs_goal_name", "Goal name"),
            _num("hs_target_amount", "Target", numberDisplayHint="currency"),
            _dt("hs_start_datetime", "Start date"),
            _dt("hs_end_datetime", "End date"),
            _enum(
                "hs_goal_type",
                "Goal type",
                ("revenue", "Revenue"),
                ("deals_created", "Deals created"),
                ("calls_made", "Calls made"),
                ("meetings_booked", "Meetings booked"),
            ),
            _enum(
                "hs_status",
                "Status",
                ("in_progress", "In progress"),
                ("achieved", "Achieved"),
                ("missed", "Missed"),
            ),
        ],
    },
    "services": {
        "objectTypeId": "0-162",
        "singular": "Service",
        "plural": "Services",
        "scope": SCOPE_SERVICES,
        "library": True,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["hs_name"],
        "primaryDisplayProperty": "hs_name",
        "searchable": ["hs_name"],
        "properties": [
            _text("hs_name", "Name"),
            _text("hs_description", "Description", True),
            _enum(
                "hs_category",
                "Category",
                ("consulting", "Consulting"),
                ("implementation", "Implementation"),
                ("support", "Support"),
            ),
            _dt("hs_start_date", "Start date"),
            _num("hs_amount", "Amount", numberDisplayHint="currency"),
        ],
    },
    "appointments": {
        "objectTypeId": "0-421",
        "singular": "Appointment",
        "plural": "Appointments",
        "scope": SCOPE_APPOINTMENTS,
        "library": True,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["hs_appointment_name"],
        "primaryDisplayProperty": "hs_appointment_name",
        "searchable": ["hs_appointment_name"],
        "properties": [
            _text("hs_appointment_name", "Appointment name"),
            _dt("hs_appointment_start", "Start"),
            _dt("hs_appointment_end", "End"),
            _enum(
                "hs_appointment_status",
                "Status",
                ("scheduled", "Scheduled"),
                ("completed", "Completed"),
                ("canceled", "Canceled"),
            ),
        ],
    },
    "courses": {
        "objectTypeId": "0-410",
        "singular": "Course",
        "plural": "Courses",
        "scope": SCOPE_COURSES,
        "library": True,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["hs_course_name"],
        "primaryDisplayProperty": "hs_course_name",
        "searchable": ["hs_course_name"],
        "properties": [
            _text("hs_course_name", "Course name"),
            _text("hs_course_description", "Description", True),
            _dt("hs_start_date", "Start date"),
            _num("hs_enrollment_capacity", "Capacity"),
        ],
    },
    "listings": {
        "objectTypeId": "0-420",
        "singular": "Listing",
        "plural": "Listings",
        "scope": SCOPE_LISTINGS,
        "library": True,
        "createdProperty": "hs_createdate",
        "modifiedProperty": "hs_lastmodifieddate",
        "defaultProperties": ["hs_name"],
        "primaryDisplayProperty": "hs_name",
        "searchable": ["hs_name", "hs_address_1", "hs_city"],
        "properties": [
            _text("hs_name", "Listing name"),
            _num("hs_price", "Price", numberDisplayHint="currency"),
            _text("hs_address_1", "Address"),
            _text("hs_city", "City"),
            _num("hs_bedrooms", "Bedrooms"),
            _num("hs_bathrooms", "Bathrooms"),
            _enum(
                "hs_listing_type",
                "Listing type",
                ("house", "House"),
                ("apartment", "Apartment"),
                ("townhouse", "Townhouse"),
                ("land", "Land"),
            ),
        ],
    },
}

LIBRARY_OBJECTS: tuple[str, ...] = tuple(n for n, s in FAMILIES.items() if s.get("library"))
ENGAGEMENTS: tuple[str, ...] = ("calls", "emails", "meetings", "notes", "tasks", "communications")

LEAD_PIPELINES: list[dict[str, Any]] = [
    {
        "id": "lead-pipeline-id",
        "label": "Lead pipeline",
        "displayOrder": 0,
        "createdAt": 0,
        "stages": [
            {"id": "new-stage-id", "label": "New", "displayOrder": 0, "metadata": {"isClosed": "false"}},
            {
                "id": "attempting-stage-id",
                "label": "Attempting",
                "displayOrder": 1,
                "metadata": {"isClosed": "false"},
            },
            {
                "id": "connected-stage-id",
                "label": "Connected",
                "displayOrder": 2,
                "metadata": {"isClosed": "false"},
            },
            {
                "id": "qualified-stage-id",
                "label": "Qualified",
                "displayOrder": 3,
                "metadata": {"isClosed": "true"},
            },
            {
                "id": "unqualified-stage-id",
                "label": "Disqualified",
                "displayOrder": 4,
                "metadata": {"isClosed": "true"},
            },
        ],
    }
]
