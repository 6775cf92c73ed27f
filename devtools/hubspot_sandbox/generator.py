"""Seeded synthetic portal generator (:func:`generate_portal`).

Same seed + sizes => identical portal. To scale to e.g. 100k contacts x 300 properties the
generator stores only compact record headers (id, createdAt, updatedAt, flags); property
values are computed on demand from ``(seed, object type, record id, property name)`` by a
fast integer hash (splitmix64) — a *lazy value source* plugged into each object type.
Mutations simply override the lazy value for that record.

What gets generated: owners (some archived, one QUEUE), the standard objects plus a custom
object ``services`` (``2-1001``, ``p<portalId>_services``), realistic values for every
property type (names, emails, domains, phone numbers, amounts, dates, datetimes, bools,
single and multi-select enumerations, owners, lifecycle stages, deal/ticket stages that
belong to the record's pipeline), ``extra_properties`` custom properties per object (mixed
types, some with names longer than 63 characters), associations (contacts<->companies,
deals<->companies, deals<->contacts, tickets<->contacts, tickets<->companies,
services<->contacts) incl. a USER_DEFINED label, ~2% archived records, a few merges and a
month-end batch where ~1% of records share one identical ``updatedAt``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from ._util import DAY_MS, date_str, iso_ms, parse_datetime_ms
from .catalog import DEFAULT_PIPELINES, LIFECYCLE
from .families import FAMILIES, FAMILY_LABELLED_TYPES, LEAD_PIPELINES, LIBRARY_OBJECTS
from .generator_families import (
    FamilyContext,
    GeneratedHistory,
    family_gens,
    pipeline_progression,
    progression,
    revisions,
    stage_order,
)
from .loader import load_portal
from .model import ObjectType, Record
from .portal import Portal

_M = (1 << 64) - 1
START_MS = parse_datetime_ms("2020-01-01T00:00:00Z")
END_MS = parse_datetime_ms("2025-06-01T00:00:00Z")
BATCH_MS = parse_datetime_ms("2025-03-31T23:59:59.000Z")
ID_BASES = {
    "contacts": 101,
    "companies": 3_000_000_001,
    "deals": 5_000_001,
    "tickets": 7_000_001,
    "services": 9_000_001,
    "calls": 11_000_001,
    "emails": 12_000_001,
    "meetings": 13_000_001,
    "notes": 14_000_001,
    "tasks": 15_000_001,
    "communications": 16_000_001,
    "products": 17_000_001,
    "line_items": 18_000_001,
    "quotes": 19_000_001,
    "invoices": 20_000_001,
    "leads": 21_000_001,
    "goal_targets": 22_000_001,
    "library:services": 23_000_001,
    "library:appointments": 24_000_001,
    "library:courses": 25_000_001,
    "library:listings": 26_000_001,
}
#: the object families' size keys of :func:`generate_portal` (the name HubSpot's API uses, but
#: ``goals`` for goal_targets); object-library objects are sized through ``object_library``
FAMILY_SIZE_KEYS: dict[str, str] = {
    "calls": "calls",
    "emails": "emails",
    "meetings": "meetings",
    "notes": "notes",
    "tasks": "tasks",
    "communications": "communications",
    "products": "products",
    "line_items": "line_items",
    "quotes": "quotes",
    "invoices": "invoices",
    "leads": "leads",
    "goals": "goal_targets",
}
#: sizes the demo may pass to ``generate_portal`` to have some of every family
DEMO_SIZES: dict[str, Any] = {
    "calls": 60,
    "emails": 80,
    "meetings": 30,
    "notes": 50,
    "tasks": 40,
    "communications": 20,
    "products": 12,
    "line_items": 90,
    "quotes": 25,
    "invoices": 20,
    "leads": 30,
    "goals": 8,
    "object_library": {"services": 10, "appointments": 10, "courses": 6, "listings": 8},
}
BILLING_LABEL = (501, 502)

FIRST = (
    "Alice Bob Carla Dmitri Elena Farid Grace Hiro Ines Jamal Kai Lena Mateo Nora Omar Priya Quinn Rosa "
    "Sven Tara Uma Victor Wen Ximena Yusuf Zoe Ahmed Bianca Chen Diego Emma Felix Gita Hugo Isla Jonas "
    "Keiko Liam Maya Nils Olga Pablo Rania Sami Tomas Ursula Vera Will Yara Zane"
).split()
LAST = (
    "Smith Garcia Müller Kowalski Nguyen Johansson Rossi Dubois Tanaka Okafor Silva Novak Ivanova Brown "
    "Khan Larsen Moreau Fischer Costa Ahmed Kim Lopez Schmidt Wilson O'Brien Patel Sato Jensen Weber Horvat "
    "Popescu Andersen Martin Yilmaz Mendes Kaur Cohen Ferreira Nakamura Hansen"
).split()
WORDS = (
    "Acme Globex Initech Umbrella Stark Wayne Wonka Hooli Vandelay Soylent Cyberdyne Tyrell Aperture Oscorp "
    "Gringotts Monarch Nakatomi Virtucon Duff Krusty Pied Piper Massive Dynamic Blue Sun Zorg Nimbus Orion "
    "Atlas Vertex Quantum Helix Summit Harbor Cedar Falcon Granite Lumen Nova Pioneer Redwood Sterling"
).split()
SUFFIX = ("Inc", "LLC", "GmbH", "Ltd", "Group", "Labs", "Systems", "Partners", "AG", "SA")
CITIES = (
    "Berlin Boston Lisbon Tokyo Lagos Austin Toronto Sydney Paris Dublin Madrid Seoul Oslo Prague Denver "
    "Chicago Nairobi Warsaw Zurich Mumbai"
).split()
COUNTRIES = (
    "Germany",
    "United States",
    "Portugal",
    "Japan",
    "Nigeria",
    "Canada",
    "Australia",
    "France",
    "Ireland",
    "Spain",
)
TITLES = (
    "CEO",
    "CTO",
    "VP Sales",
    "Data Engineer",
    "Marketing Manager",
    "Account Executive",
    "Analyst",
    "Founder",
)
PRODUCTS = ("Platform License", "Onboarding", "Support Plan", "Renewal", "Expansion", "Pilot", "Consulting")
MAIL_DOMAINS = ("example.com", "mail.test", "inbox.example", "corp.example")
EXTRA_TYPES = ("string", "number", "datetime", "date", "bool", "enumeration", "multi", "phone_number")


def _mix(x: int) -> int:
    """splitmix64 finaliser: fast, well-distributed 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M
    return x ^ (x >> 31)


