"""structlog, configured once: JSON lines when stderr is not a TTY, pretty when it is.

Event names are stable (`client.connected`, `client.disconnected`, `room.joined`, ...) and carry
`conn_id`, `peer`, `nick` and `room` as fields. Message bodies are never logged.

Everything else that logs goes through structlog too, so stderr only ever holds structlog
events (one JSON object per line off a TTY), tracebacks included (as an `exception` field):
stdlib `logging` (uvicorn, nats-py, asyncio) via `_ToStructlog`, and asyncio's handler of
exceptions nobody retrieved via `asyncio_exception` (installed by `chat.cli`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, TextIO

import structlog


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    pretty = fmt == "pretty" or (fmt == "auto" and out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.handlers[:] = [_ToStructlog()]
    root.setLevel(logging.getLevelName(level.upper()))


class _ToStructlog(logging.Handler):
    """A stdlib log record, re-emitted as the structlog event `stdlib.log`."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = structlog.get_logger(record.name)
        fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            fields["exc_info"] = record.exc_info
        logger.log(record.levelno, "stdlib.log", **fields)


def asyncio_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's exception handler: an error nobody handled, as one structlog event."""
    exc = context.get("exception")
    structlog.get_logger("chat.asyncio").error(
        "asyncio.error",
        message=context.get("message", ""),
        error=repr(exc) if exc is not None else None,
        exc_info=exc,
    )
