"""Dialect-neutral schema planning: property definitions + recorded mapping -> what to change.

:func:`plan_schema` never drops or renames anything: recorded columns keep their names, a
changed type widens the column to text, and new properties beyond the column cap are "spilled"
into the ``_extra_properties`` JSON column. The adapters only execute the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from hubspot_etl.warehouse.base import ColumnSpec, SchemaChange
from hubspot_etl.warehouse.naming import ColumnMapper
from hubspot_etl.warehouse.types import logical_type_for, widened_type


@dataclass
class SchemaPlan:
    """Result of :func:`plan_schema`; ``specs`` is the complete new mapping."""

    specs: dict[str, ColumnSpec]
    added: list[ColumnSpec] = field(default_factory=list)
    spilled: list[ColumnSpec] = field(default_factory=list)
    widened: list[ColumnSpec] = field(default_factory=list)
    changed: list[ColumnSpec] = field(default_factory=list)  # every spec to (re)record
    changes: list[SchemaChange] = field(default_factory=list)
    renamed: int = 0


def _spill_order(prop: Mapping) -> tuple[bool, str]:
    """HubSpot-defined properties get columns first, then by name."""
    return (not bool(prop.get("hubspotDefined")), str(prop["name"]))


def plan_schema(
    existing: Mapping[str, ColumnSpec],
    properties: Sequence[Mapping],
    *,
    max_property_columns: int,
    mapper: ColumnMapper,
) -> SchemaPlan:
    """Plan the changes needed so that every property in ``properties`` has a home.

    ``mapper`` must have been built from the existing column names (spilled ones included).
    """
    plan = SchemaPlan(specs=dict(existing))
    new_props: list[Mapping] = []
    for prop in properties:
        name = str(prop["name"])
        if name in existing:
            _plan_type_change(plan, existing[name], str(prop.get("type") or ""))
        else:
            new_props.append(prop)
    new_props.sort(key=_spill_order)
    columns = mapper.assign(str(p["name"]) for p in new_props)
    used = sum(1 for spec in existing.values() if not spec.spilled)
    for prop in new_props:
        name = str(prop["name"])
        hubspot_type = str(prop.get("type") or "")
        spilled = used >= max_property_columns
        spec = ColumnSpec(name, columns[name], logical_type_for(hubspot_type), hubspot_type, spilled)
        used += 0 if spilled else 1
        plan.specs[name] = spec
        plan.changed.append(spec)
        plan.renamed += spec.column_name != name
        (plan.spilled if spilled else plan.added).append(spec)
        plan.changes.append(
            SchemaChange(
                "column_spilled" if spilled else "column_added",
                name,
                spec.column_name,
                None,
                spec.logical_type.value,
            )
        )
    return plan


def _plan_type_change(plan: SchemaPlan, old: ColumnSpec, hubspot_type: str) -> None:
    """Record a HubSpot type change; widen the column to text when its logical type changes."""
    if hubspot_type == old.hubspot_type:
        return
    new_logical = widened_type(old.logical_type, logical_type_for(hubspot_type))
    spec = replace(old, hubspot_type=hubspot_type, logical_type=new_logical)
    plan.specs[old.property_name] = spec
    plan.changed.append(spec)
    widen = new_logical != old.logical_type and not old.spilled
    if widen:
        plan.widened.append(spec)
    plan.changes.append(
        SchemaChange(
            "column_widened" if widen else "hubspot_type_changed",
            old.property_name,
            old.column_name,
            f"{old.logical_type.value}:{old.hubspot_type}",
            f"{new_logical.value}:{hubspot_type}",
        )
    )
