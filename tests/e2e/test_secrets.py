"""The HubSpot token never leaves the connection: not in task logs, exception texts, XComs,
rendered templates, Airflow's metadata rows or the warehouse's run-report/sync-state tables.

Four real runs of ``hubspot_contacts`` against a sandbox that knows only this module's tokens:

1. a successful run (the real token);
2. a wrong token: HubSpot answers 401, ``prepare`` fails at once (no retries, well under 30 s)
   and the error says the token is invalid;
3. a token without ``crm.objects.contacts.read``: 403, the error names the missing scope;
4. a 5xx storm (every public request fails): the hook retries ``max_retries`` times with a
   tiny backoff (connection extras) and then fails the task.

Everything those runs leave behind is collected (``dag.test()`` writes task logs to stdout, so
they are captured with ``capfd``; files under ``$AIRFLOW_HOME/logs`` are read too, if any) and
searched for every token and for its distinctive middle part. Each kind of material must be
non-empty, so the search can fail. The tokens differ in shape on purpose: the real one looks like
a private-app token (``pat-na1-...``, also caught by the redaction pattern), the others match no
pattern and are only hidden if the hook registers every token it loads.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hubspot_devtools import local
from hubspot_etl.hooks.errors import HubSpotError
from hubspot_etl.hooks.hubspot import HubSpotHook
from hubspot_sandbox import ALL_SCOPES, SandboxConfig
from psycopg import sql

TOKEN = "pat-na1-SECRET4b7e19c2d5-0000-4c1e-xyz"
WRONG_TOKEN = "WRONGSECRET93a1f0c7e2xyz"
NOSCOPE_TOKEN = "CNoScopeSECRET5d2c8e1a7bxyz"
CONTACTS_SCOPE = "crm.objects.contacts.read"
#: what must never appear: each token, and its distinctive middle (a partial or re-encoded leak)
NEEDLES = [
    TOKEN,
    "SECRET4b7e19c2d5",
    WRONG_TOKEN,
    "WRONGSECRET93a1f0c7e2",
    NOSCOPE_TOKEN,
    "NoScopeSECRET5d2c8e1a7b",
]
FAST_FAIL_S = 30.0
STORM_EXTRAS = {"max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02}


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        tokens={
            TOKEN: list(ALL_SCOPES),
            NOSCOPE_TOKEN: [s for s in ALL_SCOPES if s != CONTACTS_SCOPE],
        },
        rate_limit_max=None,
        search_per_second=None,
    )


class Evidence:
    """Texts to search, by kind (``task logs``, ``xcom``, ...) and label."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def add(self, kind: str, label: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
        self.items.append((kind, label, text))

    def size(self, kind: str) -> int:
        return sum(len(text) for k, _, text in self.items if k == kind)

    def leaks(self) -> list[str]:
        found = []
        for kind, label, text in self.items:
            for needle in NEEDLES:
                at = text.find(needle)
                if at >= 0:
                    found.append(f"{kind} / {label}: {needle!r} in ...{text[max(0, at - 120) : at + 60]!r}")
        return found


def use_token(monkeypatch: pytest.MonkeyPatch, env, token: str, **extra: Any) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(local.hubspot_connection(env.sandbox.url, token, **extra))
    )


def _rows(model: Any, session: Any, *filters: Any) -> Iterator[dict[str, Any]]:
    for row in session.query(model).filter(*filters).all():
        yield {c.name: getattr(row, c.key, None) for c in model.__table__.columns}


