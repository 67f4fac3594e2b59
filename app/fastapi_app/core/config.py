"""Settings from the environment (names: docs/contracts.md, "The app's environment").

An invalid value stops start-up with one line that names the variable; the value is
echoed except for DATABASE_URL (it may hold a password).
"""

from __future__ import annotations

import socket
from functools import cached_property
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from fastapi_app import __version__

DEFAULT_DATABASE_URL = "sqlite:////tmp/fastapi-app.db"
# Variables whose value must never appear in an error message or a log line.
SECRET_SETTINGS = frozenset({"DATABASE_URL"})

Seconds = Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)]
Label = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class SettingsError(ValueError):
    """A setting from the environment is invalid; str() is one line naming it."""


class Settings(BaseSettings):
    """The service's configuration. Field name upper-cased = environment variable."""

    model_config = SettingsConfigDict(
        case_sensitive=False, env_ignore_empty=True, extra="ignore", frozen=True
    )

    app_version: Label | None = None
    app_revision: Label = "unknown"
    app_greeting: str = Field(default="World", min_length=1, max_length=200)
    app_warmup_seconds: Seconds = 1.0
    app_drain_seconds: Seconds = 5.0
    app_slow_max_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 10.0
    database_url: str = DEFAULT_DATABASE_URL
    pod_name: Label = Field(default_factory=socket.gethostname)
    pod_namespace: Label = "unknown"

    @field_validator("app_version")
    @classmethod
    def _version_shape(cls, value: str | None) -> str | None:
        if value is not None and not value[0].isalnum():
            raise ValueError("must start with a letter or a digit (e.g. 0.0.2)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value).render_as_string(hide_password=False)

    @property
    def version(self) -> str:
        """APP_VERSION (baked into the image) when set, else the package version."""
        return self.app_version or __version__

    @cached_property
    def database(self) -> URL:
        return make_url(self.database_url)


def normalise_database_url(value: str) -> URL:
    """Parse a DATABASE_URL; PostgreSQL always goes through psycopg 3."""
    try:
        url = make_url(value.strip())
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a valid SQLAlchemy URL (expected postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
            " or sqlite:////PATH)"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ValueError(f"driver {driver!r} is not installed; use postgresql+psycopg://")
        if not url.database:
            raise ValueError("the PostgreSQL URL names no database")
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ValueError(f"driver {driver!r} is not installed; use sqlite:///")
        if not url.database or url.database == ":memory:":
            raise ValueError("SQLite needs a file path (sqlite:////tmp/app.db)")
        return url
    raise ValueError(f"unsupported database {backend!r} (PostgreSQL or SQLite)")


def describe_validation_error(exc: ValidationError) -> str:
    """One line: every invalid setting with its environment name and the reason."""
    parts = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(loc) for loc in error["loc"]).upper() or "settings"
        reason = error["msg"].removeprefix("Value error, ")
        if name not in SECRET_SETTINGS and "input" in error and error["type"] != "missing":
            reason += f" (got {error['input']!r})"
        parts.append(f"{name}: {reason}")
    return "invalid setting " + "; ".join(parts).replace("\n", " ")


def load_settings() -> Settings:
    """Read the settings from the environment; SettingsError (one line) if invalid."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
