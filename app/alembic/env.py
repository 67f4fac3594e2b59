"""Alembic environment: DATABASE_URL from the app's settings. Online on PostgreSQL, before
any migration runs, the session gets:

- lock_timeout / statement_timeout (`-x name=value` > MIGRATION_LOCK_TIMEOUT /
  MIGRATION_STATEMENT_TIMEOUT > alembic.ini), idle_in_transaction_session_timeout =
  statement_timeout, client_connection_check_interval and TCP keepalives (a killed
  client's backend does not keep running), application_name `alembic-migrate <POD_NAME>`;
- a session-level advisory lock: two runs never overlap, the second waits (polling, at
  most statement_timeout) and then finds nothing to do.

A SIGTERM (Job deadline or deletion) cancels the running statement on the server and
exits 143. A database at a revision this build does not know (a newer build migrated it)
is left alone: `upgrade` prints one line (`database is ahead of this build: ...`) to
stdout and exits 0 instead of failing with "Can't locate revision".
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from logging.config import fileConfig
from types import FrameType
from typing import Any

from alembic import context
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from fastapi_app.core.config import SettingsError, load_settings, normalise_database_url
from fastapi_app.models import Base
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, make_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

target_metadata = Base.metadata
DURATION = re.compile(r"^\d+(us|ms|s|min|h|d)?$")
UNITS = {"us": 1e-6, "ms": 1e-3, "": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
# Environment variables between `-x name=value` and alembic.ini (the chart sets them).
ENV_OVERRIDES = {
    "lock_timeout": "MIGRATION_LOCK_TIMEOUT",
    "statement_timeout": "MIGRATION_STATEMENT_TIMEOUT",
}
# pg_advisory_lock key: the first 8 bytes of sha256("fastapi-zdk:alembic"), signed.
LOCK_NAME = "fastapi-zdk:alembic"
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
APPLICATION_NAME = "alembic-migrate"
# The backend polls its client socket this often during a statement (PostgreSQL >= 14):
# a SIGKILLed client's statement is aborted instead of running to statement_timeout.
CLIENT_CHECK_INTERVAL = "5s"
# libpq TCP keepalives: a vanished client host is noticed within about 25 s.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}  # fmt: skip
LOCK_POLL_SECONDS = 0.5
AHEAD = "database is ahead of this build"


def database_url() -> str:
    """The URL tests hand over in config.attributes, else DATABASE_URL (validated)."""
    given = config.attributes.get("database_url")
    if given:
        return normalise_database_url(str(given)).render_as_string(hide_password=False)
    try:
        return load_settings().database_url
    except SettingsError as exc:
        raise SystemExit(f"alembic: {exc}") from None


def timeout(name: str) -> str:
    """`-x name=value` on the command line, else the environment variable, else alembic.ini."""
    sources = (
        (f"-x {name}", context.get_x_argument(as_dictionary=True).get(name)),
        (ENV_OVERRIDES[name], os.environ.get(ENV_OVERRIDES[name])),
        (f"alembic.ini {name}", config.get_main_option(name)),
    )
    source, value = next(((s, v.strip()) for s, v in sources if v and v.strip()), (name, "0"))
    if not DURATION.match(value):
        raise SystemExit(f"alembic: invalid {source} {value!r} (e.g. 5s, 500ms, 15min)")
    return value


def application_name() -> str:
    """`alembic-migrate <pod>`, within PostgreSQL's 63 characters (the pod's suffix kept)."""
    pod = os.environ.get("POD_NAME", "").strip()
    if not pod:
        return APPLICATION_NAME
    return f"{APPLICATION_NAME} {pod[-(63 - len(APPLICATION_NAME) - 1) :]}"


def seconds(duration: str) -> float:
    """A PostgreSQL duration (as DURATION matches it; no unit: milliseconds) in seconds."""
    number = re.match(r"\d+", duration)
    unit = duration[number.end() :] if number else ""
    return int(number.group()) * UNITS[unit] if number else 0.0


def set_session_limits(connection: Connection) -> dict[str, str]:
    """Set the session's limits; returns lock_timeout and statement_timeout."""
    if connection.dialect.name != "postgresql":
        return {}
    limits = {name: timeout(name) for name in ("lock_timeout", "statement_timeout")}
    settings = {**limits, "idle_in_transaction_session_timeout": limits["statement_timeout"]}
    if (connection.dialect.server_version_info or (0,)) >= (14,):
        settings["client_connection_check_interval"] = CLIENT_CHECK_INTERVAL
    for name, value in settings.items():
        # Session level (not SET LOCAL): it survives the COMMITs of autocommit blocks.
        connection.execute(text("SELECT set_config(:name, :value, false)"),
                           {"name": name, "value": value})  # fmt: skip
    connection.commit()
    log.info("session limits: %s", " ".join(f"{k}={v}" for k, v in limits.items()))
    return limits


