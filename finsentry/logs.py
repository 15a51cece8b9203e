"""Structured logging: one JSON (or key=value) line per event, never secrets.

Usage::

    from finsentry.logs import get_logger
    log = get_logger(__name__)
    log.info("broker.started", port=9092)
"""

from __future__ import annotations

import logging
import sys

import structlog

_configured = False


def configure(level: str = "INFO", fmt: str = "console") -> None:
    """Configure structlog once; ``fmt`` is ``json`` (services) or ``console`` (humans)."""
    global _configured
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s")
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Chatty libraries: keep their noise out of our one-line-per-event stream.
    for noisy in ("kafka", "urllib3", "streamlit", "onnxruntime"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    if not _configured:
        configure()
    return structlog.stdlib.get_logger(name)
