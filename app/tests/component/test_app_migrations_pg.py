"""Alembic migrations against a real PostgreSQL 15 (started by the `postgres` fixture):
up, down, N-1 compatibility, lock_timeout and the CONCURRENTLY index."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from alembic import command
from conftest import APP_DIR, Migrate, alembic_config, revision
from fastapi.testclient import TestClient
from fastapi_app.core.config import Settings
from fastapi_app.main import create_app
from fastapi_app.models import Item
from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

pytestmark = pytest.mark.component


def index_state(engine: Engine) -> bool | None:
    """None: no ix_items_name; else whether it is valid."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = 'ix_items_name'"
            )
        ).scalar()


def upgrade_with(pg_url: str, target: str, **x: str) -> None:
    config = alembic_config(pg_url)
    config.cmd_opts = argparse.Namespace(x=[f"{k}={v}" for k, v in x.items()])
    command.upgrade(config, target)


@contextmanager
def open_transaction(engine: Engine, sql: str) -> Iterator[Connection]:
    """Another client inside a transaction that ran `sql` (its locks held until exit)."""
    with engine.connect() as connection:
        connection.execute(text(sql))
        yield connection
        connection.rollback()


# The data access of older app versions, verbatim as they ran it.
def code_0001_insert(connection: Connection, name: str) -> None:
    connection.execute(text("INSERT INTO items (name) VALUES (:name)"), {"name": name})


def code_0001_select(connection: Connection) -> list[tuple[object, ...]]:
    rows = connection.execute(text("SELECT id, name, created_at FROM items ORDER BY id"))
    return [tuple(row) for row in rows]


def code_0002_insert(connection: Connection, name: str, description: str | None) -> int:
    return int(
        connection.execute(
            text("INSERT INTO items (name, description) VALUES (:name, :d) RETURNING id"),
            {"name": name, "d": description},
        ).scalar_one()
    )


def code_0002_select(connection: Connection) -> list[tuple[object, ...]]:
    rows = connection.execute(
        text("SELECT id, name, description, created_at FROM items ORDER BY id DESC LIMIT 20")
    )
    return [tuple(row) for row in rows]


def test_upgrade_head_then_downgrade_base(pg_url: str, engine: Engine, migrate: Migrate) -> None:
    migrate(pg_url, "head")
    assert revision(engine) == "0003"
    columns = {c["name"]: c for c in inspect(engine).get_columns("items")}
    assert set(columns) == {"id", "name", "created_at", "description"}
    assert columns["description"]["nullable"]
    assert index_state(engine) is True

    migrate(pg_url, "base", down=True)
    assert not inspect(engine).has_table("items")
    assert revision(engine) is None

    migrate(pg_url, "head")  # the round trip leaves nothing behind
    assert revision(engine) == "0003"
    assert index_state(engine) is True


def test_each_step_down_and_up(pg_url: str, engine: Engine, migrate: Migrate) -> None:
    migrate(pg_url, "head")
    migrate(pg_url, "0002", down=True)
    assert index_state(engine) is None
    migrate(pg_url, "0001", down=True)
    assert "description" not in {c["name"] for c in inspect(engine).get_columns("items")}
    migrate(pg_url, "head")
    assert revision(engine) == "0003"


