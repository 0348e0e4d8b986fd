"""`chat-client --nick bob [--host H] [--port P] [--tls [--tls-ca CA]]`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from chat.tls import client_context
from client.connection import Connection, Unreachable


def parser() -> argparse.ArgumentParser:
    env = os.environ
    p = argparse.ArgumentParser(
        prog="chat-client",
        description="Terminal chat client (JSON lines). Type /help inside for commands and keys.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--nick", default=env.get("CHAT_NICK"), help="your nick [env CHAT_NICK]")
    p.add_argument(
        "--host",
        default=env.get("CHAT_HOST", "127.0.0.1"),
        help="server [env CHAT_HOST]",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(env.get("CHAT_PORT", "7000")),
        help="port [env CHAT_PORT]",
    )
    p.add_argument("--tls", action="store_true", help="connect with TLS (the server's --tls-port)")
    p.add_argument("--tls-ca", default="", help="CA file to trust (a self-signed server)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not args.nick:
        parser().error("--nick is required (or set CHAT_NICK)")
    from client.ui import run_ui  # prompt_toolkit only for the interactive client

    ssl_context = client_context(args.tls_ca) if args.tls or args.tls_ca else None
    conn = Connection(args.host, args.port, args.nick, lambda ev: None, ssl_context=ssl_context)
    try:
        asyncio.run(run_ui(conn))
    except Unreachable as err:
        print(f"chat-client: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # Ctrl-C outside the prompt: leave quietly
        sys.exit(130)


if __name__ == "__main__":
    main()
