"""Generated values for the object families (engagements, commerce, leads, goals, library
objects) and the deterministic property history of every generated record.

Used by :func:`hubspot_sandbox.generator.generate_portal`; values and history are computed
on demand from ``(seed, type, record id, property)`` like the rest of the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._util import DAY_MS, date_str, iso_ms
from .history import CALCULATED, Entry, Source
from .model import ObjectType

if TYPE_CHECKING:
    from .generator import LazyValues, _Timeline

Gen = Callable[[int, int], "str | None"]
_M = (1 << 64) - 1
HOUR_MS = 3_600_000

TOPICS = (
    "pricing",
    "onboarding",
    "renewal",
    "integration",
    "security review",
    "roadmap",
    "support escalation",
    "contract terms",
)
PRODUCT_NAMES = (
    "Platform License",
    "Onboarding Package",
    "Premium Support",
    "Analytics Add-on",
    "API Access",
    "Training Day",
    "Data Migration",
    "Consulting Hour",
)
STREETS = ("Main St", "Oak Ave", "Harbor Rd", "Elm St", "Cedar Ln", "Park Blvd", "Mill Rd")


def _pick(seq: Any, h: int) -> Any:
    return seq[h % len(seq)]


def _nullable(pct: int, gen: Gen) -> Gen:
    def wrapped(rid: int, h: int) -> str | None:
        return None if (h >> 48) % 100 < pct else gen(rid, h)

    return wrapped


def _weighted(*choices: tuple[str, int]) -> Gen:
    total = sum(w for _, w in choices)

    def gen(rid: int, h: int) -> str:
        point = h % total
        for value, weight in choices:
            if point < weight:
                return value
            point -= weight
        return choices[-1][0]

    return gen


class FamilyContext:
    """What family generators need from the rest of the portal."""

    def __init__(
        self,
        timeline: _Timeline,
        owner_ids: list[str],
        owner_teams: dict[str, str],
        names: Callable[[int], tuple[str, str]],
        products: tuple[list[int], LazyValues] | None,
    ) -> None:
        self.timeline = timeline
        self.owner_ids = owner_ids
        self.owner_teams = owner_teams
        self.names = names  # h -> (first, last)
        self.products = products

    def activity_ts(self, rid: int, h: int) -> int:
        """When an engagement happened: up to two days before it was logged."""
        return self.timeline.created(rid) - (h >> 9) % (2 * DAY_MS)


def _engagement_common(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_timestamp", lambda rid, h: iso_ms(ctx.activity_ts(rid, values.h(rid, "hs_timestamp"))))

    def team(rid: int, h: int) -> str | None:
        owner = values(rid, "hubspot_owner_id")
        return ctx.owner_teams.get(owner) if owner else None

    values.add("hubspot_team_id", team)


def _calls(values: LazyValues, ctx: FamilyContext) -> None:
    from .families import CALL_DISPOSITIONS

    def title(rid: int, h: int) -> str:
        first, last = ctx.names(h)
        return f"Call with {first} {last} about {_pick(TOPICS, h >> 20)}"

    values.add("hs_call_title", title)
    values.add(
        "hs_call_body", _nullable(30, lambda rid, h: f"Discussed {_pick(TOPICS, h)}; next step agreed.")
    )
    values.add("hs_call_duration", lambda rid, h: str(30_000 + (h >> 5) % 2_700_000))
    values.add("hs_call_direction", _weighted(("OUTBOUND", 70), ("INBOUND", 30)))
    values.add(
        "hs_call_disposition",
        _weighted(*((d, w) for (d, _), w in zip(CALL_DISPOSITIONS, (50, 20, 15, 5, 7, 3), strict=True))),
    )
    values.add("hs_call_status", _weighted(("COMPLETED", 90), ("NO_ANSWER", 6), ("BUSY", 3), ("FAILED", 1)))
    values.add("hs_call_from_number", lambda rid, h: f"+1 555-{h % 900 + 100:03d}-{(h >> 12) % 10000:04d}")
    values.add(
        "hs_call_to_number", lambda rid, h: f"+1 555-{(h >> 3) % 900 + 100:03d}-{(h >> 20) % 10000:04d}"
    )
    values.add("hs_body_preview", lambda rid, h: values(rid, "hs_call_body") or values(rid, "hs_call_title"))


def _emails(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_email_subject", lambda rid, h: f"Re: {_pick(TOPICS, h).capitalize()} #{rid % 1000}")
    values.add("hs_email_text", lambda rid, h: f"Hi, following up on {_pick(TOPICS, h >> 4)}. Best regards")
    values.add(
        "hs_email_direction", _weighted(("EMAIL", 50), ("INCOMING_EMAIL", 40), ("FORWARDED_EMAIL", 10))
    )
    values.add("hs_email_status", _weighted(("SENT", 92), ("BOUNCED", 5), ("FAILED", 3)))

    def address(rid: int, h: int) -> str:
        first, last = ctx.names(h)
        return f"{first.lower()}.{last.lower().replace(chr(39), '')}@example.com"

    values.add("hs_email_from_email", address)
    values.add("hs_email_to_email", lambda rid, h: address(rid, h >> 13))
    values.add("hs_body_preview", lambda rid, h: values(rid, "hs_email_text"))


def _meetings(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_meeting_title", lambda rid, h: f"{_pick(TOPICS, h).capitalize()} meeting")
    values.add("hs_meeting_body", _nullable(40, lambda rid, h: f"Agenda: {_pick(TOPICS, h >> 5)}"))
    values.add("hs_internal_meeting_notes", _nullable(70, lambda rid, h: "Prep deck and pricing sheet."))
    values.add("hs_meeting_start_time", lambda rid, h: values(rid, "hs_timestamp"))

    def end(rid: int, h: int) -> str:
        start = ctx.activity_ts(rid, values.h(rid, "hs_timestamp"))
        return iso_ms(start + (30 if h & 1 else 60) * 60_000)

    values.add("hs_meeting_end_time", end)
    values.add(
        "hs_meeting_outcome",
        _weighted(("COMPLETED", 60), ("SCHEDULED", 20), ("RESCHEDULED", 8), ("NO_SHOW", 7), ("CANCELED", 5)),
    )
    values.add(
        "hs_meeting_location",
        _nullable(50, lambda rid, h: _pick(("Zoom", "Google Meet", "Office", "Phone"), h)),
    )


def _notes(values: LazyValues, ctx: FamilyContext) -> None:
    values.add(
        "hs_note_body",
        lambda rid, h: f"<p>Customer mentioned {_pick(TOPICS, h)} and {_pick(TOPICS, h >> 7)}.</p>",
    )
    values.add("hs_body_preview", lambda rid, h: (values(rid, "hs_note_body") or "")[3:-4])


def _tasks(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_task_subject", lambda rid, h: f"Follow up: {_pick(TOPICS, h)}")
    values.add("hs_task_body", _nullable(40, lambda rid, h: f"Send the {_pick(TOPICS, h >> 3)} summary."))
    values.add(
        "hs_task_status",
        _weighted(
            ("COMPLETED", 50), ("NOT_STARTED", 25), ("IN_PROGRESS", 15), ("WAITING", 7), ("DEFERRED", 3)
        ),
    )
    values.add("hs_task_priority", _weighted(("NONE", 20), ("LOW", 30), ("MEDIUM", 35), ("HIGH", 15)))
    values.add("hs_task_type", _weighted(("TODO", 50), ("CALL", 25), ("EMAIL", 20), ("LINKED_IN", 5)))

    def completed(rid: int, h: int) -> str | None:
        if values(rid, "hs_task_status") != "COMPLETED":
            return None
        return iso_ms(ctx.timeline.created(rid) + (h >> 4) % (5 * DAY_MS))

    values.add("hs_task_completion_date", completed)


def _communications(values: LazyValues, ctx: FamilyContext) -> None:
    values.add(
        "hs_communication_channel_type",
        _weighted(("SMS", 40), ("WHATS_APP", 35), ("LINKEDIN_MESSAGE", 20), ("PHYSICAL_MAIL", 5)),
    )
    values.add("hs_communication_logged_from", lambda rid, h: "CRM")
    values.add("hs_communication_body", lambda rid, h: f"Quick question about {_pick(TOPICS, h)}?")
    values.add("hs_body_preview", lambda rid, h: values(rid, "hs_communication_body"))


def _products(values: LazyValues, ctx: FamilyContext) -> None:
    tiers = ("Starter", "Professional", "Enterprise")
    values.add(
        "name", lambda rid, h: f"{_pick(PRODUCT_NAMES, rid)} {_pick(tiers, rid // len(PRODUCT_NAMES))}"
    )
    values.add("description", _nullable(30, lambda rid, h: f"{_pick(PRODUCT_NAMES, rid)} for growing teams"))
    values.add("price", lambda rid, h: f"{(50 + h % 20_000) / 1:.2f}")
    values.add("hs_sku", lambda rid, h: f"SKU-{rid % 100000:05d}")
    values.add("hs_cost_of_goods_sold", _nullable(40, lambda rid, h: f"{(10 + (h >> 8) % 5_000):.2f}"))
    values.add("hs_product_type", _weighted(("service", 40), ("non_inventory", 45), ("inventory", 15)))
    values.add(
        "recurringbillingfrequency",
        _nullable(40, _weighted(("monthly", 50), ("annually", 40), ("quarterly", 10))),
    )
    values.add(
        "hs_recurring_billing_period",
        lambda rid, h: "P12M" if values(rid, "recurringbillingfrequency") else None,
    )


def _line_items(values: LazyValues, ctx: FamilyContext) -> None:
    product_ids, product_values = ctx.products or ([], None)

    def product(rid: int, h: int) -> str | None:
        return str(_pick(product_ids, h)) if product_ids else None

    values.add("hs_product_id", _nullable(10, product))

    def from_product(name: str, fallback: Callable[[int, int], str]) -> Gen:
        def gen(rid: int, h: int) -> str:
            pid = values(rid, "hs_product_id")
            if pid is not None and product_values is not None:
                return product_values(int(pid), name) or fallback(rid, h)
            return fallback(rid, h)

        return gen

    values.add("name", from_product("name", lambda rid, h: f"Custom item {rid % 1000}"))
    values.add("price", from_product("price", lambda rid, h: f"{(20 + h % 5_000):.2f}"))
    values.add("hs_sku", from_product("hs_sku", lambda rid, h: f"CUSTOM-{rid % 1000:03d}"))
    values.add("quantity", lambda rid, h: str(1 + (h >> 7) % 20))
    values.add("discount", _nullable(70, lambda rid, h: f"{(h >> 3) % 50}.00"))

    def amount(rid: int, h: int) -> str:
        price = float(values(rid, "price") or 0)
        discount = float(values(rid, "discount") or 0)
        return f"{int(values(rid, 'quantity') or 1) * (price - discount):.2f}"

    values.add("amount", amount)
    values.add("recurringbillingfrequency", _nullable(60, _weighted(("monthly", 60), ("annually", 40))))
    values.add("hs_position_on_quote", lambda rid, h: str(rid % 5))


def _quotes(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_title", lambda rid, h: f"Quote Q-{rid % 100000:05d} {_pick(PRODUCT_NAMES, h)}")
    values.add("hs_expiration_date", lambda rid, h: iso_ms(ctx.timeline.created(rid) + 30 * DAY_MS))
    values.add(
        "hs_status",
        _weighted(
            ("APPROVAL_NOT_NEEDED", 45),
            ("DRAFT", 20),
            ("APPROVED", 20),
            ("PENDING_APPROVAL", 10),
            ("REJECTED", 5),
        ),
    )
    values.add("hs_quote_amount", lambda rid, h: f"{(500 + h % 200_000):.2f}")
    values.add("hs_currency", lambda rid, h: "USD")
    values.add("hs_public_url_key", lambda rid, h: f"{h:016x}")
    values.add("hs_language", lambda rid, h: "en")
    values.add("hs_sender_email", lambda rid, h: f"sales{h % 5}@sandbox-portal.example")


def _invoices(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_number", lambda rid, h: f"INV-{rid % 1_000_000:06d}")
    values.add("hs_invoice_status", _weighted(("paid", 55), ("open", 30), ("draft", 10), ("voided", 5)))
    values.add("hs_amount_billed", lambda rid, h: f"{(100 + h % 100_000):.2f}")

    def balance(rid: int, h: int) -> str:
        billed = values(rid, "hs_amount_billed") or "0"
        return "0.00" if values(rid, "hs_invoice_status") in ("paid", "voided") else billed

    values.add("hs_balance_due", balance)
    values.add("hs_currency", lambda rid, h: "USD")
    values.add("hs_invoice_date", lambda rid, h: iso_ms(ctx.timeline.created(rid)))
    values.add("hs_due_date", lambda rid, h: iso_ms(ctx.timeline.created(rid) + 30 * DAY_MS))


def _leads(values: LazyValues, ctx: FamilyContext, stages: list[str]) -> None:
    def name(rid: int, h: int) -> str:
        first, last = ctx.names(h)
        return f"{first} {last}"

    values.add("hs_lead_name", name)
    values.add("hs_pipeline", lambda rid, h: "lead-pipeline-id")
    values.add("hs_pipeline_stage", lambda rid, h: _pick(stages, h))
    values.add("hs_lead_type", _weighted(("NEW_BUSINESS", 70), ("UPSELL", 20), ("RE_ATTEMPTING", 10)))
    values.add("hs_lead_label", _nullable(20, _weighted(("WARM", 50), ("HOT", 25), ("COLD", 25))))


def _goals(values: LazyValues, ctx: FamilyContext) -> None:
    values.add(
        "hs_goal_name",
        lambda rid, h: f"Q{1 + rid % 4} {_pick(('Revenue', 'New deals', 'Calls', 'Meetings'), h)} target",
    )
    values.add("hs_target_amount", lambda rid, h: str(10_000 * (1 + h % 50)))
    values.add("hs_start_datetime", lambda rid, h: iso_ms(ctx.timeline.created(rid)))
    values.add("hs_end_datetime", lambda rid, h: iso_ms(ctx.timeline.created(rid) + 90 * DAY_MS))
    values.add(
        "hs_goal_type",
        _weighted(("revenue", 40), ("deals_created", 30), ("calls_made", 15), ("meetings_booked", 15)),
    )
    values.add("hs_status", _weighted(("in_progress", 40), ("achieved", 35), ("missed", 25)))


def _services(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_name", lambda rid, h: f"{_pick(PRODUCT_NAMES, h)} engagement")
    values.add("hs_description", _nullable(30, lambda rid, h: f"Delivery of {_pick(TOPICS, h)}"))
    values.add("hs_category", _weighted(("consulting", 40), ("implementation", 35), ("support", 25)))
    values.add("hs_start_date", lambda rid, h: iso_ms(ctx.timeline.created(rid) + DAY_MS))
    values.add("hs_amount", lambda rid, h: f"{(1_000 + h % 50_000):.2f}")


def _appointments(values: LazyValues, ctx: FamilyContext) -> None:
    values.add(
        "hs_appointment_name",
        lambda rid, h: f"{_pick(('Consultation', 'Check-up', 'Demo', 'Fitting'), h)} #{rid % 1000}",
    )
    values.add(
        "hs_appointment_start", lambda rid, h: iso_ms(ctx.timeline.created(rid) + (h >> 5) % (14 * DAY_MS))
    )

    def end(rid: int, h: int) -> str:
        start = ctx.timeline.created(rid) + (values.h(rid, "hs_appointment_start") >> 5) % (14 * DAY_MS)
        return iso_ms(start + HOUR_MS)

    values.add("hs_appointment_end", end)
    values.add("hs_appointment_status", _weighted(("completed", 60), ("scheduled", 30), ("canceled", 10)))


def _courses(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_course_name", lambda rid, h: f"{_pick(TOPICS, h).title()} {100 + rid % 400}")
    values.add(
        "hs_course_description", _nullable(30, lambda rid, h: f"An introduction to {_pick(TOPICS, h >> 4)}")
    )
    values.add("hs_start_date", lambda rid, h: iso_ms(ctx.timeline.created(rid) + 7 * DAY_MS))
    values.add("hs_enrollment_capacity", lambda rid, h: str(10 + h % 90))


def _listings(values: LazyValues, ctx: FamilyContext) -> None:
    values.add("hs_address_1", lambda rid, h: f"{1 + h % 999} {_pick(STREETS, h >> 10)}")
    values.add("hs_city", lambda rid, h: _pick(("Boston", "Austin", "Denver", "Chicago", "Seattle"), h >> 20))
    values.add("hs_name", lambda rid, h: f"{values(rid, 'hs_address_1')}, {values(rid, 'hs_city')}")
    values.add("hs_price", lambda rid, h: str(150_000 + (h >> 6) % 2_000_000))
    values.add("hs_bedrooms", lambda rid, h: str(1 + h % 5))
    values.add("hs_bathrooms", lambda rid, h: str(1 + (h >> 3) % 3))
    values.add("hs_listing_type", _weighted(("house", 45), ("apartment", 35), ("townhouse", 15), ("land", 5)))


FAMILY_GENS: dict[str, Callable[..., None]] = {
    "calls": _calls,
    "emails": _emails,
    "meetings": _meetings,
    "notes": _notes,
    "tasks": _tasks,
    "communications": _communications,
    "products": _products,
    "line_items": _line_items,
    "quotes": _quotes,
    "invoices": _invoices,
    "goal_targets": _goals,
    "services": _services,
    "appointments": _appointments,
    "courses": _courses,
    "listings": _listings,
}


def family_gens(ot: ObjectType, values: LazyValues, ctx: FamilyContext, lead_stages: list[str]) -> None:
    """Plug the value generators of family ``ot`` into ``values``."""
    from .families import ENGAGEMENTS

    if ot.name in ENGAGEMENTS:
        _engagement_common(values, ctx)
    if ot.name == "leads":
        _leads(values, ctx, lead_stages)
    else:
        FAMILY_GENS[ot.name](values, ctx)


# ------------------------------------------------------------------ history
def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M
    return x ^ (x >> 31)


BATCH_SOURCE = Source("BATCH_UPDATE", "BatchUpdateJob", "Month-end batch update")


class GeneratedHistory:
    """Deterministic base history of the generated records of one object type.

    Every value a record was generated with was written once, at creation (most properties)
    or by the write that last modified the record (~10%). *Tracked* properties (deal stage,
    amount, ticket stage, lifecycle stage, lead status, lead stage) went through earlier values
    at times between creation and the last modification, each write from a plausible source
    (a user in the CRM, the API, an import, an integration, a workflow); month-end batch
    records got their last write from BATCH_UPDATE. The modified property has one CALCULATED
    entry per distinct write time. Records created after generation have none of this.
    """

    def __init__(
        self,
        ot: ObjectType,
        values: LazyValues,
        timeline: _Timeline,
        first_id: int,
        count: int,
        user_ids: list[int],
        tracked: dict[str, Callable[[int, str, int], list[str]]],
        batch_ms: int,
    ) -> None:
        self.ot = ot
        self.values = values
        self.timeline = timeline
        self.first, self.end = first_id, first_id + count
        self.user_ids = user_ids
        self.tracked = tracked
        self.batch_ms = batch_ms
        self._last: tuple[int, int, int] = (-1, 0, 0)  # (rid, created, updated): reads go record by record

    def _times(self, rid: int) -> tuple[int, int]:
        last = self._last
        if last[0] != rid:
            last = self._last = (rid, self.timeline.created(rid), self.timeline.updated(rid))
        return last[1], last[2]

    def _source(self, rid: int, name: str, k: int, ts: int) -> Source:
        if ts == self.batch_ms:
            return BATCH_SOURCE
        h = _mix(self.values.h(rid, name) ^ (k * 0x51ED27))
        roll = h % 100
        if roll < 45 and self.user_ids:
            user = self.user_ids[(h >> 8) % len(self.user_ids)]
            return Source("CRM_UI", f"userId:{user}", None, user)
        if roll < 65:
            return Source("API", "sandbox-integration-app", "Sandbox sync app")
        if roll < 80:
            return Source("IMPORT", f"import:{1_000 + (h >> 16) % 50}", "Contacts import")
        if roll < 92:
            return Source("INTEGRATION", "salesforce", "Salesforce")
        return Source("WORKFLOWS", f"workflow:{(h >> 20) % 40}", "Lifecycle workflow")

    def _path(self, rid: int, name: str, current: str) -> list[tuple[int, str]]:
        """(time, value) of every write of a tracked property, the current value last."""
        created, updated = self._times(rid)
        earlier = self.tracked[name](rid, current, self.values.h(rid, name))
        room = updated - created
        if room < len(earlier) + 2:
            earlier = []
        out = [(created, v) for v in earlier[:1]]
        steps = earlier[1:] + [current] if earlier else [current]
        if not earlier:
            return [(created, current)]
        for i, value in enumerate(steps, start=1):
            ts = created + room * i // (len(steps) + 1)
            if ts <= out[-1][0]:
                ts = out[-1][0] + 1
            out.append((ts, value))
        return out

    def _write_time(self, rid: int, name: str) -> int:
        created, updated = self._times(rid)
        return updated if (self.values.h(rid, name) >> 40) % 10 == 0 else created

    def change_times(self, rid: int) -> list[int]:
        """Every time a generated write touched the record (for its modified-date history)."""
        times = set(self._times(rid))
        for name in self.tracked:
            current = self.values(rid, name)
            if current is not None:
                times.update(ts for ts, _ in self._path(rid, name, current))
        return sorted(times)

    def __call__(self, rid: int, name: str) -> list[Entry]:
        if not self.first <= rid < self.end:
            return []
        ot = self.ot
        created = self._times(rid)[0]
        if name == "hs_object_id":
            return [CALCULATED.entry(created, str(rid))]
        if name == ot.created_property:
            return [self._source(rid, name, 0, created).entry(created, iso_ms(created))]
        if name == ot.modified_property:
            return [CALCULATED.entry(ts, iso_ms(ts)) for ts in self.change_times(rid)]
        if name not in self.values.gens:
            return []
        current = self.values(rid, name)
        if current is None:
            return []
        if name in self.tracked:
            return [
                self._source(rid, name, k, ts).entry(ts, value)
                for k, (ts, value) in enumerate(self._path(rid, name, current))
            ]
        ts = self._write_time(rid, name)
        return [self._source(rid, name, 0, ts).entry(ts, current)]


def progression(order: list[str], reversal_pct: int = 10) -> Callable[[int, str, int], list[str]]:
    """Earlier values of a property that moves along ``order`` (stages, lifecycle): a few of the
    values before the current one, in order, sometimes with one step back."""

    def earlier(rid: int, current: str, h: int) -> list[str]:
        if current not in order:
            return []
        idx = order.index(current)
        before = [v for i, v in enumerate(order[:idx]) if i == 0 or (h >> (i + 5)) & 1]
        before = before[-4:]
        if len(before) >= 2 and (h >> 30) % 100 < reversal_pct:
            before = [*before, before[-2]]  # moved back one stage, then forward again
        return before

    return earlier


def revisions(fmt: Callable[[int], str], max_changes: int = 2) -> Callable[[int, str, int], list[str]]:
    """Earlier values of a free-form property (amounts): 0..max_changes older values."""

    def earlier(rid: int, current: str, h: int) -> list[str]:
        n = (h >> 33) % (max_changes + 1)
        return [fmt(h >> (8 * (i + 1))) for i in range(n)]

    return earlier


def stage_order(pipelines: list[dict[str, Any]]) -> list[str]:
    """Stage ids of every active pipeline, each pipeline's stages in display order."""
    out: list[str] = []
    for pipe in pipelines:
        if pipe.get("archived"):
            continue
        stages = sorted((s for s in pipe["stages"] if not s.get("archived")), key=lambda s: s["displayOrder"])
        out += [s["id"] for s in stages]
    return out


def pipeline_progression(pipelines: list[dict[str, Any]]) -> Callable[[int, str, int], list[str]]:
    """Stage history inside the current stage's pipeline (closed-lost reached from an open stage)."""
    by_stage: dict[str, list[str]] = {}
    for pipe in pipelines:
        if pipe.get("archived"):
            continue
        stages = sorted((s for s in pipe["stages"] if not s.get("archived")), key=lambda s: s["displayOrder"])
        open_ids = [s["id"] for s in stages if s["metadata"].get("isClosed") != "true"]
        for s in stages:
            if s["metadata"].get("isClosed") == "true":
                by_stage[s["id"]] = [*open_ids, s["id"]]
            else:
                by_stage[s["id"]] = open_ids[: open_ids.index(s["id"]) + 1]

    def earlier(rid: int, current: str, h: int) -> list[str]:
        order = by_stage.get(current)
        return progression(order)(rid, current, h) if order else []

    return earlier


def date_value(ms: int) -> str:
    return date_str(ms)
