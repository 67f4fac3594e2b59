"""The guards of alembic/env.py against a real PostgreSQL 15, through the Job's command
(`alembic upgrade head` in a subprocess): the advisory lock serialises concurrent runs, a
database ahead of the build is left alone, a killed run leaves no backend behind, and
where statement_timeout comes from."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import pytest
from conftest import APP_DIR, Migrate, revision
from sqlalchemy import Connection, Engine, inspect, text

pytestmark = pytest.mark.component

# The key env.py derives from its constant (its log lines name it).
LOCK_KEY = int.from_bytes(hashlib.sha256(b"fastapi-zdk:alembic").digest()[:8], "big", signed=True)
AHEAD_LINE = (
    "database is ahead of this build: at revision ffff9999, this build's head is 0003;"
    " no migration run"
)


def start(
    pg_url: str,
    *argv: str,
    env: Mapping[str, str] | None = None,
    stderr: IO[str] | int = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """`alembic ARGV` from the app directory, as the migration Job runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", *argv],
        cwd=APP_DIR, env={**os.environ, "DATABASE_URL": pg_url, **(env or {})},
        stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip


def run(pg_url: str, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    proc = start(pg_url, *argv, env=env)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until condition() holds; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"not within {timeout}s: {what}")


def backends(engine: Engine, application_name: str) -> list[tuple[str | None, str | None]]:
    """(wait_event_type, wait_event) of the sessions with that application_name."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT wait_event_type, wait_event FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": application_name},
        )
        return [(row[0], row[1]) for row in rows]


@contextmanager
def open_transaction(engine: Engine, sql: str) -> Iterator[Connection]:
    """Another client inside a transaction that ran `sql` (its locks held until exit)."""
    with engine.connect() as connection:
        connection.execute(text(sql))
        yield connection
        connection.rollback()


def test_concurrent_runs_take_turns(pg_url: str, engine: Engine, tmp_path: Path) -> None:
    """Two Jobs at once on a fresh database: the second waits for the first's advisory
    lock, then finds nothing to do. (The test holds the lock until both wait, so that
    they really start together.)"""
    logs = [tmp_path / f"twin-{i}.log" for i in range(2)]
    waiting = f"waiting for another migration run (advisory lock {LOCK_KEY} held by pid"
    with engine.connect() as holder, ExitStack() as files:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        holder.commit()
        procs = [
            start(pg_url, "upgrade", "head", stderr=files.enter_context(log.open("w")))
            for log in logs
        ]
        wait_until(lambda: all(waiting in log.read_text() for log in logs), 20, "both runs wait")
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        holder.commit()
        for proc in procs:
            proc.communicate(timeout=60)
    errs = [log.read_text() for log in logs]
    for proc, err in zip(procs, errs, strict=True):
        assert proc.returncode == 0, err
        assert f"advisory lock {LOCK_KEY} acquired" in err
    ran = sorted(err.count("Running upgrade") for err in errs)
    assert ran == [0, 3], errs  # 0001..0003 once, by one of them
    assert revision(engine) == "0003"


def test_database_ahead_of_the_build_is_left_alone(
    pg_url: str, engine: Engine, migrate: Migrate
) -> None:
    """A roll-forward to an older build after a newer one migrated: nothing runs, one
    line says so, the Job succeeds."""
    migrate(pg_url, "head")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    columns = {c["name"] for c in inspect(engine).get_columns("items")}

    upgrade = run(pg_url, "upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.splitlines() == [AHEAD_LINE]
    assert "Can't locate revision" not in upgrade.stderr
    assert "Running upgrade" not in upgrade.stderr
    assert revision(engine) == "ffff9999"
    assert {c["name"] for c in inspect(engine).get_columns("items")} == columns

    # Only upgrade is let off: a downgrade from an unknown revision still fails.
    downgrade = run(pg_url, "downgrade", "-1")
    assert downgrade.returncode != 0
    assert "Can't locate revision" in downgrade.stderr
    assert revision(engine) == "ffff9999"


@pytest.mark.parametrize(
    ("sig", "returncode", "within"),
    [
        pytest.param(signal.SIGTERM, 143, 3.0, id="sigterm-cancels"),
        pytest.param(signal.SIGKILL, -signal.SIGKILL, 9.0, id="sigkill-client-check"),
    ],
)
def test_a_killed_run_leaves_no_backend(
    pg_url: str,
    engine: Engine,
    migrate: Migrate,
    sig: signal.Signals,
    returncode: int,
    within: float,
) -> None:
    """The Job's deadline (SIGTERM) or a deletion past the grace period (SIGKILL) while
    0002's ALTER TABLE waits behind a reader (lock_timeout raised so that it would wait
    a minute): the backend is gone within seconds, not when the lock comes free."""
    migrate(pg_url, "0001")
    pod = f"killed-{uuid.uuid4().hex[:8]}"
    name = f"alembic-migrate {pod}"
    with open_transaction(engine, "SELECT count(*) FROM items"):
        proc = start(
            pg_url, "upgrade", "head", env={"POD_NAME": pod, "MIGRATION_LOCK_TIMEOUT": "60s"}
        )
        wait_until(lambda: ("Lock", "relation") in backends(engine, name), 20, "ALTER TABLE waits")
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=10)
        assert proc.returncode == returncode, err
        gone = wait_until(lambda: not backends(engine, name), within, f"no backend {name!r}")
    if sig == signal.SIGTERM:
        assert "SIGTERM: cancelling the running statement, exiting" in err
    assert gone < within
    assert revision(engine) == "0001"
    assert "description" not in {c["name"] for c in inspect(engine).get_columns("items")}


def test_statement_timeout_from_the_environment(
    pg_url: str, engine: Engine, migrate: Migrate
) -> None:
    """MIGRATION_STATEMENT_TIMEOUT (the chart's migrations.statementTimeoutSeconds) bounds
    a statement that would otherwise wait the whole lock_timeout."""
    migrate(pg_url, "0001")
    with open_transaction(engine, "SELECT count(*) FROM items"):
        started = time.monotonic()
        upgrade = run(
            pg_url, "upgrade", "head",
            MIGRATION_STATEMENT_TIMEOUT="1s", MIGRATION_LOCK_TIMEOUT="30s",
        )  # fmt: skip
        assert time.monotonic() - started < 10
    assert upgrade.returncode != 0
    assert "session limits: lock_timeout=30s statement_timeout=1s" in upgrade.stderr
    assert "canceling statement due to statement timeout" in upgrade.stderr
    assert revision(engine) == "0001"


def test_timeout_sources_in_order(pg_url: str, migrate: Migrate) -> None:
    """`-x` beats the environment, which beats alembic.ini; a bad value names its source."""
    migrate(pg_url, "head")
    env = {"MIGRATION_STATEMENT_TIMEOUT": "1s", "MIGRATION_LOCK_TIMEOUT": "2s"}
    from_env = run(pg_url, "upgrade", "head", **env)
    assert from_env.returncode == 0, from_env.stderr
    assert "session limits: lock_timeout=2s statement_timeout=1s" in from_env.stderr
    from_x = run(pg_url, "-x", "statement_timeout=7s", "upgrade", "head", **env)
    assert from_x.returncode == 0, from_x.stderr
    assert "session limits: lock_timeout=2s statement_timeout=7s" in from_x.stderr
    bad = run(pg_url, "upgrade", "head", MIGRATION_STATEMENT_TIMEOUT="soon")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        "alembic: invalid MIGRATION_STATEMENT_TIMEOUT 'soon' (e.g. 5s, 500ms, 15min)"
    )
