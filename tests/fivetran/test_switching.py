"""Switching the schema style of an existing schema fails, naming the cause and the migration.

The style is recorded in the native schema at the first sync (``_hubspot_settings``); the
views' schema must not hold a native-style sync (its ``_hubspot_sync_state`` table).
"""

from __future__ import annotations

import pytest
from hubspot_etl.operators.failures import permanent_cause
from hubspot_etl.warehouse.fivetran import SchemaStyleError

from tests.fivetran.conftest import KINDS, FivetranEnv

CONTACTS_ONLY = {"contacts": {}}


def use(env: FivetranEnv, style: str, schema: str | None = None, native_schema: str | None = None) -> None:
    env.style = style
    if schema:
        env.schema = schema
    env.destination_extra.pop("native_schema", None)
    if native_schema:
        env.destination_extra["native_schema"] = native_schema


@pytest.mark.parametrize("warehouse_kind", KINDS, indirect=True)
def test_fivetran_style_on_a_native_schema_fails_and_names_the_migration(
    ft: FivetranEnv, warehouse_kind
) -> None:
    ft.objects = CONTACTS_ONLY
    use(ft, "native")
    ft.sync("contacts")
    native_tables = ft.views()  # the native sync's tables, in the schema the views would take

    use(ft, "fivetran")
    with pytest.raises(
        SchemaStyleError, match=r"holds a native-style sync \(its _hubspot_sync_state table\)"
    ) as err:
        ft.sync("contacts")
    assert "README#fivetran-compatible-schema" in str(err.value)
    cause = permanent_cause(err.value, ft.config().object("contacts"))
    assert cause and cause.startswith("Invalid sync configuration:")  # failed at once, not retried
    assert ft.views() == native_tables, "nothing was created in the native sync's schema"


@pytest.mark.parametrize("warehouse_kind", ["postgres"], indirect=True)
def test_a_recorded_native_style_is_kept(ft: FivetranEnv, warehouse_kind) -> None:
    """Pointing native_schema at a native-style schema: its recorded style differs."""
    ft.objects = CONTACTS_ONLY
    base = ft.schema
    use(ft, "native", schema=f"{base}_other_native")
    ft.sync("contacts")
    use(ft, "fivetran", schema=f"{base}_other", native_schema=f"{base}_other_native")
    with pytest.raises(SchemaStyleError, match="was first synced with schema_style: native"):
        ft.sync("contacts")


@pytest.mark.parametrize("warehouse_kind", ["postgres"], indirect=True)
def test_native_style_on_a_fivetran_schema_fails(ft: FivetranEnv, warehouse_kind) -> None:
    ft.objects = CONTACTS_ONLY
    base = ft.schema
    ft.sync("contacts")  # fivetran: views in <base>, tables in <base>_native

    use(ft, "native", schema=base)  # the views' schema
    with pytest.raises(SchemaStyleError, match="holds Fivetran-style views"):
        ft.sync("contacts")
    use(ft, "native", schema=f"{base}_native")  # the native tables, now without their views
    with pytest.raises(SchemaStyleError, match="native tables of a schema_style: fivetran sync"):
        ft.sync("contacts")
    use(ft, "fivetran", schema=f"{base}_other", native_schema=f"{base}_native")  # views elsewhere
    with pytest.raises(SchemaStyleError, match=f"publish their Fivetran-style views in '{base}'"):
        ft.sync("contacts")

    use(ft, "fivetran", schema=base)  # back as it was: syncs again
    assert ft.sync("contacts")["mode"] == "incremental"
