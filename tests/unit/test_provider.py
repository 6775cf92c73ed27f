"""The installed package registers a ``hubspot`` connection type with Airflow's ProvidersManager."""

from __future__ import annotations


def test_providers_manager_knows_the_hubspot_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-hubspot-warehouse" in manager.providers
    hook_info = manager.hooks["hubspot"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "hubspot_etl.hooks.hubspot.HubSpotHook"
    assert hook_info.connection_type == "hubspot"
    behaviour = manager.field_behaviours["hubspot"]
    assert "password" in behaviour["relabeling"]
    widgets = {name for name in manager.connection_form_widgets if name.startswith("extra__hubspot__")}
    assert "extra__hubspot__api_version" in widgets
