"""What one probe run does, and the limits that keep every run bounded."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

Mode = Literal["keepalive", "fresh"]
MODES: tuple[str, ...] = get_args(Mode)

MAX_DURATION_S = 3600.0
MAX_RATE = 2000.0
MAX_REQUESTS = 2_000_000
MAX_CONCURRENCY = 256
MAX_TIMEOUT_S = 120.0
MAX_HOST_HEADER = 255


class ConfigError(ValueError):
    """The configuration cannot be run; the message is one line meant for a human."""


@dataclass(frozen=True)
class ProbeConfig:
    """One probe run.

    ``url`` is the base URL of the service (``http://127.0.0.1:30080``, optionally with a path
    prefix such as ``https://staging.example.com/api``); ``path`` is appended to it for the
    traffic and ``health_path``, when set, for a separate slow version poll. ``host_header``,
    when set, is the ``Host`` header of every request (traffic and version poll) instead of the
    URL's host, e.g. to reach a site through an ingress controller by its address; with https
    it is also the TLS server name (SNI) and the name the certificate must match.
    """

    url: str
    path: str = "/health"
    health_path: str | None = None
    health_rate: float = 2.0
    rate: float = 20.0
    duration: float = 60.0
    max_requests: int | None = None
    mode: Mode = "keepalive"
    concurrency: int = 4
    timeout: float = 5.0
    until_file: str | None = None
    verify_tls: bool = True
    host_header: str | None = None

    def validate(self) -> None:
        """Raise ConfigError with a one-line reason when the run would be invalid or unbounded."""
        _check_url(self.url)
        if self.host_header is not None:
            _check_host_header(self.host_header)
        _check_path("path", self.path)
        if self.health_path is not None:
            _check_path("health path", self.health_path)
            _check_number("health rate", self.health_rate, 0.0, MAX_RATE)
        _check_number("rate", self.rate, 0.0, MAX_RATE)
        _check_number("duration", self.duration, 0.0, MAX_DURATION_S)
        _check_number("timeout", self.timeout, 0.0, MAX_TIMEOUT_S)
        if self.max_requests is not None and not 1 <= self.max_requests <= MAX_REQUESTS:
            raise ConfigError(f"max requests must be between 1 and {MAX_REQUESTS}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ConfigError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.until_file is not None:
            until = Path(self.until_file)
            if until.exists():
                raise ConfigError(f"until-file {until} already exists; remove it before the run")
            if not until.parent.is_dir():
                raise ConfigError(f"until-file directory {until.parent} does not exist")

    @property
    def request_budget(self) -> int:
        """Upper bound of requests this run may send (traffic and version poll together)."""
        total = self.rate * self.duration
        if self.health_path is not None:
            total += self.health_rate * self.duration
        budget = math.ceil(total) + 1
        if self.max_requests is not None:
            budget = min(budget, self.max_requests)
        return min(budget, MAX_REQUESTS)

    def target(self, path: str) -> str:
        """The absolute URL of ``path`` on the target."""
        return self.url.rstrip("/") + path


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"invalid URL {url!r}: the scheme must be http or https")
    if not parts.hostname:
        raise ConfigError(f"invalid URL {url!r}: no host")
    if port == 0:
        raise ConfigError(f"invalid URL {url!r}: port 0")
    if parts.query or parts.fragment:
        raise ConfigError(f"invalid URL {url!r}: put the query string in --path instead")
    if any(ch.isspace() for ch in url):
        raise ConfigError(f"invalid URL {url!r}: contains whitespace")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ConfigError(f"invalid URL {url!r}: the host is not a valid name") from None


def _check_host_header(host: str) -> None:
    valid = (
        0 < len(host) <= MAX_HOST_HEADER
        and host.isascii()
        and host.isprintable()
        and not any(ch.isspace() or ch in "/?#@\\" for ch in host)
    )
    if not valid:
        raise ConfigError(
            f"invalid host header {host!r}: it must be a host name, optionally with :port"
        )


def _check_path(what: str, path: str) -> None:
    if not path.startswith("/") or any(ch.isspace() for ch in path) or "#" in path:
        raise ConfigError(f"invalid {what} {path!r}: it must start with / and contain no spaces")


def _check_number(what: str, value: float, low: float, high: float) -> None:
    if not math.isfinite(value) or not low < value <= high:
        raise ConfigError(f"{what} must be greater than {low:g} and at most {high:g}, not {value}")
