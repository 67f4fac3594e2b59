"""LifecycleSettings: defaults, the environment, one-line errors; the defaults' constants."""

from __future__ import annotations

import socket

import fastapi_zdk
import pytest
from fastapi import FastAPI
from fastapi_zdk import LifecycleSettings, LifecycleSettingsError, install
from zdk_support import LIFECYCLE_ENV


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LIFECYCLE_ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_constants() -> None:
    settings = LifecycleSettings.from_env(environ={})
    assert settings == LifecycleSettings()
    assert settings.version == fastapi_zdk.DEFAULT_VERSION == "unknown"
    assert settings.revision == fastapi_zdk.DEFAULT_REVISION == "unknown"
    assert settings.pod == socket.gethostname()
    assert settings.warmup_seconds == fastapi_zdk.DEFAULT_WARMUP_SECONDS == 0
    assert settings.drain_seconds == fastapi_zdk.DEFAULT_DRAIN_SECONDS == 5
    assert settings.health_path == fastapi_zdk.DEFAULT_HEALTH_PATH == "/health"
    assert settings.metrics_path is None
    assert settings.probe_paths == ("/health", "/health/live", "/health/ready")


def test_from_env_reads_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "APP_VERSION": "0.0.7", "APP_REVISION": "deadbeef", "POD_NAME": "pod-a",
        "APP_WARMUP_SECONDS": " 1.5 ", "APP_DRAIN_SECONDS": "2",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert LifecycleSettings.from_env() == LifecycleSettings(
        version="0.0.7", revision="deadbeef", pod="pod-a", warmup_seconds=1.5, drain_seconds=2
    )


def test_empty_variables_count_as_unset() -> None:
    environ = {"APP_VERSION": "", "APP_DRAIN_SECONDS": "", "POD_NAME": ""}
    settings = LifecycleSettings.from_env("1.2.3", environ=environ)
    assert settings.version == "1.2.3"
    assert settings.drain_seconds == 5
    assert settings.pod == socket.gethostname()


def test_app_version_wins_over_the_default_version() -> None:
    assert LifecycleSettings.from_env("1.2.3", environ={"APP_VERSION": "2.0"}).version == "2.0"


def test_install_reads_the_environment_not_the_apps_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_DRAIN_SECONDS", "7")
    lifecycle = install(FastAPI(version="9.9.9"))
    assert lifecycle.settings.version == "unknown"
    assert lifecycle.settings.drain_seconds == 7


def test_the_documented_message() -> None:
    with pytest.raises(LifecycleSettingsError) as error:
        LifecycleSettings.from_env(environ={"APP_DRAIN_SECONDS": "abc"})
    assert str(error.value) == (
        "APP_DRAIN_SECONDS: must be a number of seconds between 0 and 3600 (got 'abc')"
    )
    assert error.value.name == "APP_DRAIN_SECONDS"
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_DRAIN_SECONDS", "-1"),
        ("APP_DRAIN_SECONDS", "3601"),
        ("APP_DRAIN_SECONDS", "nan"),
        ("APP_DRAIN_SECONDS", "inf"),
        ("APP_WARMUP_SECONDS", "1s"),
        ("APP_VERSION", "1.0 beta"),
        ("APP_REVISION", "x" * 129),
        ("POD_NAME", "pod\nname"),
    ],
)
def test_invalid_variable_is_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(LifecycleSettingsError) as error:
        LifecycleSettings.from_env(environ={name: value})
    message = str(error.value)
    assert message.startswith(f"{name}: must be ")
    assert "\n" not in message
    assert repr(value)[:40] in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("drain_seconds", -1),
        ("warmup_seconds", float("nan")),
        ("drain_seconds", True),
        ("version", ""),
        ("health_path", "health"),
        ("health_path", "/health/"),
        ("health_path", "/"),
        ("health_path", "/health?x=1"),
        ("metrics_path", "metrics"),
        ("metrics_path", "/health/ready"),
    ],
)
def test_invalid_field_is_one_line_naming_it(field: str, value: object) -> None:
    with pytest.raises(LifecycleSettingsError) as error:
        LifecycleSettings(**{field: value})  # type: ignore[arg-type]
    assert str(error.value).startswith(f"{field}: must ")
    assert "\n" not in str(error.value)


def test_durations_are_floats_and_frozen() -> None:
    settings = LifecycleSettings(warmup_seconds=1, drain_seconds=0, health_path="/_/health")
    assert isinstance(settings.warmup_seconds, float)
    assert settings.probe_paths[2] == "/_/health/ready"
    with pytest.raises(AttributeError):
        settings.drain_seconds = 2  # type: ignore[misc]
