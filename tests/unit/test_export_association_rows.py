"""Association rows of an export run: the export's labels give each row its association types;
only capped rows, and rows whose labels the export does not give, are re-read (fake hook)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hubspot_etl.hooks.errors import HubSpotError
from hubspot_etl.sync.bulk_export import _association_kinds, _export_rows

UNLABELLED = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}
PRIMARY = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": "Primary"}
BILLING = {"category": "USER_DEFINED", "typeId": 501, "label": "Billing contact"}
PLAN = SimpleNamespace(api_type="contacts", object_name="contacts")
TARGET = SimpleNamespace(api_type="companies", name="companies")


class FakeHook:
    def __init__(self, types: list[dict[str, Any]] | Exception) -> None:
        self.types = types
        self.reread: list[list[str]] = []

    def get_association_labels(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        if isinstance(self.types, Exception):
            raise self.types
        return self.types

    def iter_associations(self, from_type: str, to_type: str, ids: list[str]) -> list[dict[str, Any]]:
        self.reread.append(list(ids))
        return [
            {"from_id": int(i), "to_id": 0, "type_id": 1, "category": "HUBSPOT_DEFINED", "label": None}
            for i in ids
        ]


def record(rid: str, linked: list[str], labels: dict[str, list[str | None]] | None, capped: bool = False):
    return {
        "id": rid,
        "associations": {"companies": linked},
        "association_labels": {} if labels is None else {"companies": labels},
        "associations_capped": ["companies"] if capped else [],
    }


def rows_of(hook: FakeHook, chunk: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    kinds = _association_kinds(hook, PLAN, TARGET)  # type: ignore[arg-type]
    rows = _export_rows(hook, PLAN, TARGET, chunk, kinds)  # type: ignore[arg-type]
    return sorted((r["from_id"], r["to_id"], r["type_id"], r["category"], r["label"]) for r in rows)


def test_labelled_rows_take_their_types_from_the_export_without_a_call() -> None:
    hook = FakeHook([UNLABELLED, PRIMARY, BILLING])
    chunk = [
        record("5", ["7", "8"], {"7": ["Primary", None], "8": [None]}),
        record("6", ["7"], {"7": ["Billing contact", None]}),
        record("9", [], {}),
    ]
    assert rows_of(hook, chunk) == [
        (5, 7, 1, "HUBSPOT_DEFINED", None),
        (5, 7, 279, "HUBSPOT_DEFINED", "Primary"),
        (5, 8, 1, "HUBSPOT_DEFINED", None),
        (6, 7, 1, "HUBSPOT_DEFINED", None),
        (6, 7, 501, "USER_DEFINED", "Billing contact"),
    ]
    assert hook.reread == []


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (record("5", ["7"], {"7": ["Primary"]}, capped=True), "capped"),
        (record("5", ["7"], None), "no labels for a pair with labelled types"),
        (record("5", ["7"], {"7": ["Renamed meanwhile"]}), "a label the pair does not have"),
        (record("5", ["7"], {"7": []}), "no type given"),
    ],
)
def test_rows_the_export_cannot_tell_are_re_read(row: dict[str, Any], why: str) -> None:
    hook = FakeHook([UNLABELLED, PRIMARY])
    ok = record("6", ["7"], {"7": [None]})
    rows = rows_of(hook, [row, ok])
    assert hook.reread == [["5"]], why
    assert (6, 7, 1, "HUBSPOT_DEFINED", None) in rows


def test_a_label_two_types_share_is_re_read() -> None:
    twin = {"category": "USER_DEFINED", "typeId": 502, "label": "Primary"}
    hook = FakeHook([UNLABELLED, PRIMARY, twin])
    rows_of(hook, [record("5", ["7"], {"7": ["Primary", None]}), record("6", ["7"], {"7": [None]})])
    assert hook.reread == [["5"]]


def test_without_labels_a_pair_of_one_unlabelled_type_needs_no_call() -> None:
    hook = FakeHook([UNLABELLED])
    assert rows_of(hook, [record("5", ["7"], None)]) == [(5, 7, 1, "HUBSPOT_DEFINED", None)]
    assert hook.reread == []


def test_unreadable_types_re_read_every_linked_record() -> None:
    hook = FakeHook(HubSpotError("boom", endpoint="associations.labels"))
    rows_of(hook, [record("5", ["7"], {"7": [None]}), record("6", [], {})])
    assert hook.reread == [["5"]]
