"""Find and read the scoring SQL files and the stage mapping file.

``include/`` is not part of the installed package and is not deployed by Cloud Composer or
MWAA (only ``dags/`` and ``plugins/`` are). The files are therefore looked up, in order:

1. ``$HUBSPOT_ETL_INCLUDE_DIR`` (point it at a copy of ``include/``, e.g. in the DAGs bucket);
2. ``include/`` next to ``dags/`` of the Airflow DAGs folder (``$AIRFLOW__CORE__DAGS_FOLDER/../include``)
   and inside it (``dags/include``: copy ``include/`` into the DAGs bucket on Composer/MWAA);
3. the repository's ``include/`` (``plugins/hubspot_etl/../../include``), for docker compose,
   the tests and the demo.

The operators read a file's text when the DAG is parsed and pass it as the operator's
``sql`` (so no ``template_searchpath`` is needed); Jinja then renders only
``{{ params.schema }}`` / ``{{ params.project }}`` / ``{{ params.dataset }}``. Values such
as the snapshot id are bound query parameters.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

INCLUDE_ENV_VAR = "HUBSPOT_ETL_INCLUDE_DIR"
_REPO_INCLUDE = Path(__file__).resolve().parents[3] / "include"


def include_dirs() -> list[Path]:
    """Candidate ``include/`` directories, in lookup order."""
    dirs: list[Path] = []
    if os.environ.get(INCLUDE_ENV_VAR):
        dirs.append(Path(os.environ[INCLUDE_ENV_VAR]))
    dags_folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if dags_folder:
        dirs += [Path(dags_folder).parent / "include", Path(dags_folder) / "include"]
    dirs.append(_REPO_INCLUDE)
    return dirs


def include_path(relative: str) -> Path:
    """The first existing ``<include>/<relative>``; FileNotFoundError lists where it looked."""
    tried = []
    for base in include_dirs():
        candidate = base / relative
        if candidate.is_file():
            return candidate
        tried.append(str(candidate))
    raise FileNotFoundError(f"{relative} not found; looked in: {', '.join(tried)} (set ${INCLUDE_ENV_VAR})")


@lru_cache(maxsize=64)
def _read(path: str, mtime: float) -> str:
    return Path(path).read_text(encoding="utf-8")


def read_sql(dialect: str, name: str) -> str:
    """Text of ``include/sql/<dialect>/<name>.sql``."""
    path = include_path(f"sql/{dialect}/{name}.sql")
    return _read(str(path), path.stat().st_mtime)
