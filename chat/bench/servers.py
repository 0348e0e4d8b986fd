"""Servers chat-bench starts itself: our `chat-server`, the reference floor and ngircd, on free
ports.

Each is a child process on 127.0.0.1 with the per-IP cap, the line-rate limit and the
room-creation rate limit turned off (the load comes from one address, posts far faster than a
person and creates its rooms at once), stopped with SIGTERM (SIGKILL
after a few seconds) by its own PID. `spawn(..., irc=True)` also opens our IRC listener
(`--irc --irc-port`, a second free port) and waits for both.

ngircd (Debian's package, `apt-get install ngircd`) runs in the foreground (`-n`) with a
configuration written into a temporary directory (`ngircd_config`): listening on 127.0.0.1
only, no DNS, IDENT or PAM lookups, no connection caps, and its flood protection off for the
load generator the way its documentation offers: `MaxPenaltyTime = 0` (no penalty delays) and
`DefaultUserModes = F` (user mode F, "relaxed flood protection": 10 commands per pass instead
of 3, never throttled; without it a sender with 50 lines in flight overruns ngircd's 2 KiB read
buffer and is cut with "Receive buffer space exhausted").
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from chat.bench.procfs import free_port

FLOOR_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "floor_server.py"


@dataclass
class Spawned:
    name: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    irc_port: int = 0
    """Our server's IRC listener, when spawned with `irc=True` (ngircd's is `port`)."""
    workdir: Path | None = None
    """A temporary directory of the server's own (ngircd's configuration), removed by stop()."""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> int | None:
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    return self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            return self.proc.wait(timeout)
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)


def server_command(kind: str, port: int, loop: str, members: int, extra: list[str]) -> list[str]:
    if kind == "floor":
        if not FLOOR_SCRIPT.exists():
            raise SystemExit(f"the floor server is not at {FLOOR_SCRIPT} (run from a checkout)")
        return [sys.executable, str(FLOOR_SCRIPT), "--port", str(port), "--loop", loop, *extra]
    room_cap = str(max(members + 100, 10_000))
    return [
        sys.executable, "-m", "chat", "--port", str(port), "--loop", loop,
        "--log-level", "warning", "--log-format", "json", "--max-per-ip", "0", "--msg-rate", "0",
        "--room-create-rate", "0", "--max-clients", room_cap, "--max-room-members", room_cap,
        *extra,
    ]  # fmt: skip


def spawn(
    kind: str,
    loop: str,
    members: int,
    extra: list[str] | None = None,
    stderr: IO[bytes] | None = None,
    irc: bool = False,
) -> Spawned:
    """Start a `chat`, `floor` or `ngircd` server on a free port; return once it accepts
    connections (with `irc`, our server's IRC listener too).

    Its log (stderr) goes to `stderr` if given, else to ours (ngircd's to its directory)."""
    if kind == "ngircd":
        return spawn_ngircd()
    port = free_port()
    cmd = server_command(kind, port, loop, members, extra or [])
    irc_port = free_port() if irc else 0
    if irc:
        cmd += ["--irc", "--irc-port", str(irc_port)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    server = Spawned(kind, "127.0.0.1", port, proc, irc_port)
    for listening in (port, irc_port) if irc else (port,):
        wait_listening(server, listening, " ".join(cmd))
    return server


def wait_listening(server: Spawned, port: int, what: str, timeout: float = 20.0) -> None:
    """Return once `server` accepts connections on `port`; stop it and exit if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            code, said = server.proc.returncode, log_tail(server)
            server.stop()
            raise SystemExit(f"{server.name} server exited with {code}: {what}{said}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.02)
            continue
        return
    said = log_tail(server)
    server.stop()
    raise SystemExit(f"{server.name} server did not listen on {port} within {timeout:g} s{said}")


def log_tail(server: Spawned, lines: int = 3) -> str:
    """The last lines of a log the server keeps in its own directory (ngircd's), for an error."""
    if server.workdir is None:
        return ""
    try:
        text = (server.workdir / f"{server.name}.log").read_text(errors="replace")
    except OSError:
        return ""
    return "".join("\n  " + line for line in text.splitlines()[-lines:])


NGIRCD_LOGINS_AT_ONCE = 4
"""Logins in progress at once per load worker against ngircd: it listens with a backlog of 10
(`listen(sock, 10)`, fixed in its source), so the 200 at once used elsewhere overflow it, the
kernel drops SYNs and clients retry after 1, 3, 7... s (8 connections/s with the server idle).
The fan-out measured after the ramp does not depend on it."""

NGIRCD_PATHS = ("/usr/sbin/ngircd", "/usr/local/sbin/ngircd")
"""Where Debian (and a source build) put ngircd: /usr/sbin is not on every user's PATH."""


def find_ngircd() -> str | None:
    """ngircd's path, if it is installed."""
    return shutil.which("ngircd") or next((p for p in NGIRCD_PATHS if os.access(p, os.X_OK)), None)


def ngircd_binary() -> str:
    """ngircd's path, or exit with one line saying how to get it."""
    found = find_ngircd()
    if found is None:
        raise SystemExit("ngircd not found: install Debian's package (apt-get install ngircd)")
    return found


def ngircd_config(port: int) -> str:
    """A minimal ngircd.conf for benchmarking on loopback (see the module docstring)."""
    return f"""\
[Global]
Name = bench.ngircd
Info = chat-bench reference server
AdminInfo1 = chat-bench
AdminInfo2 = loopback
AdminEMail = nobody@localhost
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = chat-bench

[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 120
PongTimeout = 20

[Options]
DNS = no
Ident = no
PAM = no
DefaultUserModes = F
"""


def spawn_ngircd() -> Spawned:
    """ngircd in the foreground on a free loopback port, its configuration and log in a
    temporary directory (removed when it stops)."""
    binary = ngircd_binary()
    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-ngircd-"))
    workdir.chmod(0o755)  # started as root, ngircd runs as nobody
    conf = workdir / "ngircd.conf"
    port = free_port()
    conf.write_text(ngircd_config(port))
    conf.chmod(0o644)
    with open(workdir / "ngircd.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, "-n", "-f", str(conf)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
        )  # fmt: skip
    server = Spawned("ngircd", "127.0.0.1", port, proc, workdir=workdir)
    wait_listening(server, port, f"{binary} -n -f {conf}")
    return server
