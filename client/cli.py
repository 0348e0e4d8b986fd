"""`chat-client [--nick NICK] [--host H] [--port P] [--tls [--tls-ca CA]] ...`

Exit status: 0 after /quit, Ctrl-D or Ctrl-C; 1 when the server cannot be reached at start;
2 for a bad option or a server that refuses this client's protocol version. Every failure is
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import ssl
import sys
from collections.abc import Sequence
from typing import NoReturn

from client.connection import Connection
from client.errors import Fatal, Unreachable

KEYS = """keys: Enter send, Tab complete, Up/Down and Ctrl-R history, Alt-1..9 or Ctrl-N/Ctrl-P
windows, PageUp/PageDown scroll, Ctrl-D or Ctrl-C quit. Type /help inside for the commands."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not argparse's usage block: `chat-client: argument --port: ...`."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1-65535, not {value}")
    return value


def version() -> str:
    try:
        return importlib.metadata.version("chat")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def parser() -> Parser:
    env = os.environ
    p = Parser(
        prog="chat-client",
        description="Terminal chat client (JSON lines), with a window per room.",
        epilog=KEYS,
    )
    p.add_argument(
        "--nick",
        default=env.get("CHAT_NICK"),
        help="your nick; asked for on start if not given [env CHAT_NICK]",
    )
    p.add_argument(
        "--host",
        default=env.get("CHAT_HOST", "127.0.0.1"),
        help="server address (default 127.0.0.1) [env CHAT_HOST]",
    )
    p.add_argument(
        "--port",
        type=port,
        default=env.get("CHAT_PORT", "7000"),  # a string: argparse checks it with port()
        help="server port, 1-65535 (default 7000) [env CHAT_PORT]",
    )
    p.add_argument("--tls", action="store_true", help="connect with TLS (the server's --tls-port)")
    p.add_argument("--tls-ca", metavar="FILE", default="", help="CA file to trust (implies --tls)")
    p.add_argument(
        "--no-bell", action="store_true", help="do not ring the terminal bell on a mention"
    )
    p.add_argument(
        "--no-history",
        action="store_true",
        help="keep typed lines in memory only (default: $XDG_STATE_HOME/chat/history, mode "
        "0600, /msg lines never written)",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return p


def tls_context(cafile: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def fail(status: int, message: str) -> NoReturn:
    print(f"chat-client: {message}", file=sys.stderr)
    sys.exit(status)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    from client.history import open_history  # prompt_toolkit only for the interactive client
    from client.ui import run_ui

    try:
        ssl_context = tls_context(args.tls_ca) if args.tls or args.tls_ca else None
    except OSError as err:  # an unreadable or malformed CA file
        fail(2, f"--tls-ca {args.tls_ca}: {err.strerror or err}")
    try:
        history = open_history(not args.no_history)
    except OSError as err:
        fail(2, f"cannot open the history file: {err} (--no-history runs without it)")
    conn = Connection(
        args.host, args.port, args.nick or None, lambda ev: None, ssl_context=ssl_context
    )
    try:
        asyncio.run(run_ui(conn, bell=not args.no_bell, history=history))
    except Unreachable as err:
        fail(1, str(err))
    except Fatal as err:
        fail(2, str(err))
    except KeyboardInterrupt:  # Ctrl-C before the UI is up: leave quietly
        sys.exit(130)


if __name__ == "__main__":
    main()