def _salt(name: str) -> int:
    return _mix(zlib.crc32(name.encode()) * 0x100000001B3)


Gen = Callable[[int, int], str | None]


class LazyValues:
    """Deterministic value source for one object type: ``(record id, property) -> str | None``."""

    def __init__(self, seed: int, type_name: str) -> None:
        self.base = _mix((seed * 0x9E3779B97F4A7C15) ^ _salt(type_name))
        self.gens: dict[str, Gen] = {}
        self.salts: dict[str, int] = {}
        self._memo: dict[int, dict[str, str | None]] | None = None

    def remember(self) -> None:
        """Keep every value once computed (costs memory, saves CPU on repeated reads).

        Benchmarks turn this on so the simulator's value generation does not compete with the
        pipeline for the machine's cores; the values themselves do not change.
        """
        if self._memo is None:
            self._memo = {}

    def add(self, name: str, gen: Gen) -> None:
        self.gens[name] = gen
        self.salts[name] = _salt(name)

    def h(self, rid: int, name: str) -> int:
        return _mix(self.base ^ ((rid * 0xD1B54A32D192ED03) & _M) ^ self.salts.get(name, 0))

    def known(self, rid: int) -> dict[str, str | None]:
        """The values of ``rid`` computed so far (empty unless :meth:`remember` is on)."""
        memo = self._memo
        return (memo.get(rid) or {}) if memo is not None else {}

    def __call__(self, rid: int, name: str) -> str | None:
        memo = self._memo
        if memo is not None:
            known = memo.get(rid)
            if known is not None and name in known:
                return known[name]
        gen = self.gens.get(name)
        value = None if gen is None else gen(rid, self.h(rid, name))
        if memo is not None:
            memo.setdefault(rid, {})[name] = value
        return value


def _pick(seq: tuple[str, ...] | list[str], h: int) -> str:
    return seq[h % len(seq)]


def _nullable(pct: int, gen: Gen) -> Gen:
    """Wrap ``gen`` so that ``pct`` percent of records have no value."""

    def wrapped(rid: int, h: int) -> str | None:
        if (h >> 48) % 100 < pct:
            return None
        return gen(rid, h)

    return wrapped


