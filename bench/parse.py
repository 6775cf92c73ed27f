"""Parse cost of the DAG files, as a ratio to ``import airflow.sdk`` measured in the same run.

    python -m bench.parse [--repeat 7] [--config dags/hubspot_sync.yaml]

Each sample is a fresh interpreter that times ``import airflow.sdk`` (what every DAG file
needs first, and what the DAG processor and every task process pay anyway) and then the
import of ``hubspot_dags.py``, which builds every DAG of the config, on top of it. The ratio of
the two medians is the figure; absolute seconds vary with the machine, the ratio much less.
Target (issue 11): the DAG file costs at most 0.25 x ``import airflow.sdk``. No assertion: a
benchmark reports, it does not pass or fail.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = r"""
import json, runpy, sys, time
started = time.perf_counter()
import airflow.sdk
sdk = time.perf_counter() - started
started = time.perf_counter()
namespace = runpy.run_path(sys.argv[1], run_name="hubspot_dags")
dag_file = time.perf_counter() - started
dags = [k for k, v in namespace.items() if type(v).__name__ == "DAG"]
print("SAMPLE " + json.dumps({"sdk": sdk, "dag_file": dag_file, "dags": len(dags)}))
"""


def sample(dag_file: Path, env: dict[str, str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", SAMPLE, str(dag_file)], env=env, capture_output=True, text=True, check=True
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("SAMPLE "))
    return json.loads(line.removeprefix("SAMPLE "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--config", type=Path, default=REPO / "dags" / "hubspot_sync.yaml")
    args = parser.parse_args(argv)
    home = REPO / ".local" / "bench-parse-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "HUBSPOT_ETL_CONFIG": str(args.config.resolve()),
        "HUBSPOT_ETL_ENV": "",
    }
    sample(REPO / "dags" / "hubspot_dags.py", env)  # warm the file system cache and bytecode
    samples = [sample(REPO / "dags" / "hubspot_dags.py", env) for _ in range(args.repeat)]
    sdk = statistics.median(s["sdk"] for s in samples)
    dag_file = statistics.median(s["dag_file"] for s in samples)
    print(f"config: {args.config} ({samples[0]['dags']} DAGs), {args.repeat} fresh interpreters")
    print("| measure | median s | min s | max s |\n|---|---|---|---|")
    for key, label in (("sdk", "import airflow.sdk"), ("dag_file", "import hubspot_dags.py (after the SDK)")):
        values = [s[key] for s in samples]
        print(f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    print(f"\nratio DAG file / airflow.sdk: {dag_file / sdk:.3f} (target <= 0.25)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
