"""What Linux says about a process: resident memory and CPU time (from /proc)."""

from __future__ import annotations

import os
import socket


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (VmRSS), or 0 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used, or 0.0 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_calls(pid: int) -> int:
    """System calls `pid` has made that write (write, send, writev...: `syscw` in /proc/PID/io)."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("syscw:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def loadavg() -> list[float]:
    try:
        return [float(x) for x in os.getloadavg()]
    except OSError:
        return []
