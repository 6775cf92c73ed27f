"""The logger every HubSpot hook module writes to.

One name for all of them, ``hubspot_etl.hooks.hubspot`` (the hook's module, where logging
configurations look for it). Airflow routes stdlib records into task logs; the filter scrubs
every record of registered tokens and bearer credentials first.
"""

from __future__ import annotations

import logging

from hubspot_etl.hooks.errors import RedactingFilter

logger = logging.getLogger("hubspot_etl.hooks.hubspot")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())
