"""One-line log records for the app's own logger (uvicorn configures only its own)."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "fastapi_app"


def get_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        )
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def one_line(exc: BaseException) -> str:
    """An exception as one short line (driver errors span several)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
