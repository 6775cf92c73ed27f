"""Airflow triggers of the package (they run in the triggerer, which must import this package)."""
