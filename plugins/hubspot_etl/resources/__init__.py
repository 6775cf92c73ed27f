"""Files shipped inside the package: the scoring SQL, the stage mapping and the default config.

They are package data, read with :mod:`importlib.resources`, so they are found wherever the
package is installed (a wheel on Composer, MWAA or Astronomer, an editable install, or the
plugins folder of the compose stack). No path is computed from a repository layout::

    sql/postgres/scoring_*.sql, sql/bigquery/scoring_*.sql   the scoring steps (docs/scoring.md)
    stage_mapping.yaml                                       seeds hs_stage_mapping
    hubspot_sync.yaml                                        the default sync config
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

DEFAULT_CONFIG = "hubspot_sync.yaml"
DEFAULT_STAGE_MAPPING = "stage_mapping.yaml"


def resource(relative: str) -> Traversable:
    """The packaged file ``relative`` (``/``-separated); FileNotFoundError names it if absent."""
    node = files(__name__)
    for part in relative.split("/"):
        node = node / part
    if not node.is_file():
        raise FileNotFoundError(f"{relative} is not among the package's resources ({__name__})")
    return node


def read_text(relative: str) -> str:
    """Text of the packaged file ``relative``."""
    return resource(relative).read_text(encoding="utf-8")