class _Timeline:
    """Deterministic createdAt/updatedAt per record of one object type."""

    def __init__(self, seed: int, type_name: str, base: int, count: int) -> None:
        self.base = base
        self.step = max(1, (END_MS - START_MS) // max(1, count))
        self.salt = _mix(seed ^ _salt(type_name + "#time"))

    def created(self, rid: int) -> int:
        h = _mix(self.salt ^ rid)
        return START_MS + (rid - self.base) * self.step + h % self.step

    def updated(self, rid: int) -> int:
        created = self.created(rid)
        h = _mix(self.salt ^ (rid << 1) ^ 0xABCDEF)
        if h % 100 == 0 and BATCH_MS > created:
            return BATCH_MS  # month-end batch job: many records share one updatedAt
        return created + (h >> 8) % max(1, END_MS - created)


def _common_gens(values: LazyValues, owner_ids: list[str]) -> None:
    values.add(
        "hubspot_owner_id",
        _nullable(10, lambda rid, h: _pick(owner_ids, h)) if owner_ids else lambda r, h: None,
    )


def _enum_gen(options: list[str], multi: bool) -> Gen:
    def gen(rid: int, h: int) -> str:
        if not multi:
            return options[h % len(options)]
        chosen = [o for i, o in enumerate(options) if (h >> (i + 3)) & 1] or [options[h % len(options)]]
        return ";".join(chosen)

    return gen


def _date_gen(lo: int, hi: int) -> Gen:
    return lambda rid, h: date_str(lo + (h >> 5) % (hi - lo))


def _contact_gens(values: LazyValues, company_names: Callable[[int], str]) -> None:
    first = lambda rid, h: _pick(FIRST, h)  # noqa: E731
    last = lambda rid, h: _pick(LAST, h >> 7)  # noqa: E731
    values.add("firstname", first)
    values.add("lastname", last)

    def email(rid: int, h: int) -> str:
        f = values(rid, "firstname") or "x"
        lname = (values(rid, "lastname") or "y").replace("'", "").replace("ü", "u")
        return f"{f.lower()}.{lname.lower()}{rid}@{_pick(MAIL_DOMAINS, h)}"

    values.add("email", _nullable(3, email))
    values.add("phone", _nullable(20, lambda rid, h: f"+1 555-{h % 900 + 100:03d}-{(h >> 12) % 10000:04d}"))
    values.add("company", _nullable(15, lambda rid, h: company_names(h)))
    values.add("jobtitle", _nullable(30, lambda rid, h: _pick(TITLES, h)))
    values.add("city", _nullable(20, lambda rid, h: _pick(CITIES, h)))
    values.add("country", _nullable(20, lambda rid, h: _pick(COUNTRIES, h)))
    stages = [
        "subscriber",
        "lead",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "customer",
    ]
    values.add("lifecyclestage", _enum_gen(stages, False))
    lead = ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "CONNECTED", "BAD_TIMING"]
    values.add("hs_lead_status", _nullable(30, _enum_gen(lead, False)))
    roles = ["BUDGET_HOLDER", "CHAMPION", "DECISION_MAKER", "END_USER", "INFLUENCER", "OTHER"]
    values.add("hs_buying_role", _nullable(40, _enum_gen(roles, True)))
    values.add(
        "date_of_birth",
        _nullable(50, _date_gen(parse_datetime_ms("1950-01-01"), parse_datetime_ms("2004-01-01"))),
    )
    values.add("hs_email_optout", lambda rid, h: "true" if h % 10 == 0 else "false")
    values.add("num_notes", lambda rid, h: str(h % 40))


def _company_name(h: int) -> str:
    return f"{_pick(WORDS, h)} {_pick(WORDS, h >> 9)} {_pick(SUFFIX, h >> 17)}"


def _company_gens(values: LazyValues) -> None:
    values.add("name", lambda rid, h: _company_name(h))

    def domain(rid: int, h: int) -> str:
        name = values(rid, "name") or "company"
        slug = "".join(ch for ch in name.lower().rsplit(" ", 1)[0] if ch.isalnum())
        return f"{slug}{rid % 1000}.example.com"

    values.add("domain", _nullable(5, domain))
    industries = ["COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE", "RETAIL", "EDUCATION"]
    values.add("industry", _nullable(20, _enum_gen(industries, False)))
    values.add("numberofemployees", _nullable(10, lambda rid, h: str(1 + h % 5000)))
    values.add("annualrevenue", _nullable(30, lambda rid, h: str((h % 50_000_000) + 10_000)))
    values.add("city", _nullable(10, lambda rid, h: _pick(CITIES, h)))
    values.add("country", _nullable(10, lambda rid, h: _pick(COUNTRIES, h)))
    values.add("phone", _nullable(25, lambda rid, h: f"+49 30 {h % 9000000 + 1000000}"))
    values.add(
        "lifecyclestage", _enum_gen(["lead", "opportunity", "customer", "customer", "evangelist"], False)
    )
    values.add("is_public", lambda rid, h: "true" if h % 7 == 0 else "false")
    values.add("founded_year", _nullable(40, lambda rid, h: str(1950 + h % 74)))


