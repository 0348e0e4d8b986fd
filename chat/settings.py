"""The one settings object. Every field is a CLI flag (`--max-line`), an environment variable
(`CHAT_MAX_LINE`) and a key of an optional TOML file (`--config PATH` or `CHAT_CONFIG`:
`max_line = 8192`). A flag wins over the variable, the variable over the file, the file over
the default. Every number has a range, checked wherever the value comes from, and a value out
of range is one clear line from argparse (`--port must be between 0 and 65535 (got 99999)`),
exit status 2."""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, NoReturn


def option(
    default: Any,
    help: str,
    choices: Sequence[str] | None = None,
    *,
    lo: float | None = None,
    hi: float | None = None,
    gt: float | None = None,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """A settings field: its default, its help, and what it accepts: one of `choices`, or a
    number `lo <= x <= hi` (either bound optional), or `x > gt`, or what `check` finds no
    problem with. A tuple field is repeatable: `--oper A --oper B`, a comma-separated
    environment variable, a TOML list."""
    return field(
        default=default,
        metadata={"help": help, "choices": choices, "lo": lo, "hi": hi, "gt": gt, "check": check},
    )


def _check_opers(value: tuple[str, ...]) -> str | None:
    from chat.core.operhash import parse_opers

    try:
        parse_opers(value)
    except ValueError as err:
        return f"entry {err}"
    return None


_opt = option


@dataclass(frozen=True)
class Settings:
    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(7000, "TCP port to listen on (0 picks a free one)", lo=0, hi=65535)
    max_clients: int = _opt(
        10_000, "connections held at once; more are refused with server-full", lo=1
    )
    max_line: int = _opt(4096, "longest line accepted, in bytes; longer lines are rejected", lo=64)
    queue_messages: int = _opt(
        2048, "outbound queue per client, in messages (slow consumer past it)", lo=1
    )
    queue_bytes: int = _opt(
        256 * 1024, "outbound queue per client, in bytes (slow consumer past it)", lo=1024
    )
    idle_timeout: float = _opt(
        300.0, "seconds of silence before a client is cut (warned at 80%%)", gt=0
    )
    shutdown_timeout: float = _opt(
        5.0, "seconds to flush queued output on shutdown before aborting", gt=0
    )
    default_room: str = _opt("#lobby", "room every client joins after choosing a nick")
    max_rooms_per_client: int = _opt(20, "rooms one client may be in at once", lo=1)
    max_rooms: int = _opt(10_000, "rooms on the server at once", lo=1)
    max_room_members: int = _opt(10_000, "members one room may have", lo=1)
    history_size: int = _opt(
        500, "messages of history kept per room, for resume and paging (0: no history)", lo=0
    )
    history_db: str = _opt(
        "", "SQLite file that keeps history (and its epochs) across restarts (empty: memory only)"
    )
    history_bytes: int = _opt(
        64 * 1024 * 1024,
        "bytes of history kept in all rooms together; past it the oldest messages go",
        lo=0,
    )
    max_per_ip: int = _opt(
        64, "connections from one IP address at once, TLS handshakes included (0: no limit)", lo=0
    )
    room_create_rate: float = _opt(
        0.5,
        "new rooms per second one client may create, sustained; one address may create 4x"
        " as many unless --max-per-ip is 0 (0: no limit)",
        lo=0,
    )
    room_create_burst: int = _opt(
        10, "new rooms one client may create in a burst (one address: 4x)", lo=1
    )
    msg_rate: float = _opt(
        20.0, "lines per second a client may send, sustained (0: no limit)", lo=0
    )
    msg_burst: int = _opt(40, "lines a client may send in a burst above --msg-rate", lo=1)
    tls_cert: str = _opt("", "PEM certificate chain: enables the TLS listener on --tls-port")
    tls_key: str = _opt("", "PEM private key for --tls-cert")
    tls_port: int = _opt(
        7443, "TLS listener port, when --tls-cert is set (0 picks a free one)", lo=0, hi=65535
    )
    plain: bool = _opt(True, "serve plain TCP on --port (--no-plain: TLS only)")
    irc: bool = _opt(False, "also speak IRC, on --irc-port (and --irc-tls-port with --tls-cert)")
    irc_port: int = _opt(
        6667, "IRC listener port, when --irc is set (0 picks a free one)", lo=0, hi=65535
    )
    irc_tls_port: int = _opt(
        6697,
        "IRC over TLS listener port, when --irc and --tls-cert are set (0 picks a free one)",
        lo=0,
        hi=65535,
    )
    log_level: str = _opt("info", "log level", ["debug", "info", "warning", "error"])
    log_format: str = _opt(
        "auto", "log format (auto: pretty on a TTY, else JSON)", ["auto", "json", "pretty"]
    )
    stats_port: int = _opt(
        0,
        "serve the HTTP stats sidecar on this port (0: off); needs the stats extra",
        lo=0,
        hi=65535,
    )
    stats_host: str = _opt("127.0.0.1", "address the stats sidecar listens on")
    stats_max_connections: int = _opt(
        64,
        "HTTP connections the stats sidecar holds at once (at the cap the oldest idle one"
        " makes room; 503 when none is idle)",
        lo=1,
    )
    stats_timeout: float = _opt(
        10.0,
        "seconds an HTTP connection to the sidecar may take to send a request, or idle",
        gt=0,
    )
    nats: str = _opt(
        "", "NATS server URL(s), comma-separated: join a cluster (empty: one process, no broker)"
    )
    nats_connect_timeout: float = _opt(
        6.0, "seconds to keep trying NATS at start-up before exiting with code 1", gt=0
    )
    node_name: str = _opt("", "this node's name in the cluster (empty: the host name)")
    node_ttl: float = _opt(
        10.0,
        "seconds after which a silent node's nicks and members are freed (cluster mode)",
        gt=0,
    )
    # accounts (issue 17; docs/protocol.md, "Accounts")
    accounts: bool = _opt(
        False,
        "accounts: /register, /identify, IRC SASL PLAIN (over TLS) and PASS; registered nicks"
        " are protected (stored in --data-dir, or in JetStream KV with --nats)",
    )
    data_dir: str = _opt(
        "chat-data", "directory of the server's files: the account database (accounts.db)"
    )
    nick_grace: float = _opt(
        30.0,
        "seconds someone holding a registered nick has to identify before being renamed",
        gt=0,
        hi=3600,
    )
    loop: str = _opt(
        "auto", "event loop (auto: uvloop when installed)", ["auto", "asyncio", "uvloop"]
    )
    oper: tuple[str, ...] = _opt(
        (),
        "a server operator, NAME:HASH (the hash from `python -m chat.core.operhash`); repeatable",
        check=_check_opers,
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
        parser = cls.parser(environ)
        ns = parser.parse_args(argv)
        if ns.nats and ns.history_db:
            parser.error(
                "--history-db cannot be used with --nats: a cluster keeps its history in JetStream"
            )
        return cls(**vars(ns))


def version() -> str:
    """The installed version of the `chat` distribution (pyproject.toml's)."""
    try:
        return importlib.metadata.version("chat")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(
    options: type[Any],
    description: str,
    environ: Mapping[str, str] | None,
    prog: str,
    *,
    prefix: str = "CHAT_",
) -> argparse.ArgumentParser:
    """A parser with a flag for each field of the dataclass `options` (fields carry `help`,
    `choices` and range metadata, as `option` makes them), each defaulting to its
    `<prefix><FIELD>` environment variable (`CHAT_MAX_LINE`), else to the key of the TOML file
    named by `--config` or `<prefix>CONFIG`, else to the field's default; plus `--config` and
    `--version`. Every value is checked against its field's range, whatever its source.
    Shared by `chat-server` (`Settings`) and `chat-stats` (`chat.sidecar.standalone`)."""
    return _Parser(
        options,
        os.environ if environ is None else environ,
        prefix,
        prog=prog,
        usage="%(prog)s [options]  (--help lists them, with their defaults)",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


class _Parser(argparse.ArgumentParser):
    """argparse with environment defaults, a TOML file below them, and range checks."""

    def __init__(
        self, options: type[Any], env: Mapping[str, str], prefix: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._fields = {f.name: f for f in fields(options)}
        self._env = env
        self._prefix = prefix
        self._from_env: set[str] = set()
        self._env_errors: list[str] = []
        self.add_argument(
            "--config",
            metavar="PATH",
            default=env.get(prefix + "CONFIG"),
            help=f"TOML file of options (keys as the flags: max_line = 8192); flags and "
            f"environment variables win over it [env {prefix}CONFIG]",
        )
        self.add_argument("--version", action="version", version=f"%(prog)s {version()}")
        for f in self._fields.values():
            self._add(f)

    def _add(self, f: Field[Any]) -> None:
        kind = _kind(f)
        var = self._prefix + f.name.upper()
        default = f.default
        if var in self._env:
            try:
                default = _convert(kind, self._env[var])
            except ValueError:
                self._env_errors.append(f"{var}={self._env[var]!r} is not a valid {kind.__name__}")
            else:
                problem = _check(f, default)
                if problem:
                    self._env_errors.append(f"{var} {problem}")
                self._from_env.add(f.name)
        flag = _flag(f.name)
        help = f"{f.metadata['help']} [env {var}]"
        if kind is tuple:
            self.add_argument(flag, action=_Repeat, default=default, metavar="VALUE", help=help)
            return
        if kind is bool:
            self.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help
            )
            return
        self.add_argument(
            flag, type=kind, default=default, choices=f.metadata.get("choices"), help=help
        )

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._env_errors:
            self.error(self._env_errors[0])
        argv = list(sys.argv[1:] if args is None else args)
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--config", default=self.get_default("config"))
        path = pre.parse_known_args(argv)[0].config
        if path:
            file_values = self._load(path)
            self.set_defaults(**{k: v for k, v in file_values.items() if k not in self._from_env})
        ns, rest = super().parse_known_args(argv, namespace)
        for name, f in self._fields.items():
            problem = _check(f, getattr(ns, name))
            if problem:  # env and file values were checked already: this one is a flag
                self.error(f"{_flag(name)} {problem}")
        if hasattr(ns, "config"):
            del ns.config
        return ns, rest

    def _load(self, path: str) -> dict[str, Any]:
        try:
            with open(path, "rb") as file:
                data = tomllib.load(file)
        except OSError as err:
            self.error(f"cannot read the config file {path}: {err.strerror or err}")
        except tomllib.TOMLDecodeError as err:
            self.error(f"{path} is not valid TOML: {err}")
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = key.replace("-", "_")
            f = self._fields.get(name)
            if f is None:
                self._file_error(path, f"unknown option {key!r}")
            kind = _kind(f)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if kind is tuple and isinstance(value, list) and all(type(v) is str for v in value):
                value = tuple(value)
            if type(value) is not kind:
                self._file_error(path, f"{key} must be {_KIND_NAMES[kind]} (got {value!r})")
            problem = _check(f, value)
            if problem:
                self._file_error(path, f"{key} {problem}")
            out[name] = value
        return out

    def _file_error(self, path: str, message: str) -> NoReturn:
        self.error(f"{path}: {message}")


class _Repeat(argparse.Action):
    """A repeatable option: the first use replaces the default (from the environment or the
    file), the next ones add to it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest)
        base = () if current is self.default else tuple(current)
        setattr(namespace, self.dest, (*base, values))


_KIND_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    tuple: "a list of strings",
}


def _kind(f: Field[Any]) -> type:
    return type(f.default) if f.default is not MISSING else str


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _convert(kind: type, text: str) -> Any:
    if kind is bool:
        return _parse_bool(text)
    if kind is tuple:
        return tuple(text.replace(",", " ").split())
    return kind(text)


def _check(f: Field[Any], value: Any) -> str | None:
    """Why `value` is out of the range of field `f`, or None if it is in it."""
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        return f"must be one of {', '.join(choices)} (got {value!r})"
    check = f.metadata.get("check")
    if check is not None:
        problem: str | None = check(value)
        return problem
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number (got {value})"
    lo, hi, gt = (f.metadata.get(k) for k in ("lo", "hi", "gt"))
    if lo is not None and hi is not None and not lo <= value <= hi:
        return f"must be between {_num(lo)} and {_num(hi)} (got {_num(value)})"
    if lo is not None and hi is None and value < lo:
        return f"must be at least {_num(lo)} (got {_num(value)})"
    if hi is not None and lo is None and value > hi:
        return f"must be at most {_num(hi)} (got {_num(value)})"
    if gt is not None and not value > gt:
        return f"must be greater than {_num(gt)} (got {_num(value)})"
    return None


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)
