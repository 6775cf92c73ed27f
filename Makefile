# Convenience targets; each one bootstraps the project-local .venv first.
.PHONY: venv test test-fast test-matrix demo lint format sandbox bench bench-steps bundle

venv:
	bash scripts/bootstrap.sh

test:            ## the full suite (what CI runs)
	bash scripts/test.sh

test-matrix:     ## the wheel on every supported Airflow minor (3.0, 3.1, 3.2, 3.3), not only the oldest and newest
	HUBSPOT_ETL_AIRFLOW_MINORS=all bash scripts/test.sh tests/matrix

test-fast:       ## unit tests and DAG integrity only
	bash scripts/test.sh tests/unit tests/dags

demo:            ## the main job on embedded defaults: sandbox + embedded PostgreSQL
	bash scripts/demo.sh

lint: venv
	.venv/bin/ruff check plugins devtools dags tests bench
	.venv/bin/ruff format --check plugins devtools dags tests bench

format: venv
	.venv/bin/ruff check --fix plugins devtools dags tests bench
	.venv/bin/ruff format plugins devtools dags tests bench

sandbox: venv    ## a HubSpot sandbox on :8090 with a generated portal
	.venv/bin/python -m hubspot_sandbox serve --port 8090 --generate contacts=2000,companies=400,deals=600,tickets=300,custom=100 --seed 1

bench: venv      ## every benchmark and the table of its targets, met or not (docs/benchmarks.md; ~25 min)
	.venv/bin/python -m bench.all $(BENCH_ARGS)

bench-steps: venv  ## the step-level benchmark only: full load vs rate-limit floor, incremental calls, load vs naive
	.venv/bin/python -m bench.run $(BENCH_ARGS)

bundle: venv     ## dist/: the wheel and the MWAA, Composer 3 and Astronomer bundles (docs/deploy.md)
	.venv/bin/python -m hubspot_devtools.bundle $(BUNDLE_ARGS)