def _stage_choices(pipelines: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (p["id"], [s for s in p["stages"] if not s.get("archived")])
        for p in pipelines
        if not p.get("archived")
    ]


def _deal_gens(values: LazyValues, timeline: _Timeline, pipelines: list[dict[str, Any]]) -> None:
    choices = _stage_choices(pipelines)
    values.add("dealname", lambda rid, h: f"{_pick(WORDS, h)} - {_pick(PRODUCTS, h >> 11)}")
    values.add("amount", _nullable(10, lambda rid, h: f"{(h % 20_000_000) / 100:.2f}"))
    values.add(
        "closedate", _nullable(20, lambda rid, h: iso_ms(timeline.created(rid) + (h >> 4) % (180 * DAY_MS)))
    )
    values.add("pipeline", lambda rid, h: choices[0 if h % 4 else (h >> 3) % len(choices)][0])

    def stage(rid: int, h: int) -> str:
        pipe = values(rid, "pipeline")
        stages = next(s for pid, s in choices if pid == pipe)
        return stages[h % len(stages)]["id"]

    values.add("dealstage", stage)
    values.add("dealtype", _nullable(30, _enum_gen(["newbusiness", "existingbusiness"], False)))
    values.add("hs_priority", _nullable(40, _enum_gen(["low", "medium", "high"], False)))
    values.add(
        "description",
        _nullable(60, lambda rid, h: f"Deal notes: {_pick(PRODUCTS, h)} for {_pick(CITIES, h >> 6)}"),
    )


def _ticket_gens(values: LazyValues, timeline: _Timeline, pipelines: list[dict[str, Any]]) -> None:
    choices = _stage_choices(pipelines)
    topics = (
        "Login fails",
        "Invoice question",
        "Export broken",
        "Feature idea",
        "Slow dashboard",
        "API 429s",
    )
    values.add("subject", lambda rid, h: f"{_pick(topics, h)} #{rid}")
    values.add(
        "content",
        _nullable(
            20,
            lambda rid,
            h: f"Customer reports: {_pick(topics, h).lower()} since {_pick(CITIES, h >> 5)} rollout.",
        ),
    )
    values.add("hs_pipeline", lambda rid, h: choices[0][0])

    def stage(rid: int, h: int) -> str:
        return choices[0][1][h % len(choices[0][1])]["id"]

    values.add("hs_pipeline_stage", stage)
    values.add("hs_ticket_priority", _nullable(10, _enum_gen(["LOW", "MEDIUM", "HIGH", "URGENT"], False)))
    cats = ["PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"]
    values.add("hs_ticket_category", _nullable(30, _enum_gen(cats, True)))

    def closed(rid: int, h: int) -> str | None:
        stage_id = values(rid, "hs_pipeline_stage")
        closed_ids = {s["id"] for s in choices[0][1] if s["metadata"].get("ticketState") == "CLOSED"}
        return iso_ms(timeline.created(rid) + h % (30 * DAY_MS)) if stage_id in closed_ids else None

    values.add("closed_date", closed)


def _service_gens(values: LazyValues) -> None:
    values.add("service_name", lambda rid, h: f"{_pick(PRODUCTS, h)} {_pick(WORDS, h >> 8)}")
    values.add("service_tier", _enum_gen(["basic", "standard", "premium"], False))
    values.add("monthly_fee", _nullable(10, lambda rid, h: str(49 + h % 2000)))
    values.add("start_date", _nullable(15, _date_gen(START_MS, END_MS)))
    values.add("is_active", lambda rid, h: "false" if h % 5 == 0 else "true")


def _extra_property(type_name: str, i: int) -> dict[str, Any]:
    kind = EXTRA_TYPES[i % len(EXTRA_TYPES)]
    name = f"sandbox_extra_{i:03d}_{kind}"
    if i % 10 == 9:
        name = f"sandbox_extra_{i:03d}_a_very_long_property_name_to_exercise_identifier_truncation_{kind}"
    ptype = {"multi": "enumeration"}.get(kind, kind)
    defn: dict[str, Any] = {
        "name": name,
        "label": f"Extra {i} ({kind})",
        "type": ptype,
        "groupName": "sandbox_extras",
        "description": f"Generated {kind} property #{i} on {type_name}",
    }
    if kind in ("enumeration", "multi"):
        defn["fieldType"] = "checkbox" if kind == "multi" else "select"
        defn["options"] = [{"label": f"Option {j}", "value": f"opt_{j}"} for j in range(1, 6)]
    return defn


