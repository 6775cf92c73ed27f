"""Development tools of airflow-hubspot-warehouse: never part of a deployment.

- :mod:`hubspot_devtools.local`: embedded PostgreSQL, Airflow environments and ``dag.test()`` runs;
- :mod:`hubspot_devtools.bigquery_emulator`: a local BigQuery (``bqemulator``);
- :mod:`hubspot_devtools.airflow_stack`: a real api-server, scheduler and dag-processor;
- :mod:`hubspot_devtools.demo`: the main job on embedded defaults (``scripts/demo.sh``);
- :mod:`hubspot_devtools.views`, :mod:`hubspot_devtools.score_report`: read-only warehouse views.

The HubSpot sandbox is its sibling package :mod:`hubspot_sandbox`. Both install from
``devtools/`` (``requirements-dev.txt``); the product wheel holds neither.
"""