def test_previous_code_works_on_the_new_schema(
    pg_url: str, engine: Engine, migrate: Migrate
) -> None:
    """N-1: the rollout migrates first, so the old pods run on the new schema."""
    migrate(pg_url, "0001")
    with engine.begin() as connection:
        code_0001_insert(connection, "from-0001")
    migrate(pg_url, "0002")
    with engine.begin() as connection:
        code_0001_insert(connection, "0001-code-on-0002")  # 0001 code on 0002
        code_0002_insert(connection, "from-0002", "described")
    migrate(pg_url, "head")  # builds the index over existing rows
    with engine.begin() as connection:
        new_id = code_0002_insert(connection, "0002-code-on-0003", None)
        code_0001_insert(connection, "0001-code-on-0003")
        rows = code_0002_select(connection)
        old_rows = code_0001_select(connection)
    assert new_id > 0
    assert [r[1] for r in rows] == [
        "0001-code-on-0003", "0002-code-on-0003", "from-0002", "0001-code-on-0002", "from-0001",
    ]  # fmt: skip
    assert len(old_rows) == 5
    # ... and the new code reads what the old code wrote.
    with Session(engine) as session:
        items = session.scalars(select(Item).where(Item.name == "from-0002")).all()
        assert [(i.name, i.description) for i in items] == [("from-0002", "described")]


def test_app_at_head_on_postgres(
    pg_url: str, migrate: Migrate, make_settings: Callable[..., Settings]
) -> None:
    migrate(pg_url, "head")
    with TestClient(create_app(make_settings(database_url=pg_url))) as client:
        created = client.post("/items", json={"name": "pg", "description": "on postgres"})
        assert created.status_code == 201, created.text
        assert client.get(f"/items/{created.json()['id']}").json()["name"] == "pg"
        assert client.get("/items", params={"name": "pg"}).json()[0]["description"] == "on postgres"
        assert client.get("/health").json()["db_revision"] == "0003"


def test_lock_timeout_fails_fast_instead_of_queueing(
    pg_url: str, engine: Engine, migrate: Migrate
) -> None:
    """0002's ALTER TABLE waits for an open reader: lock_timeout gives up quickly (while
    waiting, it would block every other query on the table)."""
    migrate(pg_url, "0001")
    with open_transaction(engine, "SELECT count(*) FROM items"):
        started = time.monotonic()
        with pytest.raises(OperationalError, match="lock timeout"):
            upgrade_with(pg_url, "head", lock_timeout="300ms")
        assert time.monotonic() - started < 5
    assert revision(engine) == "0001"
    migrate(pg_url, "head")  # once the reader is gone
    assert revision(engine) == "0003"


def test_concurrent_index_is_retried_after_a_failure(
    pg_url: str, engine: Engine, migrate: Migrate
) -> None:
    """CREATE INDEX CONCURRENTLY runs outside a transaction (autocommit block): when it
    times out it leaves an INVALID index behind, which the next run replaces."""
    migrate(pg_url, "0002")
    with open_transaction(engine, "INSERT INTO items (name) VALUES ('open writer')"):
        with pytest.raises(OperationalError, match="lock timeout"):
            upgrade_with(pg_url, "head", lock_timeout="300ms")
        assert index_state(engine) is False  # created outside the failed transaction
    assert revision(engine) == "0002"
    migrate(pg_url, "head")
    assert index_state(engine) is True
    assert revision(engine) == "0003"


def test_offline_sql_builds_the_index_concurrently_after_a_commit(pg_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "0002:0003", "--sql"],
        cwd=APP_DIR, env={**os.environ, "DATABASE_URL": pg_url},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    sql = result.stdout
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_items_name ON items (name)" in sql
    assert sql.index("COMMIT") < sql.index("CREATE INDEX CONCURRENTLY")


def test_the_image_command_alembic_upgrade_head(pg_url: str, engine: Engine) -> None:
    """`alembic upgrade head` from the app directory (the migration Job's command)."""
    env = {**os.environ, "DATABASE_URL": pg_url}
    upgrade = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr
    assert "session limits: lock_timeout=5s statement_timeout=240s" in upgrade.stderr
    assert revision(engine) == "0003"
    bad = subprocess.run(
        [sys.executable, "-m", "alembic", "current"],
        cwd=APP_DIR, env={**env, "DATABASE_URL": "postgresql://u:s3cret@h:port/db"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "alembic: invalid setting DATABASE_URL: not a valid SQLAlchemy URL (expected"
        " postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB or sqlite:////PATH)"
    ]