def _extra_gen(defn: dict[str, Any]) -> Gen:
    ptype, multi = defn["type"], defn.get("fieldType") == "checkbox"
    if ptype == "enumeration":
        gen = _enum_gen([o["value"] for o in defn["options"]], multi)
    elif ptype == "number":
        gen = lambda rid, h: str(h % 100_000) if h & 1 else f"{(h % 10_000_000) / 1000:.3f}"  # noqa: E731
    elif ptype == "datetime":
        gen = lambda rid, h: iso_ms(START_MS + (h >> 3) % (END_MS - START_MS))  # noqa: E731
    elif ptype == "date":
        gen = _date_gen(START_MS, END_MS)
    elif ptype == "bool":
        gen = lambda rid, h: "true" if h & 2 else "false"  # noqa: E731
    elif ptype == "phone_number":
        gen = lambda rid, h: f"+44 20 {h % 90000000 + 10000000}"  # noqa: E731
    else:
        gen = lambda rid, h: f"{_pick(WORDS, h)} {_pick(CITIES, h >> 9)} {h % 1000}"  # noqa: E731
    return _nullable(25, gen)


def _skeleton(seed: int, owners: int, extra_properties: int, portal_id: int) -> dict[str, Any]:
    deal_pipes = [dict(p) for p in DEFAULT_PIPELINES["deals"]]
    deal_pipes.append(
        {
            "id": "2930721",
            "label": "Renewals",
            "displayOrder": 1,
            "createdAt": "2022-03-01T10:00:00Z",
            "stages": [
                {
                    "id": "8411601",
                    "label": "Renewal due",
                    "displayOrder": 0,
                    "metadata": {"probability": "0.5", "isClosed": "false"},
                },
                {
                    "id": "8411602",
                    "label": "Negotiation",
                    "displayOrder": 1,
                    "metadata": {"probability": "0.7", "isClosed": "false"},
                },
                {
                    "id": "8411603",
                    "label": "Renewed",
                    "displayOrder": 2,
                    "metadata": {"probability": "1.0", "isClosed": "true"},
                },
                {
                    "id": "8411604",
                    "label": "Churned",
                    "displayOrder": 3,
                    "metadata": {"probability": "0.0", "isClosed": "true"},
                },
                {
                    "id": "8411605",
                    "label": "Old review step",
                    "displayOrder": 4,
                    "metadata": {"probability": "0.6", "isClosed": "false"},
                    "archived": True,
                    "archivedAt": "2023-01-10T08:00:00Z",
                },
            ],
        }
    )
    deal_pipes.append(
        {
            "id": "1100001",
            "label": "Legacy pipeline",
            "displayOrder": 2,
            "archived": True,
            "archivedAt": "2021-06-30T12:00:00Z",
            "createdAt": "2020-02-01T00:00:00Z",
            "stages": [
                {
                    "id": "QUALIFIED",
                    "label": "Qualified",
                    "displayOrder": 0,
                    "metadata": {"probability": "0.3"},
                },
                {"id": "WON", "label": "Won", "displayOrder": 1, "metadata": {"probability": "1.0"}},
            ],
        }
    )
    owner_list = []
    for i in range(owners):
        first, last = FIRST[(i * 7 + seed) % len(FIRST)], LAST[(i * 5 + seed) % len(LAST)]
        is_queue = owners >= 3 and i == owners - 1
        owner_list.append(
            {
                "id": str(50_000_001 + i),
                "email": None if is_queue else f"{first.lower()}.{i}@sandbox-portal.example",
                "firstName": "Support queue" if is_queue else first,
                "lastName": "" if is_queue else last,
                "userId": None if is_queue else 9_100_001 + i,
                "type": "QUEUE" if is_queue else "PERSON",
                "teams": [{"id": str(700 + i % 2), "name": ("Sales", "Support")[i % 2], "primary": True}],
                "archived": i % 5 == 3,
                "createdAt": iso_ms(START_MS + i * DAY_MS),
                "updatedAt": iso_ms(START_MS + (i + 30) * DAY_MS),
            }
        )
    services = {
        "objectTypeId": "2-1001",
        "name": "services",
        "labels": {"singular": "Service", "plural": "Services"},
        "primaryDisplayProperty": "service_name",
        "secondaryDisplayProperties": ["service_tier"],
        "requiredProperties": ["service_name"],
        "searchableProperties": ["service_name"],
        "description": "Services sold to contacts (sandbox custom object)",
        "createdAt": "2021-05-04T09:00:00Z",
    }
    service_props = [
        {"name": "service_name", "label": "Service name", "type": "string"},
        {
            "name": "service_tier",
            "label": "Tier",
            "type": "enumeration",
            "options": ["basic", "standard", "premium"],
        },
        {"name": "monthly_fee", "label": "Monthly fee", "type": "number"},
        {"name": "start_date", "label": "Start date", "type": "date"},
        {"name": "is_active", "label": "Active", "type": "bool"},
    ]
    names = ["contacts", "companies", "deals", "tickets", "services"]
    properties: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    properties["services"] = service_props
    for n in names:
        properties[n] += [_extra_property(n, i) for i in range(extra_properties)]
    return {
        "portalId": portal_id,
        "owners": owner_list,
        "objectTypes": [
            "contacts",
            "companies",
            "deals",
            "tickets",
            services,
            *(n for n, spec in FAMILIES.items() if not spec.get("library")),
        ],
        "properties": properties,
        "pipelines": {"deals": deal_pipes, "tickets": DEFAULT_PIPELINES["tickets"], "leads": LEAD_PIPELINES},
        "associationLabels": [
            {
                "fromType": "contacts",
                "toType": "companies",
                "typeId": BILLING_LABEL[0],
                "inverseTypeId": BILLING_LABEL[1],
                "category": "USER_DEFINED",
                "label": "Billing contact",
                "inverseLabel": "Billing contact",
            }
        ],
    }