@contextlib.contextmanager
def cancel_on_sigterm(connection: Connection) -> Iterator[None]:
    """SIGTERM (the Job's activeDeadlineSeconds, or its deletion) cancels the statement
    running on the server, then exits 143: no backend keeps migrating on its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raw: Any = connection.connection.dbapi_connection

    def on_sigterm(signum: int, _frame: FrameType | None) -> None:
        log.warning("SIGTERM: cancelling the running statement, exiting")
        cancel: Callable[..., None] | None = getattr(raw, "cancel_safe", None)
        with contextlib.suppress(Exception):
            if cancel is not None:
                cancel(timeout=3)
            else:
                raw.cancel()
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def advisory_lock(connection: Connection, statement_timeout: str) -> Iterator[None]:
    """Hold the migration lock (session level) for the whole run; wait for it at most
    statement_timeout. The wait polls pg_try_advisory_lock between transactions: a
    session blocked in pg_advisory_lock keeps a snapshot open, which the other run's
    CREATE INDEX CONCURRENTLY waits for (a deadlock)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    key = {"key": LOCK_KEY}
    try_lock = text("SELECT pg_try_advisory_lock(:key)")
    got = connection.execute(try_lock, key).scalar()
    connection.commit()  # the session-level lock outlives the transaction
    if not got:
        holder = connection.execute(
            text(
                "SELECT l.pid, a.application_name FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
                " AND l.granted AND l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
                " AND l.classid::bigint = (CAST(:key AS bigint) >> 32) & 4294967295"
                " AND l.objid::bigint = CAST(:key AS bigint) & 4294967295 AND l.objsubid = 1"
            ),
            key,
        ).first()
        connection.commit()
        held_by = f"pid {holder[0]} {holder[1]!r}" if holder else "another session"
        log.info(
            "waiting for another migration run (advisory lock %s held by %s, at most"
            " statement_timeout=%s)",
            LOCK_KEY,
            held_by,
            statement_timeout,
        )
        limit = seconds(statement_timeout)
        started = time.monotonic()
        while not got:
            if limit and time.monotonic() - started >= limit:
                raise SystemExit(
                    f"alembic: another migration run held the advisory lock {LOCK_KEY} for"
                    f" longer than statement_timeout={statement_timeout}; nothing was migrated"
                )
            time.sleep(LOCK_POLL_SECONDS)
            got = connection.execute(try_lock, key).scalar()
            connection.commit()
        log.info("advisory lock %s acquired", LOCK_KEY)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
            connection.commit()


def database_ahead(script: ScriptDirectory, current: tuple[str, ...]) -> str | None:
    """The one line to print when the database is at a revision this build lacks."""
    unknown = []
    for rev in current:
        try:
            script.get_revision(rev)
        except CommandError:
            unknown.append(rev)
    if not unknown:
        return None
    return (
        f"{AHEAD}: at revision {','.join(unknown)}, this build's head is"
        f" {','.join(script.get_heads())}; no migration run"
    )


def is_upgrade() -> bool:
    """`upgrade` (not downgrade, stamp, current ...): alembic's command.upgrade hands the
    environment a function named upgrade."""
    fn = context.get_context().opts.get("fn")
    return getattr(fn, "__name__", None) == "upgrade"


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = make_url(database_url())
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": 10, "application_name": application_name(),
                        **KEEPALIVES}  # fmt: skip
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection, cancel_on_sigterm(connection):
            limits = set_session_limits(connection)
            with advisory_lock(connection, limits.get("statement_timeout", "0")):
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    transaction_per_migration=True,
                    compare_type=True,
                )
                if is_upgrade():
                    script = ScriptDirectory.from_config(config)
                    current = context.get_context().get_current_heads()
                    connection.commit()
                    ahead = database_ahead(script, current)
                    if ahead:
                        print(ahead, flush=True)
                        return
                with context.begin_transaction():
                    context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
