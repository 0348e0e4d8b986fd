"""Servers chat-bench starts itself: our `chat-server` and the reference floor, on free ports.

Each is a child process on 127.0.0.1 with the per-IP cap, the line-rate limit and the
room-creation rate limit turned off (the load comes from one address, posts far faster than a
person and creates its rooms at once), stopped with SIGTERM (SIGKILL
after a few seconds) by its own PID.
"""

from __future__ import annotations

import socket
import subprocess
import sys
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

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout)


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
) -> Spawned:
    """Start a `chat` or `floor` server on a free port; return once it accepts connections.

    Its log (stderr) goes to `stderr` if given, else to ours."""
    port = free_port()
    cmd = server_command(kind, port, loop, members, extra or [])
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    server = Spawned(kind, "127.0.0.1", port, proc)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{kind} server exited with {proc.returncode}: {' '.join(cmd)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.02)
            continue
        return server
    server.stop()
    raise SystemExit(f"{kind} server did not listen on {port} within 20 s")
