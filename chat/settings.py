"""The one settings object. Every field is a CLI flag (`--max-line`) and an environment
variable (`CHAT_MAX_LINE`); the flag wins over the variable, the variable over the default."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


def _opt(default: Any, help: str, choices: Sequence[str] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class Settings:
    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(7000, "TCP port to listen on (0 picks a free one)")
    max_clients: int = _opt(10_000, "connections held at once; more are refused with server-full")
    max_line: int = _opt(4096, "longest line accepted, in bytes; longer lines are rejected")
    queue_messages: int = _opt(
        2048, "outbound queue per client, in messages (slow consumer past it)"
    )
    queue_bytes: int = _opt(
        256 * 1024, "outbound queue per client, in bytes (slow consumer past it)"
    )
    idle_timeout: float = _opt(300.0, "seconds of silence before a client is cut (warned at 80%%)")
    shutdown_timeout: float = _opt(
        5.0, "seconds to flush queued output on shutdown before aborting"
    )
    default_room: str = _opt("#lobby", "room every client joins after choosing a nick")
    max_rooms_per_client: int = _opt(20, "rooms one client may be in at once")
    max_rooms: int = _opt(10_000, "rooms on the server at once")
    max_room_members: int = _opt(10_000, "members one room may have")
    max_per_ip: int = _opt(
        64, "connections from one IP address at once, TLS handshakes included (0: no limit)"
    )
    room_create_rate: float = _opt(
        0.5,
        "new rooms per second one client may create, sustained; one address may create 4x"
        " as many (0: no limit)",
    )
    room_create_burst: int = _opt(
        10, "new rooms one client may create in a burst (one address: 4x)"
    )
    msg_rate: float = _opt(20.0, "lines per second a client may send, sustained (0: no limit)")
    msg_burst: int = _opt(40, "lines a client may send in a burst above --msg-rate")
    tls_cert: str = _opt("", "PEM certificate chain: enables the TLS listener on --tls-port")
    tls_key: str = _opt("", "PEM private key for --tls-cert")
    tls_port: int = _opt(7443, "TLS listener port, when --tls-cert is set (0 picks a free one)")
    plain: bool = _opt(True, "serve plain TCP on --port (--no-plain: TLS only)")
    log_level: str = _opt("info", "log level", ["debug", "info", "warning", "error"])
    log_format: str = _opt(
        "auto", "log format (auto: pretty on a TTY, else JSON)", ["auto", "json", "pretty"]
    )
    stats_port: int = _opt(
        0, "serve the HTTP stats sidecar on this port (0: off); needs the stats extra"
    )
    stats_host: str = _opt("127.0.0.1", "address the stats sidecar listens on")
    stats_max_connections: int = _opt(
        64, "HTTP connections the stats sidecar holds at once; more are refused"
    )
    stats_timeout: float = _opt(
        10.0, "seconds an HTTP connection to the sidecar may take to send a request, or idle"
    )
    nats: str = _opt(
        "", "NATS server URL(s), comma-separated: join a cluster (empty: one process, no broker)"
    )
    node_name: str = _opt("", "this node's name in the cluster (empty: the host name)")
    node_ttl: float = _opt(
        10.0, "seconds after which a silent node's nicks and members are freed (cluster mode)"
    )
    loop: str = _opt(
        "auto", "event loop (auto: uvloop when installed)", ["auto", "asyncio", "uvloop"]
    )

    @classmethod
    def parser(
        cls, environ: Mapping[str, str] | None = None, prog: str = "chat-server"
    ) -> argparse.ArgumentParser:
        description = "asyncio TCP chat server: text for netcat, JSON lines for programs"
        return build_parser(cls, description, environ, prog)

    @classmethod
    def from_args(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        ns = cls.parser(environ).parse_args(argv)
        return cls(**vars(ns))


def build_parser(
    options: type[Any],
    description: str,
    environ: Mapping[str, str] | None,
    prog: str,
    *,
    prefix: str = "CHAT_",
) -> argparse.ArgumentParser:
    """A parser with a flag for each field of the dataclass `options` (fields carry `help` and
    `choices` metadata, as `_opt` makes them), each defaulting to its `<prefix><FIELD>`
    environment variable (`CHAT_MAX_LINE`), else to the field's default. Shared by
    `chat-server` (`Settings`) and `chat-stats` (`chat.sidecar.standalone`)."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for f in fields(options):
        kind = type(f.default) if f.default is not MISSING else str
        var = prefix + f.name.upper()
        default = f.default
        if var in env:
            try:
                default = _parse_bool(env[var]) if kind is bool else kind(env[var])
            except ValueError:
                parser.error(f"{var}={env[var]!r} is not a valid {kind.__name__}")
        flag = "--" + f.name.replace("_", "-")
        help = f"{f.metadata['help']} [env {var}]"
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help
            )
            continue
        parser.add_argument(
            flag, type=kind, default=default, choices=f.metadata["choices"], help=help
        )
    return parser


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)