def _fill_records(ot: ObjectType, seed: int, count: int, base: int | None = None) -> _Timeline:
    base = ID_BASES[ot.name] if base is None else base
    timeline = _Timeline(seed, ot.name, base, count)
    salt = _mix(seed ^ _salt(ot.name + "#archive"))
    records = ot.records
    for rid in range(base, base + count):
        created = timeline.created(rid)
        updated = timeline.updated(rid)
        rec = Record(rid, created, updated)
        h = _mix(salt ^ rid)
        if h % 50 == 0:
            rec.archived = True
            rec.archived_at = min(END_MS, updated + (h >> 8) % (60 * DAY_MS))
        records[rid] = rec
    ot.ids = list(range(base, base + count))
    return timeline


def _associate_many(
    portal: Portal,
    a: ObjectType,
    b: ObjectType,
    seed: int,
    pct: int,
    per: int,
    label: tuple[int, int] | None = None,
) -> None:
    """Link ~pct% of ``a`` records to 1..per random ``b`` records (both directions); ``label``
    (typeId, inverseTypeId) is added to every link (e.g. a lead's Primary contact)."""
    if not a.ids or not b.ids:
        return
    fwd = portal.default_label(a.object_type_id, b.object_type_id)
    types_f, types_b = (fwd.type_id,), (fwd.inverse_type_id,)
    if label is not None:
        types_f, types_b = (
            tuple(sorted({fwd.type_id, label[0]})),
            tuple(sorted({fwd.inverse_type_id, label[1]})),
        )
    billing = a.name == "contacts" and b.name == "companies"
    salt = _mix(seed ^ _salt(f"{a.name}->{b.name}"))
    n_b = len(b.ids)
    b_ids = b.ids
    link = portal.link
    fa, fb = a.object_type_id, b.object_type_id
    for rid in a.ids:
        h = _mix(salt ^ rid)
        if h % 100 >= pct:
            continue
        for k in range(1 + (h >> 8) % per):
            target = b_ids[(h >> (16 + k * 8)) % n_b]
            if billing and (h >> 40) % 20 == 0:
                link(fa, rid, fb, target, (fwd.type_id, BILLING_LABEL[0]))
                link(fb, target, fa, rid, (fwd.inverse_type_id, BILLING_LABEL[1]))
            else:
                link(fa, rid, fb, target, types_f)
                link(fb, target, fa, rid, types_b)


