"""Virtualenvs of every supported Airflow minor, with the built product wheel installed.

The proof that the package runs where its users run Airflow (``tests/matrix``): for each minor
a fresh virtualenv holds that Airflow, the providers that install with it, and the wheel
(not an editable install), and a DAGs folder holds only the bundle's ``dags/``.

Dependencies: everything is resolved as PyPI stood the day that Airflow patch was released
(uv's ``--exclude-newer``), which is what its constraints file, and so the MWAA, Composer and
Astro Runtime images of that minor, carry, give or take a patch release; the providers are
pinned to the versions current that day. The oldest minor thereby also gets the oldest
providers the wheel admits. (Without it, today's FastAPI and cadwyn break Airflow 3.0.6's own
execution API.)

Virtualenvs are cached under ``.local/airflow-matrix/<minor>-<key>``; the key hashes what they
install (Airflow and provider pins, the wheel's own requirements, the Python and uv versions),
so a warm run only reinstalls the wheel. Older keys of the same minor are removed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ROOT = REPO_ROOT / ".local" / "airflow-matrix"
PACKAGE = "airflow-hubspot-warehouse"


@dataclass(frozen=True)
class AirflowMinor:
    """One supported Airflow minor: the patch release and the provider pins it is tested with."""

    minor: str
    airflow: str
    #: nothing uploaded to PyPI after this is installed: the end of the Airflow patch's release day, or for the
    #: newest minor the day its provider pins (those of requirements.txt) were released
    released: str
    providers: dict[str, str]

    def requirements(self) -> list[str]:
        pins = {"apache-airflow": self.airflow, **self.providers}
        return [f"{name}=={version}" for name, version in sorted(pins.items())]


MINORS: dict[str, AirflowMinor] = {
    m.minor: m
    for m in (
        AirflowMinor(
            "3.0",
            "3.0.6",
            "2025-08-30T00:00:00Z",
            {
                "apache-airflow-providers-postgres": "6.2.3",
                "apache-airflow-providers-google": "17.1.0",
                "apache-airflow-providers-common-sql": "1.27.5",
            },
        ),
        AirflowMinor(
            "3.1",
            "3.1.8",
            "2026-03-12T00:00:00Z",
            {
                "apache-airflow-providers-postgres": "6.6.0",
                "apache-airflow-providers-google": "20.0.0",
                "apache-airflow-providers-common-sql": "1.32.0",
            },
        ),
        AirflowMinor(
            "3.2",
            "3.2.2",
            "2026-05-30T00:00:00Z",
            {
                "apache-airflow-providers-postgres": "6.7.0",
                "apache-airflow-providers-google": "22.0.0",
                "apache-airflow-providers-common-sql": "2.0.0",
            },
        ),
        AirflowMinor(
            "3.3",
            "3.3.2",
            "2026-10-25T00:00:00Z",
            {
                "apache-airflow-providers-postgres": "7.1.1",
                "apache-airflow-providers-google": "22.8.0",
                "apache-airflow-providers-common-sql": "2.4.0",
            },
        ),
    )
}
#: what every test run covers (the oldest and the newest); ``all`` selects every minor
DEFAULT_MINORS = ("3.0", "3.3")
MINORS_ENV_VAR = "HUBSPOT_ETL_AIRFLOW_MINORS"


def selected_minors(value: str | None = None) -> list[AirflowMinor]:
    """The minors named by ``value`` (or ``$HUBSPOT_ETL_AIRFLOW_MINORS``): ``all`` or ``3.0,3.3``."""
    value = value if value is not None else os.environ.get(MINORS_ENV_VAR, "")
    if not value.strip():
        names: list[str] = list(DEFAULT_MINORS)
    elif value.strip() == "all":
        names = list(MINORS)
    else:
        names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in MINORS]
    if unknown:
        raise ValueError(f"unknown Airflow minor(s) {unknown}; supported: {', '.join(MINORS)} or 'all'")
    return [MINORS[n] for n in names]


def uv_binary() -> str:
    """``uv`` beside the running interpreter (the project venv has it), else on PATH."""
    candidate = Path(sys.executable).with_name("uv")
    found = str(candidate) if candidate.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv is not installed: run scripts/bootstrap.sh")
    return found


def build_wheel(out_dir: Path) -> Path:
    """Build the product wheel from the repository into ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("airflow_hubspot_warehouse-*.whl"):
        old.unlink()
    subprocess.run(
        [uv_binary(), "build", "--wheel", "--out-dir", str(out_dir), "--quiet", str(REPO_ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out_dir.glob("airflow_hubspot_warehouse-*.whl")
    return wheel


def wheel_requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel (its install requirements)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    return sorted(metadata.get_all("Requires-Dist") or [])


def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(archive.namelist())


def _uv_version() -> str:
    return subprocess.run(
        [uv_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def venv_key(minor: AirflowMinor, wheel: Path) -> str:
    """A short hash of everything the virtualenv installs (not of the wheel's code)."""
    material = {
        "requirements": minor.requirements(),
        "exclude_newer": minor.released,
        "wheel_requires": wheel_requirements(wheel),
        "python": sys.version.split()[0],
        "uv": _uv_version(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class MatrixVenv:
    minor: AirflowMinor
    path: Path
    created: bool  # False: the cached virtualenv was reused
    seconds: float

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def airflow(self) -> Path:
        return self.path / "bin" / "airflow"


def ensure_venv(minor: AirflowMinor, wheel: Path, cache_root: Path = CACHE_ROOT) -> MatrixVenv:
    """The cached virtualenv of ``minor`` with ``wheel`` installed (created when missing)."""
    started = time.monotonic()
    key = venv_key(minor, wheel)
    target = cache_root / f"{minor.minor}-{key}"
    created = not (target / ".complete").exists()
    if created:
        # a half-built one (no marker) and other keys of this minor go; scripts in a virtualenv
        # carry its absolute path, so it is built where it stays
        for stale in cache_root.glob(f"{minor.minor}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        cache_root.mkdir(parents=True, exist_ok=True)
        _run([uv_binary(), "venv", "--quiet", "--python", sys.executable, str(target)])
        _install(target, minor, wheel)
        (target / ".complete").write_text(json.dumps({"requirements": minor.requirements()}))
    else:
        # the wheel's code changes with every commit; its requirements are part of the key
        _install(target, minor, wheel, reinstall=PACKAGE)
    return MatrixVenv(minor, target, created, time.monotonic() - started)


def _install(venv: Path, minor: AirflowMinor, wheel: Path, reinstall: str | None = None) -> None:
    command = [uv_binary(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    command += ["--exclude-newer", minor.released]
    if reinstall:
        command += ["--reinstall-package", reinstall]
    _run([*command, *minor.requirements(), str(wheel)])


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def installed_versions(venv: MatrixVenv) -> dict[str, str]:
    """Versions of Airflow, the providers and the wheel inside a matrix virtualenv."""
    names = ["apache-airflow", *venv.minor.providers, "apache-airflow-task-sdk", "sqlalchemy", PACKAGE]
    code = (
        "import json, importlib.metadata as m, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [str(venv.python), "-c", code, *names], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    """Build the wheel and prepare the virtualenvs of the chosen minors (what the tests use)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minors", default=None, help="'all' or a list such as 3.0,3.3 (default: 3.0,3.3)")
    args = parser.parse_args(argv)
    wheel = build_wheel(REPO_ROOT / ".local" / "matrix-wheel")
    for minor in selected_minors(args.minors):
        venv = ensure_venv(minor, wheel)
        state = "created" if venv.created else "reused"
        print(f"{minor.minor}: {state} {venv.path} in {venv.seconds:.1f}s: {installed_versions(venv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
