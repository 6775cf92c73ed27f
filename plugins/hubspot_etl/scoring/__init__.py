"""Pipeline scoring: stage mapping, per-snapshot units, score history, snapshot registry.

The SQL lives in ``include/sql/{postgres,bigquery}/scoring_*.sql`` and runs through Airflow's
SQL operators (see :mod:`hubspot_etl.operators.scoring`); this package holds what SQL
files cannot do: locate those files, seed the mapping from ``include/stage_mapping.yaml``,
copy the warehouse's live records into the snapshot's input tables (the property columns
are looked up in ``_hubspot_column_map``), import historical exports, and report.
See docs/scoring.md.
"""
