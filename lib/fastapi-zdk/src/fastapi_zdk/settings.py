"""LifecycleSettings: given in code or read from the environment (`from_env`).

An invalid value raises LifecycleSettingsError, whose str() is one line naming the
variable (or field) and the value, e.g.
`APP_DRAIN_SECONDS: must be a number of seconds between 0 and 3600 (got 'abc')`.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi_zdk.defaults import (
    DEFAULT_DRAIN_SECONDS,
    DEFAULT_HEALTH_PATH,
    DEFAULT_REVISION,
    DEFAULT_VERSION,
    DEFAULT_WARMUP_SECONDS,
    MAX_SECONDS,
)

# Versions, revisions and pod names end up in JSON, Prometheus labels and log lines.
_LABEL = re.compile(r"[\x21-\x7e]{1,128}")
_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
LABEL_RULE = "must be 1 to 128 printable ASCII characters without spaces"
SECONDS_RULE = f"must be a number of seconds between 0 and {MAX_SECONDS}"
PATH_RULE = "must be a URL path like /health (a leading /, no trailing /, no query)"


class LifecycleSettingsError(ValueError):
    """An invalid lifecycle setting; str() is one line naming it and the value."""

    def __init__(self, name: str, rule: str, value: object) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{name}: {rule} (got {shown})")
        self.name = name
        self.value = value


def check_seconds(name: str, value: object) -> float:
    """A duration in [0, MAX_SECONDS] as float; LifecycleSettingsError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LifecycleSettingsError(name, SECONDS_RULE, value)
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
        raise LifecycleSettingsError(name, SECONDS_RULE, value)
    return seconds


def parse_seconds(name: str, raw: str) -> float:
    """A duration from an environment variable (the error quotes the raw string)."""
    try:
        return check_seconds(name, float(raw.strip()))
    except (ValueError, LifecycleSettingsError):
        raise LifecycleSettingsError(name, SECONDS_RULE, raw) from None


def check_label(name: str, value: object) -> str:
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        raise LifecycleSettingsError(name, LABEL_RULE, value)
    return value


def check_path(name: str, value: object) -> str:
    if (
        not isinstance(value, str)
        or not _PATH.fullmatch(value)
        or len(value) < 2
        or value.endswith("/")
        or "//" in value
    ):
        raise LifecycleSettingsError(name, PATH_RULE, value)
    return value


@dataclass(frozen=True)
class LifecycleSettings:
    """What the lifecycle needs to know. Durations in seconds.

    version, revision, pod: reported by GET {health_path} and in the log lines.
    warmup_seconds: readiness stays 503 at least this long after start-up.
    drain_seconds: after the first SIGTERM, keep serving (readiness 503, every response
      `Connection: close`) this long before handing the shutdown to the server.
    health_path: {health_path}, {health_path}/live and {health_path}/ready.
    metrics_path: if set, Prometheus text exposition of the request counters there.
    """

    version: str = DEFAULT_VERSION
    revision: str = DEFAULT_REVISION
    pod: str = field(default_factory=socket.gethostname)
    warmup_seconds: float = DEFAULT_WARMUP_SECONDS
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    health_path: str = DEFAULT_HEALTH_PATH
    metrics_path: str | None = None

    def __post_init__(self) -> None:
        check_label("version", self.version)
        check_label("revision", self.revision)
        check_label("pod", self.pod)
        # Frozen: normalise ints to floats through object.__setattr__.
        for name in ("warmup_seconds", "drain_seconds"):
            object.__setattr__(self, name, check_seconds(name, getattr(self, name)))
        check_path("health_path", self.health_path)
        if self.metrics_path is not None:
            check_path("metrics_path", self.metrics_path)
            if self.metrics_path in self.probe_paths:
                raise LifecycleSettingsError(
                    "metrics_path", "must differ from the health paths", self.metrics_path
                )

    @property
    def probe_paths(self) -> tuple[str, str, str]:
        """{health_path}, {health_path}/live, {health_path}/ready."""
        return self.health_path, f"{self.health_path}/live", f"{self.health_path}/ready"

    @classmethod
    def from_env(
        cls, default_version: str = DEFAULT_VERSION, *, environ: Mapping[str, str] | None = None
    ) -> LifecycleSettings:
        """APP_VERSION (else `default_version`), APP_REVISION, POD_NAME (else the host name),
        APP_WARMUP_SECONDS, APP_DRAIN_SECONDS. Empty variables count as unset."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value else None

        version = get("APP_VERSION")
        revision = get("APP_REVISION")
        pod = get("POD_NAME")
        warmup = get("APP_WARMUP_SECONDS")
        drain = get("APP_DRAIN_SECONDS")
        return cls(
            version=check_label("APP_VERSION", version) if version else default_version,
            revision=check_label("APP_REVISION", revision) if revision else DEFAULT_REVISION,
            pod=check_label("POD_NAME", pod) if pod else socket.gethostname(),
            warmup_seconds=(
                parse_seconds("APP_WARMUP_SECONDS", warmup) if warmup else DEFAULT_WARMUP_SECONDS
            ),
            drain_seconds=(
                parse_seconds("APP_DRAIN_SECONDS", drain) if drain else DEFAULT_DRAIN_SECONDS
            ),
        )