def collect_metadata(dag_run: Any, evidence: Evidence, label: str) -> None:
    """XComs, rendered template fields, task instances and audit-log rows of one run.

    Must run before the next ``dag.test()`` of the same DAG: it clears the DAG's earlier task
    instances (and with them their XComs and rendered fields).
    """
    from airflow.models.log import Log
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    of_run = (dag_run.dag_id, dag_run.run_id)
    with create_session() as session:
        for row in _rows(XComModel, session, XComModel.dag_id == of_run[0], XComModel.run_id == of_run[1]):
            evidence.add("xcom", f"{label} {row['task_id']}.{row['key']}", row)
        for row in _rows(
            RenderedTaskInstanceFields,
            session,
            RenderedTaskInstanceFields.dag_id == of_run[0],
            RenderedTaskInstanceFields.run_id == of_run[1],
        ):
            evidence.add("rendered templates", f"{label} {row['task_id']}", row)
        for row in _rows(
            TaskInstance, session, TaskInstance.dag_id == of_run[0], TaskInstance.run_id == of_run[1]
        ):
            evidence.add("airflow metadata", f"{label} task instance {row['task_id']}", row)
        for row in _rows(Log, session, Log.dag_id == of_run[0]):
            evidence.add("airflow metadata", f"{label} audit log {row['event']}", row)
    evidence.add("airflow metadata", f"{label} dag run conf", dag_run.conf or {})
    serialized = SerializedDagModel.get(dag_run.dag_id)
    if serialized is not None:
        evidence.add("airflow metadata", f"{label} serialized dag", serialized.data)


def templated_tasks(dag_id: str) -> list[str]:
    """Tasks that have template fields (and so must have rendered-field rows)."""
    dag = local.load_dag(dag_id)
    return [t.task_id for t in dag.tasks if any(getattr(t, f, None) for f in t.template_fields)]


def flush() -> None:
    """Python-level buffers to the file descriptors, so ``capfd`` sees all of a run's output."""
    sys.stdout.flush()
    sys.stderr.flush()


def run_collecting(
    env, capfd, caplog, evidence: Evidence, label: str, expect: str, **params: Any
) -> tuple[Any, str, float]:
    """Run ``hubspot_contacts`` and collect its logs and metadata; returns (dag run, logs, seconds)."""
    flush()
    capfd.readouterr()  # forget earlier output
    caplog.clear()
    started = time.monotonic()
    dag_run = env.run("hubspot_contacts", expect=expect, **params)
    elapsed = time.monotonic() - started
    flush()
    out, err = capfd.readouterr()
    logs = out + err + caplog.text  # structlog writes to stdout; stdlib records also reach caplog
    evidence.add("task logs", label, logs)
    collect_metadata(dag_run, evidence, label)
    return dag_run, logs, elapsed


def collect_warehouse(env, evidence: Evidence) -> None:
    """Every row of every table in the warehouse schema (run report and sync state must exist)."""
    with psycopg.connect(env.pg.uri) as conn:
        tables = [
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [env.schema])
        ]
        assert {"_hubspot_run_report", "_hubspot_sync_state"} <= set(tables), tables
        for table in tables:
            for row in conn.execute(
                sql.SQL("SELECT to_jsonb(t)::text FROM {} t").format(sql.Identifier(env.schema, table))
            ):
                kind = (
                    "warehouse report/state"
                    if table in ("_hubspot_run_report", "_hubspot_sync_state")
                    else "warehouse"
                )
                evidence.add(kind, table, row[0])


def collect_log_files(evidence: Evidence) -> int:
    """Task log files under $AIRFLOW_HOME/logs (``dag.test()`` normally writes none)."""
    count = 0
    for path in Path(os.environ["AIRFLOW_HOME"], "logs").rglob("*"):
        if path.is_file():
            evidence.add("log files", str(path), path.read_text(errors="replace"))
            count += 1
    return count


def hook_failure(env, monkeypatch, token: str, **extra: Any) -> HubSpotError:
    """Call the hook directly and return the typed error, collecting nothing yet."""
    use_token(monkeypatch, env, token, **extra)
    hook = HubSpotHook()
    with pytest.raises(HubSpotError) as info:
        hook.get_properties("contacts")
    return info.value


def exception_texts(exc: BaseException, hook: HubSpotHook | None = None) -> list[str]:
    texts = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    texts.append(json.dumps(vars(exc), default=str))
    if hook is not None:
        texts += [repr(hook), repr(hook.settings)]
    return texts


