"""Failure notification hook point.

Every task of every generated DAG gets ``on_failure_callback = failure_callbacks(...)``:
a log line naming the DAG, task, run and cause, plus any callables or Notifier instances
named in the config's ``on_failure_callbacks`` list as ``"package.module:attribute"``
(e.g. a function that posts to Slack, or a configured ``SlackWebhookNotifier``).
Resolving them imports local code only, so it is safe at parse time.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)


def log_failure(context: Any) -> None:
    """Log one clear line per failed task; the exception text is already token-free."""
    ti = context.get("ti")
    exception = context.get("exception")
    log.error(
        "HubSpot sync failed: dag=%s task=%s run=%s try=%s cause=%s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "run_id", "?"),
        getattr(ti, "try_number", "?"),
        f"{type(exception).__name__}: {exception}" if exception else "unknown",
    )


def resolve_callable(path: str) -> Callable[..., Any]:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"on_failure_callbacks: {path!r} must look like 'package.module:attribute'")
    target = getattr(importlib.import_module(module_name), attribute)
    if not callable(target):
        raise ValueError(f"on_failure_callbacks: {path!r} is not callable")
    return target


def failure_callbacks(paths: Iterable[str] = ()) -> list[Callable[..., Any]]:
    return [log_failure, *(resolve_callable(path) for path in paths)]
