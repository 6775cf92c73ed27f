"""Every Airflow-version-specific import of the package, in one place.

Supported: Airflow 3.0 (3.0.6) to 3.3, the minors Cloud Composer 3, Amazon MWAA and
Astronomer offer. Names that moved between those minors are imported from where the
running Airflow has them:

* ``BaseHook``: ``airflow.sdk`` from 3.1 (task SDK 1.1), ``airflow.hooks.base`` on 3.0;
* ``CronDataIntervalTimetable``: ``airflow.sdk`` from 3.2, ``airflow.timetables.interval`` before;
* ``AirflowFailException``, ``AirflowNotFoundException``, ``AirflowSkipException``:
  ``airflow.sdk.exceptions`` from 3.2
  (``airflow.exceptions`` still re-exports them there, with a deprecation warning).

Everything else the package imports from Airflow (``DAG``, ``BaseOperator``, ``TaskGroup``,
``Asset``, ``Param``, ``ObjectStoragePath``, ``get_parsing_context``) is in ``airflow.sdk`` on
every supported minor.
"""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION  # noqa: N812 - a constant

try:
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.0 and 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException
except ImportError:  # Airflow 3.0 and 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
    )

#: the Airflow versions this package is tested on (``pyproject.toml`` declares the same range)
SUPPORTED_AIRFLOW = ">=3.0.6,<3.4"

__all__ = [
    "AIRFLOW_VERSION",
    "SUPPORTED_AIRFLOW",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "BaseHook",
    "CronDataIntervalTimetable",
]
