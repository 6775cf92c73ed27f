"""A local Snowflake: fakesnow (DuckDB-backed, speaks the Snowflake connector's REST protocol).

Used by the tests (``snowflake_emulator`` and ``snowflake_conn_factory`` in tests/conftest.py)
and meant for the demo. The official ``snowflake-connector-python`` talks to it with only the
host, port and protocol changed. What it does and does not emulate: docs/snowflake.md.

fakesnow cannot live in the main venv (it needs DuckDB 2.0, bqemulator DuckDB 1.5), so it runs
as a server from its own virtualenv, ``.local/fakesnow-venv``, made by ``scripts/bootstrap.sh``
(``HUBSPOT_FAKESNOW_PYTHON`` names another interpreter). The server process
(:mod:`hubspot_devtools.fakesnow_server`) listens twice on one set of databases:

- plain HTTP, for :meth:`LocalSnowflake.connect` (``protocol="http"``);
- HTTPS with a certificate made at start, for the Airflow provider's ``SnowflakeHook``, which
  reads ``account``, ``host``, ``port`` and ``insecure_mode`` from the connection's extras but
  never a protocol. The connector trusts that certificate only through ``REQUESTS_CA_BUNDLE``
  (not ``SSL_CERT_FILE``): :meth:`LocalSnowflake.env` gives it, a bundle of the usual CAs plus
  the emulator's, so setting it process-wide breaks no real HTTPS client.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKESNOW_VENV = REPO_ROOT / ".local" / "fakesnow-venv"
SERVER_SCRIPT = Path(__file__).with_name("fakesnow_server.py")
ACCOUNT = "fakesnow"
USER = "fakesnow"
PASSWORD = "snow"
HOST = "localhost"


@dataclass
class LocalSnowflake:
    process: subprocess.Popen
    port: int
    tls_port: int
    workdir: Path
    ca_bundle: Path
    log_path: Path
    host: str = HOST
    _owns_workdir: bool = field(default=False, repr=False)

    def connect_params(self, database: str | None = None, schema: str | None = None) -> dict[str, Any]:
        """Keyword arguments of ``snowflake.connector.connect`` for the plain-HTTP port."""
        params: dict[str, Any] = {
            "account": ACCOUNT,
            "user": USER,
            "password": PASSWORD,
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "login_timeout": 30,
            "network_timeout": 300,
        }
        if database:
            params["database"] = database
        if schema:
            params["schema"] = schema
        return params

    def connect(self, database: str | None = None, schema: str | None = None, **kwargs: Any) -> Any:
        """A real ``snowflake.connector`` connection to the emulator."""
        import snowflake.connector

        return snowflake.connector.connect(**{**self.connect_params(database, schema), **kwargs})

    def airflow_connection(self, database: str | None = None, schema: str | None = None) -> dict[str, Any]:
        """The emulator as an Airflow ``snowflake`` connection (JSON form of ``AIRFLOW_CONN_*``).

        It points at the HTTPS port: the process that uses it needs :meth:`env`.
        """
        extra: dict[str, Any] = {
            "account": ACCOUNT,
            "host": self.host,
            "port": self.tls_port,
            # no OCSP responder for a local certificate
            "insecure_mode": True,
        }
        if database:
            extra["database"] = database
        conn: dict[str, Any] = {"conn_type": "snowflake", "login": USER, "password": PASSWORD, "extra": extra}
        if schema:
            conn["schema"] = schema
        return conn

    def create_database(self, name: str, schema: str = "PUBLIC") -> None:
        """``CREATE DATABASE`` and its schema (fakesnow makes no PUBLIC schema; Snowflake does)."""
        conn = self.connect()
        try:
            conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {name}")
            conn.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {name}.{schema}")
        finally:
            conn.close()

    def drop_database(self, name: str) -> None:
        """Drop a database; fakesnow 0.12 cannot parse ``DROP DATABASE``, so drop its schemas."""
        import snowflake.connector

        conn = self.connect()
        try:
            cur = conn.cursor()
            try:
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
            except snowflake.connector.ProgrammingError:
                schemas = cur.execute(
                    f"SELECT schema_name FROM {name}.information_schema.schemata "  # noqa: S608
                    "WHERE schema_name <> 'INFORMATION_SCHEMA'"
                ).fetchall()
                for (schema,) in schemas:
                    cur.execute(f'DROP SCHEMA IF EXISTS {name}."{schema}" CASCADE')
        finally:
            conn.close()

    def env(self) -> dict[str, str]:
        """Environment a process needs to reach the HTTPS port (the Airflow connection)."""
        return {"REQUESTS_CA_BUNDLE": str(self.ca_bundle)}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def fakesnow_python() -> Path:
    """The interpreter of the fakesnow virtualenv; a clear error when it is missing."""
    configured = os.environ.get("HUBSPOT_FAKESNOW_PYTHON")
    python = Path(configured) if configured else FAKESNOW_VENV / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"the Snowflake emulator's virtualenv is missing ({python}): run scripts/bootstrap.sh"
        )
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 and a CA bundle that adds it.

    The bundle starts from the current ``REQUESTS_CA_BUNDLE`` (or certifi's), so it trusts
    everything the process trusted before.
    """
    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hubspot-devtools local Snowflake")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path, bundle_path = (
        directory / "key.pem",
        directory / "cert.pem",
        directory / "ca-bundle.pem",
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(cert_pem)
    base = os.environ.get("REQUESTS_CA_BUNDLE") or ""
    base_path = Path(base) if base and Path(base).is_file() else Path(certifi.where())
    bundle_path.write_bytes(base_path.read_bytes().rstrip(b"\n") + b"\n" + cert_pem)
    return key_path, cert_path, bundle_path


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_snowflake_emulator(
    data_dir: str | os.PathLike[str] | None = None, timeout_s: float = 60.0
) -> LocalSnowflake:
    """Start fakesnow on two free ports and wait until the connector can run a query on it.

    ``data_dir``: where the databases are kept (one DuckDB file each) and the log, certificate
    and stage files go; ``None`` keeps the databases in memory and the rest in a temporary
    folder removed by :meth:`LocalSnowflake.stop`.
    """
    python = fakesnow_python()
    owns = data_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="hubspot-snowflake-")) if owns else Path(data_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    runtime = workdir / "emulator"
    (runtime / "tmp").mkdir(parents=True, exist_ok=True)
    key_path, cert_path, bundle_path = _write_certificate(runtime)
    port, tls_port = _free_port(), _free_port()
    while tls_port == port:
        tls_port = _free_port()
    command = [
        str(python),
        str(SERVER_SCRIPT),
        "--port",
        str(port),
        "--tls-port",
        str(tls_port),
        "--certfile",
        str(cert_path),
        "--keyfile",
        str(key_path),
        "--parent-pid",
        str(os.getpid()),
    ]
    if not owns:
        command += ["--db-path", str(workdir)]
    log_path = runtime / "fakesnow.log"
    # fakesnow keeps stage files under tempfile.gettempdir(): keep them in the workdir
    env = {**os.environ, "TMPDIR": str(runtime / "tmp")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=str(runtime), env=env, start_new_session=True
        )
    emulator = LocalSnowflake(process, port, tls_port, workdir, bundle_path, log_path, _owns_workdir=owns)
    deadline = time.monotonic() + timeout_s
    while not (_accepts(port) and _accepts(tls_port)):
        if process.poll() is not None or time.monotonic() > deadline:
            log_text = log_path.read_text(errors="replace")[-2000:]
            emulator.stop()
            raise RuntimeError(f"fakesnow did not start on ports {port}/{tls_port}: {log_text}")
        time.sleep(0.1)
    try:
        conn = emulator.connect(login_timeout=10)
        try:
            conn.cursor().execute("SELECT 1").fetchall()
        finally:
            conn.close()
    except Exception as exc:
        log_text = log_path.read_text(errors="replace")[-2000:]
        emulator.stop()
        raise RuntimeError(f"fakesnow answered but the connector cannot query it: {exc}\n{log_text}") from exc
    return emulator
