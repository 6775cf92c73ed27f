"""The steps of an object sync, at the level of their XComs: prepare, extract, load,
associations, history (only for an object with ``history`` configured), reconcile, finalize
(and ``sync_owners``).

Each function here takes and returns the plain JSON-able dicts that travel between Airflow
tasks, as a caller outside Airflow has them (the tests and the benchmarks drive a sync this
way, in-process): it reads them into the typed contracts of :mod:`.contracts`, calls the step
and returns the step's result as its XCom. The operators in ``hubspot_etl.operators.sync``
do the same conversion themselves.

Where the logic is: :mod:`.context` (the :class:`StepContext`, the run lease),
:mod:`.prepare`, :mod:`.extract`, :mod:`.load`, :mod:`.associations`, :mod:`.history`, :mod:`.reconcile`,
:mod:`.finalize` and :mod:`.owners`. Division of labour: the hook knows HTTP and HubSpot, the
warehouse adapter knows SQL, the step modules know the order of things and what a correct
sync means (modes, windows, deletes and merges, the run report).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubspot_etl.sync import associations as associations_step
from hubspot_etl.sync import extract as extract_step
from hubspot_etl.sync import finalize as finalize_step
from hubspot_etl.sync import history as history_step
from hubspot_etl.sync import load as load_step
from hubspot_etl.sync import owners as owners_step
from hubspot_etl.sync import prepare as prepare_step
from hubspot_etl.sync import reconcile as reconcile_step
from hubspot_etl.sync.context import StepContext, release_lease
from hubspot_etl.sync.contracts import (
    AssociationsReport,
    HistoryReport,
    LoadReport,
    Manifest,
    Plan,
    ReconcileReport,
    RunReport,
)

__all__ = [
    "StepContext",
    "associations",
    "extract",
    "finalize",
    "history",
    "load",
    "prepare",
    "reconcile",
    "release_lease",
    "sync_owners",
]

XCom = Mapping[str, Any]


def prepare(ctx: StepContext) -> dict[str, Any]:
    """The plan (see :func:`.prepare.prepare`)."""
    return prepare_step.prepare(ctx).as_dict()


def extract(ctx: StepContext, plan: XCom) -> dict[str, Any]:
    """The manifest of staged parts (see :func:`.extract.extract`)."""
    return extract_step.extract(ctx, Plan.from_dict(plan)).as_dict()


def load(ctx: StepContext, plan: XCom, manifest: XCom) -> dict[str, Any]:
    """The load report (see :func:`.load.load`)."""
    return load_step.load(ctx, Plan.from_dict(plan), Manifest.from_dict(manifest)).as_dict()


def associations(ctx: StepContext, plan: XCom, manifest: XCom) -> dict[str, Any]:
    """The associations report (see :func:`.associations.associations`)."""
    return associations_step.associations(ctx, Plan.from_dict(plan), Manifest.from_dict(manifest)).as_dict()


def history(ctx: StepContext, plan: XCom, manifest: XCom) -> dict[str, Any]:
    """The history report (see :func:`.history.history`)."""
    return history_step.history(ctx, Plan.from_dict(plan), Manifest.from_dict(manifest)).as_dict()


def reconcile(ctx: StepContext, plan: XCom, manifest: XCom) -> dict[str, Any]:
    """The reconcile report (see :func:`.reconcile.reconcile`)."""
    return reconcile_step.reconcile(ctx, Plan.from_dict(plan), Manifest.from_dict(manifest)).as_dict()


def finalize(
    ctx: StepContext,
    plan: XCom,
    manifest: XCom,
    loaded: XCom,
    linked: XCom,
    reconciled: XCom,
    history: XCom | None = None,
) -> RunReport:
    """The run report (see :func:`.finalize.finalize`); ``history`` is the history step's
    XCom, for an object with ``history`` configured."""
    return finalize_step.finalize(
        ctx,
        Plan.from_dict(plan),
        Manifest.from_dict(manifest),
        LoadReport.from_dict(loaded),
        AssociationsReport.from_dict(linked),
        ReconcileReport.from_dict(reconciled),
        HistoryReport.from_dict(history) if history is not None else None,
    )


def sync_owners(ctx: StepContext) -> RunReport:
    """The owners' run report (see :func:`.owners.sync_owners`)."""
    return owners_step.sync_owners(ctx)
