"""Fixtures of the app's tests (one conftest for unit and component: no helper modules,
so that test module names stay unique across the repository).

Component prerequisites (PostgreSQL binaries, root to run them as `postgres`) are
skipped with a reason locally and FAIL when CI=true: a CI run never passes by skipping.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi_app.core.config import Settings
from sqlalchemy import Engine, create_engine, inspect, text

APP_DIR = Path(__file__).resolve().parents[1]
APP_ENV = (
    "APP_VERSION", "APP_REVISION", "APP_GREETING", "APP_WARMUP_SECONDS", "APP_DRAIN_SECONDS",
    "APP_SLOW_MAX_SECONDS", "DATABASE_URL", "POD_NAME", "POD_NAMESPACE",
    "MIGRATION_LOCK_TIMEOUT", "MIGRATION_STATEMENT_TIMEOUT",
)  # fmt: skip
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI (CI=true) when a prerequisite is missing."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(autouse=True)
def _clean_app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the documented defaults, whatever the calling shell exports."""
    for name in APP_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/app.db"


@pytest.fixture
def make_settings(sqlite_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": sqlite_url,
            "app_warmup_seconds": 0,
            "app_drain_seconds": 0.2,
            "pod_name": "test-pod",
        }
        values.update(overrides)
        return Settings(**values)

    return make


def alembic_config(database_url: str) -> Config:
    config = Config(str(APP_DIR / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


# migrate(url, revision="head", *, down=False): the `migrate` fixture's function.
Migrate = Callable[..., None]


@pytest.fixture
def migrate() -> Migrate:
    """migrate(url, "head") / migrate(url, "base", down=True), in-process."""

    def run(database_url: str, revision: str = "head", *, down: bool = False) -> None:
        config = alembic_config(database_url)
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    return run


# ---------------------------------------------------------------- PostgreSQL
@dataclass
class Postgres:
    port: int
    admin_url: str  # database "postgres" as the superuser

    def url(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{database}"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throw-away PostgreSQL: initdb + pg_ctl (as `postgres` when root) in a temp dir,
    127.0.0.1 and a free port only, torn down after the session."""
    require((PG_BIN / "initdb").exists(), f"PostgreSQL server binaries not in {PG_BIN}")
    is_root = os.geteuid() == 0
    if is_root:  # initdb refuses root: run the server as `postgres`
        require(shutil.which("runuser") is not None, "runuser (util-linux) not found")
        require(_user_exists("postgres"), "no `postgres` user to run PostgreSQL as")
    root = Path(tempfile.mkdtemp(prefix="zdk-app-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()

    def as_postgres(*argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if is_root else list(argv)

    if is_root:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    log = root / "postgres.log"
    subprocess.run(
        as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "--no-sync", "-E", "UTF8"),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets}"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        " -c shared_buffers=32MB -c max_connections=50"
    )
    start = subprocess.run(
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                    "-w", "-t", "60", "start"),
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    try:
        if start.returncode != 0:
            pytest.fail(f"pg_ctl start failed: {start.stderr}\n{log.read_text()[-2000:]}")
        yield Postgres(port, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: Postgres) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield postgres.url(name)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    """An engine on this test's fresh database."""
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


def revision(engine: Engine) -> str | None:
    """The database's Alembic revision (None before the first migration)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


# ---------------------------------------------------------------- uvicorn
@dataclass
class Server:
    """A real `uvicorn fastapi_app.main:app` process (the image's command)."""

    port: int
    proc: subprocess.Popen[str]
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"uvicorn exited {self.proc.returncode} at start-up:\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.05)
        pytest.fail(f"uvicorn did not listen within {timeout}s:\n{self.log()}")

    def wait_ready(self, timeout: float = 30) -> None:
        self.wait_listening(timeout)
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base, timeout=2) as client:
            while time.monotonic() < deadline:
                if client.get("/health/ready").status_code == 200:
                    return
                time.sleep(0.05)
        pytest.fail(f"not ready within {timeout}s:\n{self.log()}")

    def sigterm(self) -> None:
        self.proc.send_signal(signal.SIGTERM)


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Start real uvicorn processes; whatever is still running is killed at module end."""
    servers: list[Server] = []
    tmp_path = tmp_path_factory.mktemp("uvicorn")

    def start(*, graceful: int = 20, keep_alive: int = 75, **env: str) -> Server:
        port = free_port()
        log_path = tmp_path / f"uvicorn-{port}.log"
        full_env = {
            **{k: v for k, v in os.environ.items() if k not in APP_ENV},
            "DATABASE_URL": f"sqlite:///{tmp_path}/server-{port}.db",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        argv = [
            sys.executable, "-m", "uvicorn", "fastapi_app.main:app",
            "--host", "127.0.0.1", "--port", str(port),
            "--timeout-graceful-shutdown", str(graceful), "--timeout-keep-alive", str(keep_alive),
        ]  # fmt: skip
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                argv, cwd=APP_DIR, env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
                text=True, start_new_session=True,
            )  # fmt: skip
        server = Server(port, proc, log_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)
