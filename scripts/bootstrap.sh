#!/usr/bin/env bash
# Create or reuse the project-local virtualenv (.venv) and install everything the
# tests and the demo need, then the Snowflake emulator's own virtualenv
# (.local/fakesnow-venv). Safe to run repeatedly: each reinstalls only when its
# requirements changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv
STAMP="$VENV/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml devtools/pyproject.toml | sha256sum | cut -c1-16)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi

if [ ! -f "$STAMP" ]; then
  echo "bootstrap: installing requirements-dev.txt, the package and its devtools (editable)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r requirements-dev.txt -e . -e ./devtools
  # the editable builds leave egg-info in the source folders; on sys.path (the plugins folder
  # is), it would register the package's entry points a second time
  rm -rf plugins/*.egg-info devtools/*.egg-info
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi

# bqemulator needs DuckDB's spatial extension, which DuckDB cannot download here:
# copy the one shipped by the duckdb-extension-spatial wheel into DuckDB's extension dir.
"$VENV/bin/python" - <<'PY'
import pathlib, shutil
import duckdb
try:
    import duckdb_extension_spatial
except ImportError:
    raise SystemExit(0)
version = "v" + duckdb.__version__
src = next(pathlib.Path(duckdb_extension_spatial.__file__).parent.rglob("spatial.duckdb_extension"))
dst = pathlib.Path.home() / ".duckdb" / "extensions" / version / "linux_amd64" / "spatial.duckdb_extension"
if not dst.exists():
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    print(f"bootstrap: installed DuckDB spatial extension to {dst}")
PY

# The Snowflake emulator (fakesnow) in its own virtualenv: its DuckDB 2.0 cannot share the main
# venv with bqemulator's DuckDB 1.5 (devtools/requirements-fakesnow.txt; docs/snowflake.md).
FAKESNOW_VENV=.local/fakesnow-venv
FAKESNOW_STAMP="$FAKESNOW_VENV/.installed-$(sha256sum < devtools/requirements-fakesnow.txt | cut -c1-16)"
if [ ! -f "$FAKESNOW_STAMP" ]; then
  echo "bootstrap: installing the Snowflake emulator into $FAKESNOW_VENV"
  [ -x "$VENV/bin/uv" ] || "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
  if [ ! -x "$FAKESNOW_VENV/bin/python" ]; then
    UV_PYTHON_DOWNLOADS=never "$VENV/bin/uv" venv --quiet --python "$PYTHON" "$FAKESNOW_VENV"
  fi
  "$VENV/bin/uv" pip install --quiet --python "$FAKESNOW_VENV/bin/python" -r devtools/requirements-fakesnow.txt
  rm -f "$FAKESNOW_VENV"/.installed-*
  touch "$FAKESNOW_STAMP"
fi
