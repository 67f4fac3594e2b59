"""fastapi_zdk.gunicorn_conf: settings from the environment, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import fastapi_zdk
import pytest
from fastapi_zdk.gunicorn_conf import settings_from_env
from fastapi_zdk.settings import LifecycleSettingsError
from gunicorn.config import Config
from zdk_support import process_env


def test_defaults() -> None:
    assert settings_from_env({}) == {
        "worker_class": "uvicorn_worker.UvicornWorker",
        "bind": [f"{fastapi_zdk.DEFAULT_HOST}:{fastapi_zdk.DEFAULT_PORT}"],
        "workers": fastapi_zdk.DEFAULT_WORKERS,
        "keepalive": fastapi_zdk.DEFAULT_KEEPALIVE_SECONDS,
        "graceful_timeout": fastapi_zdk.DEFAULT_DRAIN_SECONDS
        + fastapi_zdk.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
        "timeout": fastapi_zdk.WORKER_HEARTBEAT_SECONDS,
        "accesslog": None,
        "errorlog": "-",
        "control_socket_disable": True,
    }
    assert settings_from_env({})["graceful_timeout"] == 25


def test_from_the_environment() -> None:
    settings = settings_from_env(
        {
            "UVICORN_HOST": "127.0.0.1",
            "UVICORN_PORT": "9000",
            "WEB_CONCURRENCY": "4",
            "UVICORN_TIMEOUT_KEEP_ALIVE": "30",
            "APP_DRAIN_SECONDS": "1.5",
            "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN": "3",
        }
    )
    assert settings["bind"] == ["127.0.0.1:9000"]
    assert settings_from_env({"UVICORN_HOST": "::"})["bind"] == ["[::]:8000"]
    assert settings["workers"] == 4
    assert settings["keepalive"] == 30
    assert settings["graceful_timeout"] == 5  # 4.5 rounded up: the drain is never cut short


def test_gunicorn_accepts_every_setting() -> None:
    config = Config()
    for name, value in settings_from_env({}).items():
        config.set(name, value)
    assert config.worker_class_str == "uvicorn_worker.UvicornWorker"
    assert config.graceful_timeout == 25


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("UVICORN_HOST", "0.0.0.0 1.2.3.4", "must be a host name or an IP address"),
        ("UVICORN_PORT", "http", "must be an integer between 1 and 65535"),
        ("UVICORN_PORT", "70000", "must be an integer between 1 and 65535"),
        ("WEB_CONCURRENCY", "0", "must be an integer between 1 and 1024"),
        ("UVICORN_TIMEOUT_KEEP_ALIVE", "1.5", "must be an integer between 0 and 3600"),
        ("APP_DRAIN_SECONDS", "abc", "must be a number of seconds between 0 and 3600"),
        ("UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN", "-3", "must be a number of seconds between"),
    ],
)
def test_invalid_value_is_one_line(name: str, value: str, rule: str) -> None:
    with pytest.raises(LifecycleSettingsError) as error:
        settings_from_env({name: value})
    assert str(error.value).startswith(f"{name}: {rule}")
    assert str(error.value).endswith(f"(got {value!r})")


def test_importing_with_an_invalid_value_exits_with_one_line() -> None:
    """What gunicorn does with `-c python:fastapi_zdk.gunicorn_conf`: import the module."""
    result = subprocess.run(
        [sys.executable, "-c", "import fastapi_zdk.gunicorn_conf"],
        env=process_env(WEB_CONCURRENCY="many"),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "fastapi_zdk.gunicorn_conf: WEB_CONCURRENCY: must be an integer between 1 and 1024"
        " (got 'many')"
    ]
