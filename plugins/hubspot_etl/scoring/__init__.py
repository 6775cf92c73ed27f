"""Pipeline scoring: stage mapping, per-snapshot units, score history, snapshot registry.

The SQL ships as package data (``hubspot_etl/resources/sql/{postgres,bigquery}/scoring_*.sql``)
and runs through the destination's warehouse adapter (:mod:`hubspot_etl.scoring.sqlfiles`,
:mod:`hubspot_etl.operators.scoring`); this package holds what SQL files cannot do: seed the
stage mapping, copy the warehouse's live records into the snapshot's input tables (the
property columns are looked up in ``_hubspot_column_map``), and import historical exports.
See docs/scoring.md.
"""
