"""TLS contexts for the server's TLS listener and for clients (stdlib `ssl`, modern defaults)."""

from __future__ import annotations

import ssl

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a TLS client has to finish its handshake (a silent one holds a socket until then)."""


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key or None)
    return ctx


def client_context(cafile: str | None = None) -> ssl.SSLContext:
    """Verify the server against the system store, or against `cafile` (a self-signed server)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
