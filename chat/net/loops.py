"""Choosing the event loop: uvloop when asked for (or `auto` and installed), else asyncio's."""

from __future__ import annotations

import asyncio


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of `kind`: "auto", "uvloop" or "asyncio"."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            if kind == "uvloop":
                raise SystemExit(
                    "--loop uvloop: uvloop is not installed (pip install 'chat[speed]')"
                ) from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()
