"""The package's one logger, `fastapi_zdk`, and a fallback handler for processes in
which nobody configured logging (uvicorn and gunicorn configure only their own loggers,
and the lifecycle lines are what an operator reads when a pod drains)."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "fastapi_zdk"
log = logging.getLogger(LOGGER_NAME)


def ensure_handler() -> None:
    """Print INFO lines to stderr unless the logger or the root logger has a handler."""
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    log.addHandler(handler)
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    log.propagate = False  # the root logger has no handler: nothing would be printed twice


def one_line(exc: BaseException) -> str:
    """An exception as one short line (driver errors span several)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
