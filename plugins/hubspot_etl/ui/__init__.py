"""The "HubSpot syncs" page of the Airflow 3 UI: a FastAPI app (:mod:`.api`) over the
warehouse's run-report, sync-state and scoring tables (:mod:`.data`), and one static page.

Imported only by the API server, when it mounts the plugin's FastAPI app.
"""
