"""What can end a session for good, and socket errors in words. No I/O."""

from __future__ import annotations

import os
import socket
import ssl

__all__ = ["Fatal", "Unreachable", "why"]


class Unreachable(Exception):
    """The first connection failed: there is no session to keep alive."""


class Fatal(Exception):
    """The server refused this client for good (it speaks another protocol version)."""


def why(err: BaseException) -> str:
    """An OSError as a short lower-case phrase (never `unknown error -2`)."""
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, socket.gaierror):
        return f"unknown host ({(err.strerror or str(err)).lower()})"
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({err.verify_message}); --tls-ca names a CA to trust"
    if isinstance(err, ssl.SSLError):
        return f"TLS failed ({err.reason or err})"
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno).lower()
    if isinstance(err, ConnectionRefusedError):  # asyncio's "Connect call failed" has no errno
        return "connection refused"
    return str(err) or type(err).__name__
