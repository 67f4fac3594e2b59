"""SQLAlchemy 2 engine and sessions (sync: handlers that use them run in the threadpool)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from fastapi import Request
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

# Upper bound of any query the app runs (PostgreSQL); migrations have their own.
APP_STATEMENT_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_SECONDS = 5


def create_db_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database:  # best effort: an unusable path shows up as a database error
            with contextlib.suppress(OSError):
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={APP_STATEMENT_TIMEOUT_MS}",
            "application_name": "fastapi-app",
        },
    )


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one session per request."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        yield session


def ping(engine: Engine) -> None:
    """One round trip to the database (raises if it cannot be reached)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None (no table, unreachable)."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None