def _merge_some(portal: Portal, ot: ObjectType, seed: int) -> None:
    count = len(ot.ids)
    if count < 10:
        return
    salt = _mix(seed ^ _salt(ot.name + "#merge"))
    wanted = max(1, count // 200)
    done = 0
    for k in range(wanted * 4):
        if done >= wanted:
            break
        h = _mix(salt ^ k)
        merged = ot.records[ot.ids[h % count]]
        survivor = ot.records[ot.ids[(h >> 20) % count]]
        if merged is survivor or not merged.visible or not survivor.visible:
            continue
        at = min(END_MS, max(merged.updated_at, survivor.updated_at) + DAY_MS)
        portal._merge(ot, survivor.id, merged.id, at)
        done += 1


def generate_portal(
    seed: int = 1,
    contacts: int = 1000,
    companies: int = 200,
    deals: int = 300,
    tickets: int = 100,
    custom: int = 50,
    extra_properties: int = 20,
    owners: int = 10,
    portal_id: int = 12345678,
    *,
    calls: int = 0,
    emails: int = 0,
    meetings: int = 0,
    notes: int = 0,
    tasks: int = 0,
    communications: int = 0,
    products: int = 0,
    line_items: int = 0,
    quotes: int = 0,
    invoices: int = 0,
    leads: int = 0,
    goals: int = 0,
    object_library: dict[str, int] | None = None,
) -> Portal:
    """Generate a deterministic synthetic portal (see module docstring).

    The object families are opt-in: every family exists (HubSpot portals always have them) but
    has no records unless sized here. ``object_library`` activates object-library objects
    (``{"listings": 5, "services": 0}``: activated, with that many records); the others stay
    inactive, as in a portal that never activated them.
    """
    family_sizes = {
        "calls": calls,
        "emails": emails,
        "meetings": meetings,
        "notes": notes,
        "tasks": tasks,
        "communications": communications,
        "products": products,
        "line_items": line_items,
        "quotes": quotes,
        "invoices": invoices,
        "leads": leads,
        "goal_targets": goals,
    }
    library = dict(object_library or {})
    unknown = set(library) - set(LIBRARY_OBJECTS)
    if unknown:
        raise ValueError(f"object_library: unknown object-library objects {sorted(unknown)}")
    skeleton = _skeleton(seed, owners, extra_properties, portal_id)
    skeleton["objectLibrary"] = sorted(library)
    portal = load_portal(skeleton)
    person_owners = [o for o in portal.owners if o["type"] == "PERSON"]
    owner_ids = [o["id"] for o in person_owners]
    user_ids = [o["userId"] for o in person_owners if o.get("userId") is not None]
    owner_teams = {o["id"]: o["teams"][0]["id"] for o in portal.owners if o.get("teams")}
    classic = {
        "contacts": contacts,
        "companies": companies,
        "deals": deals,
        "tickets": tickets,
    }
    by_id = {ot.object_type_id: ot for ot in portal.types.values()}
    types: dict[str, ObjectType] = {name: portal.object_type(name) for name in classic}
    types["services"] = by_id["2-1001"]
    for name in family_sizes:
        types[name] = by_id[FAMILIES[name]["objectTypeId"]]
    for name in library:
        types[f"library:{name}"] = by_id[FAMILIES[name]["objectTypeId"]]
    sizes = {**classic, "services": custom, **family_sizes}
    sizes.update({f"library:{n}": c for n, c in library.items()})
    timelines = {key: _fill_records(types[key], seed, sizes[key], ID_BASES[key]) for key in types}
    lead_stages = stage_order(LEAD_PIPELINES)
    for key, ot in types.items():
        _plug_values(portal, key, ot, seed, timelines, types, owner_ids, owner_teams, lead_stages)
        _plug_history(portal, key, ot, timelines[key], ID_BASES[key], sizes[key], user_ids)
    _associate_many(portal, types["contacts"], types["companies"], seed, 90, 1)
    _associate_many(portal, types["deals"], types["companies"], seed, 95, 1)
    _associate_many(portal, types["deals"], types["contacts"], seed, 90, 3)
    _associate_many(portal, types["tickets"], types["contacts"], seed, 90, 1)
    _associate_many(portal, types["tickets"], types["companies"], seed, 50, 1)
    _associate_many(portal, types["services"], types["contacts"], seed, 95, 2)
    _associate_families(portal, types, seed)
    for name in ("contacts", "companies", "deals"):
        _merge_some(portal, types[name], seed)
    for ot in types.values():  # generated history is not "recent": keep the search index simple
        for rid in ot.ids:
            rec = ot.records[rid]
            if rec.history is not None:
                rec.history = None
                rec.valid_from = 0.0
    return portal


def _plug_values(
    portal: Portal,
    key: str,
    ot: ObjectType,
    seed: int,
    timelines: dict[str, _Timeline],
    types: dict[str, ObjectType],
    owner_ids: list[str],
    owner_teams: dict[str, str],
    lead_stages: list[str],
) -> None:
    """The lazy value source of one generated type."""
    values = LazyValues(seed, key)
    _common_gens(values, owner_ids)
    if key == "contacts":
        _contact_gens(values, _company_name)
    elif key == "companies":
        _company_gens(values)
    elif key == "deals":
        _deal_gens(values, timelines[key], portal.pipelines[ot.object_type_id])
    elif key == "tickets":
        _ticket_gens(values, timelines[key], portal.pipelines[ot.object_type_id])
    elif key == "services":
        _service_gens(values)
    else:
        product_type = types.get("products")
        products = (
            (product_type.ids, product_type.lazy)
            if product_type is not None and product_type.lazy is not None
            else None
        )
        ctx = FamilyContext(
            timelines[key], owner_ids, owner_teams, lambda h: (_pick(FIRST, h), _pick(LAST, h >> 7)), products
        )
        family_gens(ot, values, ctx, lead_stages)
    for defn in ot.properties.values():
        if defn["name"].startswith("sandbox_extra_"):
            values.add(defn["name"], _extra_gen(defn))
    ot.lazy = values
    ot.lazy_names = frozenset(values.gens)


def _tracked(portal: Portal, key: str, ot: ObjectType) -> dict[str, Any]:
    """The properties whose generated history has several values."""
    lifecycle = [o["value"] for o in LIFECYCLE if o["value"] != "other"]
    money = revisions(lambda h: f"{(h % 20_000_000) / 100:.2f}")
    if key == "deals":
        return {"dealstage": pipeline_progression(portal.pipelines[ot.object_type_id]), "amount": money}
    if key == "tickets":
        return {"hs_pipeline_stage": pipeline_progression(portal.pipelines[ot.object_type_id])}
    if key == "contacts":
        lead = ["NEW", "OPEN", "IN_PROGRESS", "CONNECTED", "OPEN_DEAL"]
        return {"lifecyclestage": progression(lifecycle), "hs_lead_status": progression(lead, 0)}
    if key == "companies":
        return {"lifecyclestage": progression(lifecycle, 0)}
    if key == "leads":
        return {"hs_pipeline_stage": pipeline_progression(portal.pipelines[ot.object_type_id])}
    if key in ("tasks",):
        return {"hs_task_status": progression(["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED"], 0)}
    if key in ("quotes",):
        return {"hs_status": progression(["DRAFT", "PENDING_APPROVAL", "APPROVED"], 0)}
    if key in ("invoices",):
        return {"hs_invoice_status": progression(["draft", "open", "paid"], 0)}
    return {}


def _plug_history(
    portal: Portal, key: str, ot: ObjectType, timeline: _Timeline, base: int, count: int, user_ids: list[int]
) -> None:
    assert ot.lazy is not None
    ot.lazy_history = GeneratedHistory(
        ot, ot.lazy, timeline, base, count, user_ids, _tracked(portal, key, ot), BATCH_MS
    )


def _associate_families(portal: Portal, types: dict[str, ObjectType], seed: int) -> None:
    """Links of the generated families (only sized ones have records to link)."""
    from .families import ENGAGEMENTS

    def link(a: str, b: str, pct: int, per: int, label: tuple[int, int] | None = None) -> None:
        if a in types and b in types:
            _associate_many(portal, types[a], types[b], seed, pct, per, label)

    for name in ENGAGEMENTS:
        link(name, "contacts", 90, 2)
        link(name, "companies", 60, 1)
        link(name, "deals", 40, 1)
        link(name, "tickets", 10, 1)
    link("line_items", "deals", 95, 1)
    link("line_items", "quotes", 30, 1)
    link("line_items", "invoices", 20, 1)
    link("quotes", "deals", 100, 1)
    link("quotes", "contacts", 70, 1)
    link("quotes", "companies", 60, 1)
    link("invoices", "deals", 60, 1)
    link("invoices", "contacts", 80, 1)
    link("invoices", "companies", 70, 1)
    link("invoices", "quotes", 20, 1)
    primary = next(
        (fwd, inv) for a, b, fwd, inv, _, _ in FAMILY_LABELLED_TYPES if (a, b) == ("leads", "contacts")
    )
    link("leads", "contacts", 100, 1, primary)
    link("leads", "companies", 70, 1)
    for name in LIBRARY_OBJECTS:
        key = f"library:{name}"
        link(key, "contacts", 80, 2)
        link(key, "companies", 50, 1)
        link(key, "deals", 30, 1)
