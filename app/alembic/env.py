"""Alembic environment: DATABASE_URL from the app's settings; PostgreSQL sessions get
lock_timeout and statement_timeout before any migration runs."""

from __future__ import annotations

import logging
import re
from logging.config import fileConfig

from alembic import context
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
    """`-x name=value` on the command line, else the alembic.ini option."""
    value = context.get_x_argument(as_dictionary=True).get(name)
    value = value or config.get_main_option(name) or "0"
    if not DURATION.match(value):
        raise SystemExit(f"alembic: invalid {name} {value!r} (e.g. 5s, 500ms, 15min)")
    return value


def set_session_limits(connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    limits = {name: timeout(name) for name in ("lock_timeout", "statement_timeout")}
    for name, value in limits.items():
        # Session level (not SET LOCAL): it survives the COMMITs of autocommit blocks.
        connection.execute(text("SELECT set_config(:name, :value, false)"),
                           {"name": name, "value": value})  # fmt: skip
    connection.commit()
    log.info("session limits: %s", " ".join(f"{k}={v}" for k, v in limits.items()))


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
    connect_args = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            set_session_limits(connection)
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                transaction_per_migration=True,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
