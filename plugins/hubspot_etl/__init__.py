"""HubSpot CRM -> PostgreSQL / BigQuery / Snowflake for Apache Airflow 3 (3.0 to 3.3).

The package holds the HubSpot hook, the operators, the sync steps, the warehouse adapters,
scoring, the config model and its packaged resources. Installed (a wheel on Composer, MWAA or
Astronomer; editable for development) it registers two entry points: ``apache_airflow_provider``
below, which gives Airflow a "HubSpot" connection form, and ``airflow.plugins``
(:mod:`hubspot_etl.airflow_plugin`). The local HubSpot sandbox and the development tools live
in the separate ``devtools/`` distribution and are never deployed.
"""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    from hubspot_etl.hooks.connection_form import connection_type_info

    return {
        "package-name": "airflow-hubspot-warehouse",
        "name": "HubSpot Warehouse",
        "description": "Sync HubSpot CRM objects into PostgreSQL, BigQuery and Snowflake.",
        "versions": [__version__],
        "connection-types": [connection_type_info()],
    }
