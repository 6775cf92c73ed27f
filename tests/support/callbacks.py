"""A failure callback for tests: appends the failed task and its cause to a JSON-lines file."""

from __future__ import annotations

import json
import os


def record_failure(context) -> None:
    ti = context["ti"]
    with open(os.environ["HUBSPOT_TEST_FAILURE_FILE"], "a", encoding="utf-8") as handle:
        handle.write(
            json.dumps({"dag_id": ti.dag_id, "task_id": ti.task_id, "cause": str(context.get("exception"))})
            + "\n"
        )