@pytest.mark.portal(contacts=30, companies=3, deals=3, tickets=2, custom=2, extra_properties=2)
def test_token_never_leaks_on_success_and_failures(sync_env, monkeypatch, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    env, evidence = sync_env, Evidence()
    env.write_config({"contacts": {}}, retries=0)

    # 1. success
    use_token(monkeypatch, env, TOKEN)
    dag_run, logs, _ = run_collecting(env, capfd, caplog, evidence, "success", "success")
    assert env.report(dag_run)["status"] == "healthy"
    templated = templated_tasks("hubspot_contacts")
    rendered = {label.split()[-1] for kind, label, _ in evidence.items if kind == "rendered templates"}
    assert set(templated) <= rendered, f"templated tasks without rendered fields: {set(templated) - rendered}"

    # 2. wrong token: 401, prepare fails fast, no retries
    use_token(monkeypatch, env, WRONG_TOKEN)
    env.sandbox.reset_counters()
    dag_run, logs, elapsed = run_collecting(env, capfd, caplog, evidence, "wrong token", "failed")
    states = local.task_states(dag_run)
    assert states["prepare"] == "failed", states
    assert elapsed < FAST_FAIL_S, f"a 401 took {elapsed:.1f}s to fail"
    assert env.sandbox.counters().get("responses.401") == 1, "a 401 must not be retried"
    assert "HubSpotAuthError" in logs and "invalid" in logs.lower()

    # 3. missing scope: 403 naming the scope
    use_token(monkeypatch, env, NOSCOPE_TOKEN)
    dag_run, logs, elapsed = run_collecting(env, capfd, caplog, evidence, "missing scope", "failed")
    states = local.task_states(dag_run)
    assert states["prepare"] == "failed", states
    assert elapsed < FAST_FAIL_S
    assert "HubSpotScopeError" in logs and CONTACTS_SCOPE in logs

    # 4. 5xx storm: the hook retries max_retries times, then the task fails
    use_token(monkeypatch, env, TOKEN, **STORM_EXTRAS)
    env.sandbox.config.fault_5xx_rate = 1.0
    env.sandbox.reset_counters()
    try:
        dag_run, logs, elapsed = run_collecting(env, capfd, caplog, evidence, "5xx storm", "failed")
    finally:
        env.sandbox.config.fault_5xx_rate = 0.0
    states = local.task_states(dag_run)
    assert states["prepare"] == "failed", states
    assert env.sandbox.counters().get("faults.5xx") == STORM_EXTRAS["max_retries"] + 1
    assert "HubSpotServerError" in logs and "retry 2/2" in logs
    assert elapsed < FAST_FAIL_S

    # exception texts, straight from the hook (str, repr, args, traceback with its chain, attributes)
    for label, token, extra in [
        ("401", WRONG_TOKEN, {}),
        ("403", NOSCOPE_TOKEN, {}),
    ]:
        exc = hook_failure(env, monkeypatch, token, **extra)
        for text in exception_texts(exc):
            evidence.add("exceptions", label, text)
    env.sandbox.config.fault_5xx_rate = 1.0
    try:
        use_token(monkeypatch, env, TOKEN, **STORM_EXTRAS)
        hook = HubSpotHook()
        with pytest.raises(HubSpotError) as info:
            hook.get_properties("contacts")
        for text in exception_texts(info.value, hook):
            evidence.add("exceptions", "5xx", text)
    finally:
        env.sandbox.config.fault_5xx_rate = 0.0

    collect_warehouse(env, evidence)
    log_files = collect_log_files(evidence)

    # the material is real: every kind was searched and is not empty
    for kind in ("task logs", "xcom", "airflow metadata", "exceptions", "warehouse report/state"):
        assert evidence.size(kind) > 1000, f"nothing to search in {kind}"
    assert evidence.size("rendered templates") > 0 or not templated
    assert log_files == 0 or evidence.size("log files") > 0
    # ... and the search would find a token if it were there
    probe = Evidence()
    probe.add("probe", "probe", f"Authorization: {TOKEN[:8]}{TOKEN[8:]}")
    assert probe.leaks()

    leaks = evidence.leaks()
    assert leaks == [], "token leaked:\n" + "\n".join(leaks)
