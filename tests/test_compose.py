"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here):
parse them, check every command against the real entry points and their flags, check the
ports line up, then run the same command as a local process (on loopback and free ports) and
chat across it, health check included."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import yaml

from chat.settings import Settings
from tests.helpers import ServerProcess, TextClient

ROOT = Path(__file__).resolve().parents[1]


def services() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(doc["services"])


def entry_points() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["scripts"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_service_command_is_a_real_entry_point_with_accepted_flags() -> None:
    scripts = entry_points()
    assert scripts["chat-server"] == "chat.cli:main"  # what `python -m chat` runs too
    for name, svc in services().items():
        command = svc["command"]
        assert command[0] in scripts, f"{name}: {command[0]} is not an entry point"
        settings = Settings.from_args(command[1:], svc.get("environment", {}))  # exits if bad
        assert settings.host == "0.0.0.0", f"{name}: must listen beyond the container"
        published = {int(p.split(":")[1]) for p in svc["ports"]}
        assert published == {settings.port, settings.stats_port}, f"{name}: ports do not line up"
        assert all(p.split(":")[0] == p.split(":")[1] for p in svc["ports"])
        health = " ".join(svc["healthcheck"]["test"])
        assert f":{settings.stats_port}/health" in health
        assert svc["restart"] == "unless-stopped" and svc["build"] == "."


def test_the_dockerfile_is_slim_non_root_and_installs_uvloop() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[1-9]-slim$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    install = re.search(r"^RUN pip install '\.\[(.+)\]'$", text, re.M)
    assert install and {"speed", "stats"} <= set(install.group(1).split(","))
    assert '"chat-server"' in text.splitlines()[-1]  # CMD


async def test_the_compose_service_runs_as_a_local_process_and_chats() -> None:
    (svc,) = services().values()
    args = list(svc["command"][1:])
    chat_port, stats_port = free_port(), free_port()
    swap = {"--host": "127.0.0.1", "--port": str(chat_port), "--stats-port": str(stats_port),
            "--stats-host": "127.0.0.1"}  # fmt: skip
    args = [swap.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
    env = {k: str(v) for k, v in svc.get("environment", {}).items()}
    server = await ServerProcess.start(*args, env=env)
    try:
        assert server.port == chat_port
        alice = await TextClient.login(chat_port, "alice")
        bob = await TextClient.login(chat_port, "bob")
        await alice.send("hello from compose")
        assert await bob.expect(r"^\[#lobby\] <alice> hello from compose")
        # The health check, as compose would run it (its port swapped for ours).
        check = [x.replace(":8080/", f":{stats_port}/") for x in svc["healthcheck"]["test"][1:]]
        assert check[0] == "python"
        proc = await asyncio.create_subprocess_exec(sys.executable, *check[1:])
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"http://127.0.0.1:{stats_port}/stats")).json()
        assert stats["connections"]["current"] == 2
    finally:
        assert await server.stop() == 0  # SIGTERM, as compose stops it
