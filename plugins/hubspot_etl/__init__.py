"""HubSpot CRM -> PostgreSQL / BigQuery for Apache Airflow 3.

The package holds the HubSpot hook, the operators, the warehouse adapters and a local
HubSpot sandbox. It is importable as ``hubspot_etl`` from the plugins folder or, once
installed with ``pip install -e .``, from anywhere; the ``apache_airflow_provider`` entry
point below makes Airflow show a "HubSpot" connection form.
"""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    from hubspot_etl.hooks.connection_form import connection_type_info

    return {
        "package-name": "airflow-hubspot-warehouse",
        "name": "HubSpot Warehouse",
        "description": "Sync HubSpot CRM objects into PostgreSQL and BigQuery.",
        "versions": [__version__],
        "connection-types": [connection_type_info()],
    }
