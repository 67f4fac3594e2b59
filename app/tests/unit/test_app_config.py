"""Settings: names from docs/contracts.md, defaults, and one-line errors for bad input."""

from __future__ import annotations

import fastapi_app
import pytest
from fastapi_app.core.config import DEFAULT_DATABASE_URL, SettingsError, load_settings
from fastapi_app.main import _app_or_exit


def test_defaults() -> None:
    settings = load_settings()
    assert settings.version == fastapi_app.__version__ == "0.0.1"
    assert settings.app_revision == "unknown"
    assert settings.app_greeting == "World"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url.startswith("sqlite:////tmp/")
    assert settings.pod_name  # the host name outside Kubernetes
    assert settings.app_warmup_seconds >= 0
    assert settings.app_drain_seconds >= 0
    assert settings.app_slow_max_seconds > 0


def test_every_contract_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "APP_VERSION": "0.0.2",
        "APP_REVISION": "abc1234",
        "APP_GREETING": "Universe",
        "APP_WARMUP_SECONDS": "2.5",
        "APP_DRAIN_SECONDS": "7",
        "APP_SLOW_MAX_SECONDS": "4",
        "DATABASE_URL": "postgresql+psycopg://app:secret@db.example:5432/app",
        "POD_NAME": "fastapi-app-7d9f-abcde",
        "POD_NAMESPACE": "fastapi-app",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.version == "0.0.2"  # APP_VERSION overrides the package version
    assert settings.app_revision == "abc1234"
    assert settings.app_greeting == "Universe"
    assert settings.app_warmup_seconds == 2.5
    assert settings.app_drain_seconds == 7
    assert settings.app_slow_max_seconds == 4
    assert settings.database_url == env["DATABASE_URL"]
    assert settings.pod_name == "fastapi-app-7d9f-abcde"
    assert settings.pod_namespace == "fastapi-app"


def test_empty_values_mean_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # An image built without --build-arg APP_VERSION has APP_VERSION="".
    monkeypatch.setenv("APP_VERSION", "")
    monkeypatch.setenv("DATABASE_URL", "")
    settings = load_settings()
    assert settings.version == fastapi_app.__version__
    assert settings.database_url == DEFAULT_DATABASE_URL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://app:pw@db:5432/app", "postgresql+psycopg://app:pw@db:5432/app"),
        ("postgres://app:pw@db/app", "postgresql+psycopg://app:pw@db/app"),
        (
            "postgresql+psycopg://app@/app?host=/run/pg",
            "postgresql+psycopg://app@/app?host=%2Frun%2Fpg",
        ),
        ("sqlite:////var/tmp/x.db", "sqlite:////var/tmp/x.db"),
    ],
)
def test_database_url_normalised(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == expected


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("APP_DRAIN_SECONDS", "-1", "greater than or equal to 0"),
        ("APP_WARMUP_SECONDS", "soon", "valid number"),
        ("APP_WARMUP_SECONDS", "nan", "finite number"),
        ("APP_DRAIN_SECONDS", "1e9", "less than or equal to 3600"),
        ("APP_SLOW_MAX_SECONDS", "0", "greater than 0"),
        ("APP_SLOW_MAX_SECONDS", "-3", "greater than 0"),
        ("APP_VERSION", "-1.0", "start with a letter or a digit"),
        ("APP_VERSION", "1.0 beta", "match pattern"),
        ("APP_REVISION", "x" * 200, "at most 128"),
        ("POD_NAME", "a b", "match pattern"),
    ],
)
def test_invalid_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"invalid setting {name}: ")
    assert reason in message
    assert repr(value) in message  # non-secret values are echoed


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not-a-url", "not a valid SQLAlchemy URL"),
        ("postgresql+psycopg://app:s3cret@db:notaport/app", "not a valid SQLAlchemy URL"),
        ("://app:s3cret@db/app", "not a valid SQLAlchemy URL"),
        ("mysql://app:s3cret@db/app", "unsupported database 'mysql'"),
        ("postgresql+asyncpg://app:s3cret@db/app", "driver 'asyncpg' is not installed"),
        ("postgresql+psycopg://app:s3cret@db:5432", "names no database"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///:memory:", "needs a file path"),
    ],
)
def test_malformed_database_url(monkeypatch: pytest.MonkeyPatch, url: str, reason: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid setting DATABASE_URL: ")
    assert reason in message
    assert "s3cret" not in message  # the URL may carry a password: never echoed
    assert "\n" not in message


def test_several_errors_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_DRAIN_SECONDS", "-5")
    monkeypatch.setenv("DATABASE_URL", "nope")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "APP_DRAIN_SECONDS" in message
    assert "DATABASE_URL" in message
    assert "\n" not in message


def test_start_up_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APP_WARMUP_SECONDS", "-2")
    with pytest.raises(SystemExit) as info:
        _app_or_exit()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("fastapi_app: invalid setting APP_WARMUP_SECONDS: ")


def test_settings_are_immutable() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.app_greeting = "changed"  # type: ignore[misc]
