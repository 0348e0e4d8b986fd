"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here).

First the files themselves: every service built from the Dockerfile runs a real entry point
whose real parser accepts its flags, the nats service is the official image with JetStream on,
every node finds NATS by its service name, published ports land on the ports the commands
listen on (the stats API on the host's loopback only), health checks ask the right port,
restart policies and a `nofile` limit are set; the image installs its dependencies in a layer
of their own, exposes the port its command serves and checks its health. Then the topology
itself, as local processes on loopback and free ports: nats-server, both nodes and the stats
sidecar, each started from the command read in the file (only addresses, ports and the store
swapped), and two clients on different nodes chat through it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
import yaml

from chat.bench.cluster import nats_server_binary
from chat.bench.procfs import free_port
from chat.settings import Settings
from tests.helpers import TIMEOUT, JsonClient, ServerProcess, TextClient

ROOT = Path(__file__).resolve().parents[1]
Service = dict[str, Any]
NATS_CLIENT_PORT = 4222  # nats-server's default; the compose command does not change it
IMAGE = "chat:latest"


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def services() -> dict[str, Service]:
    return dict(compose()["services"])


def entry_points() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["scripts"])


def running(program: str) -> dict[str, Service]:
    """The services whose command runs `program`."""
    return {n: s for n, s in services().items() if s.get("command", [None])[0] == program}


def nats_service() -> tuple[str, Service]:
    (found,) = [(n, s) for n, s in services().items() if s.get("image", "").startswith("nats:")]
    return found


def env_of(svc: Service) -> dict[str, str]:
    return {k: str(v) for k, v in svc.get("environment", {}).items()}


def flag(args: Sequence[str], name: str) -> str:
    return args[list(args).index(name) + 1]


def swap(args: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """`args` with the value after each flag in `values` replaced (every flag must be there)."""
    out = list(args)
    for name, value in values.items():
        assert name in out, f"{name} not in {args}"
        out[out.index(name) + 1] = value
    return out


def published(svc: Service) -> list[tuple[int, int]]:
    """(host port, container port) for each entry of `ports` ("[IP:]HOST:CONTAINER")."""
    return [(host, container) for _, host, container in published_on(svc)]


def published_on(svc: Service) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) for each entry of `ports`; the address is
    "0.0.0.0" (every interface) when the entry names none."""
    out = []
    for entry in svc.get("ports", []):
        assert isinstance(entry, str), f"quote port mappings (YAML reads 1:2 as a number): {entry}"
        *address, host, container = entry.split(":")
        out.append((address[0] if address else "0.0.0.0", int(host), int(container)))
    return out


def health_url(svc: Service) -> SplitResult:
    test: str = " ".join(svc["healthcheck"]["test"])
    url: str
    (url,) = re.findall(r"http://[^\s'\"]+", test)
    return urlsplit(url)


def health_command(svc: Service, port: int) -> list[str]:
    """The health check's command, pointed at `port` on this machine instead of the container's."""
    test = svc["healthcheck"]["test"]
    assert test[0] == "CMD"
    url = health_url(svc)
    local = url._replace(netloc=f"127.0.0.1:{port}").geturl()
    return [arg.replace(url.geturl(), local) for arg in test[1:]]


# Each program's own parser: it raises SystemExit on a flag it does not accept.
def chat_server_flags(args: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    return vars(Settings.from_args(args, env))


def chat_stats_flags(args: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    from chat.sidecar.standalone import StatsSettings

    return vars(StatsSettings.from_args(args, env))


PARSERS: dict[str, Callable[[Sequence[str], Mapping[str, str]], dict[str, Any]]] = {
    "chat-server": chat_server_flags,
    "chat-stats": chat_stats_flags,
}


def flags_of(svc: Service) -> dict[str, Any]:
    command = svc["command"]
    return PARSERS[command[0]](command[1:], env_of(svc))


# --- the file --------------------------------------------------------------------------------


def test_every_built_service_runs_a_real_entry_point_with_accepted_flags() -> None:
    scripts = entry_points()
    assert scripts["chat-server"] == "chat.cli:main"  # what `python -m chat` runs too
    built = {n: s for n, s in services().items() if "build" in s}
    assert {s["command"][0] for s in built.values()} == {"chat-server", "chat-stats"}
    for name, svc in built.items():
        assert svc["build"] == "." and svc["image"] == IMAGE, f"{name}: one image for all"
        program = svc["command"][0]
        assert program in scripts, f"{name}: {program} is not an entry point"
        flags = flags_of(svc)  # SystemExit on a flag the program does not accept
        assert flags["log_format"] == "json", f"{name}: logs as JSON lines, whatever its prefix"


def test_nats_is_the_official_image_with_jetstream_and_a_volume() -> None:
    _, svc = nats_service()
    official_alpine = r"nats:([\w.]+-)?alpine[\w.]*"  # alpine: the health check needs wget
    assert re.fullmatch(official_alpine, svc["image"]), svc["image"]
    command = svc["command"]
    # The image's entrypoint runs nats-server with the command when it starts with a flag.
    assert command[0].startswith("-") and "-js" in command
    assert "-p" not in command  # clients use the default port, NATS_CLIENT_PORT
    store = flag(command, "-sd")
    volumes = compose()["volumes"]
    assert any(v.split(":") == [vol, store] for vol in volumes for v in svc["volumes"])
    url = health_url(svc)
    assert svc["healthcheck"]["test"][1] == "wget"
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", int(flag(command, "-m")), "/healthz")
    assert "ports" not in svc, "NATS stays on the compose network"


def test_nodes_reach_nats_by_service_name_and_their_ports_line_up() -> None:
    nats_name, _ = nats_service()
    nodes = running("chat-server")
    assert len(nodes) == 2
    hosts, irc_hosts = set(), set()
    for name, svc in nodes.items():
        flags = flags_of(svc)
        assert flags["host"] == "0.0.0.0", f"{name}: must listen beyond the container"
        nats = urlsplit(flags["nats"])
        assert (nats.scheme, nats.hostname, nats.port) == ("nats", nats_name, NATS_CLIENT_PORT)
        assert flags["node_name"] == name
        (host, container), (irc_host, irc_container) = published(svc)
        assert container == flags["port"], f"{name}: {host}:{container} but it listens on the port"
        assert flags["irc"] and irc_container == flags["irc_port"], f"{name}: IRC port"
        hosts.add(host)
        irc_hosts.add(irc_host)
        # The health check asks the node's own sidecar, inside the container only.
        url = health_url(svc)
        assert flags["stats_port"] and flags["stats_host"] == "127.0.0.1"
        assert (url.hostname, url.port, url.path) == ("127.0.0.1", flags["stats_port"], "/health")
        assert svc["depends_on"][nats_name]["condition"] == "service_healthy"
    assert hosts == {7001, 7002}
    assert irc_hosts == {6667, 6668}


def test_the_stats_service_reads_nats_and_publishes_8080() -> None:
    nats_name, _ = nats_service()
    ((_, svc),) = running("chat-stats").items()
    flags = flags_of(svc)
    assert flags["host"] == "0.0.0.0"
    nats = urlsplit(flags["nats"])
    assert (nats.scheme, nats.hostname, nats.port) == ("nats", nats_name, NATS_CLIENT_PORT)
    assert published(svc) == [(8080, flags["port"])]
    # No authentication on the stats API: the host's loopback only, never every interface.
    assert published_on(svc) == [("127.0.0.1", 8080, flags["port"])]
    url = health_url(svc)
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", flags["port"], "/health")
    assert svc["depends_on"][nats_name]["condition"] == "service_healthy"


def test_chat_services_may_hold_many_connections() -> None:
    """Every connection is a file descriptor: the chat services get a `nofile` limit above
    what one process holds (about 19,000 here), not Docker's default."""
    for name, svc in services().items():
        if "build" not in svc:
            continue
        nofile = svc["ulimits"]["nofile"]
        assert 20_000 <= nofile["soft"] <= nofile["hard"], f"{name}: {nofile}"


def test_only_the_chat_ports_are_published_beyond_this_machine() -> None:
    for name, svc in services().items():
        for address, host, _ in published_on(svc):
            if address != "127.0.0.1":
                assert svc["command"][0] == "chat-server", f"{name}: {host} on {address}"


def test_every_service_has_a_health_check_a_restart_policy_and_a_graceful_stop() -> None:
    for name, svc in services().items():
        check = svc["healthcheck"]
        assert check["test"][0] == "CMD" and {"interval", "timeout", "retries"} <= set(check)
        assert svc["restart"] == "unless-stopped", name
        assert svc["stop_signal"] == "SIGTERM" and svc["stop_grace_period"], name


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0], line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_dockerfile_is_slim_non_root_and_installs_uvloop_and_the_sidecar() -> None:
    text = dockerfile()
    assert re.search(r"^FROM python:3\.1[1-9]-slim$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    install = re.search(r"^RUN pip install --no-deps '\.\[(.+)\]'$", text, re.M)
    assert install and {"speed", "stats"} <= set(install.group(1).split(","))
    # `pip install .` puts every console script on PATH; the packages they import are copied.
    copied = set(re.findall(r"^COPY (\w+) \./\1$", text, re.M))
    for svc in services().values():
        if "build" in svc:
            package = entry_points()[svc["command"][0]].split(".")[0]
            assert package in copied, f"{package} is not copied into the image"


def test_the_dependencies_are_a_layer_of_their_own() -> None:
    """Only pyproject.toml is copied before the dependencies are installed, so a change to the
    code reuses that layer; the code is installed after, without its dependencies."""
    steps = instructions()
    deps = next(i for i, (op, arg) in enumerate(steps) if op == "RUN" and "pip install -r" in arg)
    copies = [arg for op, arg in steps[:deps] if op == "COPY"]
    assert copies == ["pyproject.toml ./"], copies
    # The requirements come from pyproject.toml: the core and the extras the image needs.
    assert all(x in steps[deps][1] for x in ("['dependencies']", "['speed']", "['stats']"))
    code = [i for i, (op, arg) in enumerate(steps) if op == "COPY" and arg.startswith("chat ")]
    assert code and code[0] > deps


def test_the_image_exposes_and_checks_what_its_command_serves() -> None:
    steps = dict(instructions())  # one CMD, one EXPOSE, one HEALTHCHECK
    cmd = json.loads(steps["CMD"])
    assert cmd[0] == "chat-server"
    flags = chat_server_flags(cmd[1:], {})
    assert steps["EXPOSE"].split() == [str(flags["port"])]  # the chat port, and only it
    check = steps["HEALTHCHECK"]
    assert "--interval=" in check and "--timeout=" in check
    url = urlsplit(re.findall(r"http://[^\s'\"]+", check)[0])
    assert flags["stats_port"] and flags["stats_host"] == "127.0.0.1"
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", flags["stats_port"], "/health")


# --- the topology as local processes ---------------------------------------------------------


async def start_logged(*argv: str, env: Mapping[str, str] | None = None) -> ServerProcess:
    """Any program as a child process whose stderr lines are collected (`ServerProcess`)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})},
    )  # fmt: skip
    return ServerProcess(proc)


def entry_point_argv(program: str) -> list[str]:
    """Run `program` (a [project.scripts] name) with this interpreter, installed or not."""
    module, func = entry_points()[program].split(":")
    code = f"import sys; sys.argv[0] = {program!r}; from {module} import {func}; sys.exit({func}())"
    return [sys.executable, "-c", code]


async def run_health_check(svc: Service, port: int) -> None:
    """The service's health check as compose would run it, against our local port."""
    check = health_command(svc, port)
    program = {"python": sys.executable}.get(check[0], check[0])
    proc = await asyncio.create_subprocess_exec(program, *check[1:])
    # Bounded generously: a busy machine is slow to start an interpreter; the check's own
    # timeout (in the compose file) is what it is about.
    assert await asyncio.wait_for(proc.wait(), 30) == 0, f"health check failed: {check}"


async def until_stats(
    http: httpx.AsyncClient, ok: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    """Poll /stats until `ok(body)`, bounded by `timeout`; nodes report about once a second.

    Polled because HTTP is the only thing chat-stats offers here: it logs a node's first report
    (`stats.node_seen`), not each one, so no event tells when the counts have caught up."""
    body: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await http.get("/stats")
        if r.status_code == 200:
            body = r.json()
            if ok(body):
                return body
        await asyncio.sleep(0.1)  # pacing between polls, not a wait for an event
    raise AssertionError(f"/stats never got there; last: {body}")


async def test_the_compose_topology_runs_as_local_processes_and_chats(tmp_path: Path) -> None:
    procs: list[ServerProcess] = []
    codes: list[int] = []
    try:
        # nats: the compose command, on loopback, with the store and monitoring port swapped.
        _, nats_svc = nats_service()
        nats_port, monitor_port = free_port(), free_port()
        args = swap(nats_svc["command"], {"-sd": str(tmp_path / "nats"), "-m": str(monitor_port)})
        nats = await start_logged(
            nats_server_binary(), "-a", "127.0.0.1", "-p", str(nats_port), *args
        )
        procs.append(nats)
        await nats.wait_logs(lambda e: "Server is ready" in e.get("line", ""), timeout=15)
        await run_health_check(nats_svc, monitor_port)
        nats_url = f"nats://127.0.0.1:{nats_port}"

        # The two nodes: their compose commands with addresses and ports swapped.
        nodes: list[ServerProcess] = []
        for svc in running("chat-server").values():
            chat_port, stats_port, irc_port = free_port(), free_port(), free_port()
            local = {"--host": "127.0.0.1", "--port": str(chat_port), "--nats": nats_url,
                     "--stats-port": str(stats_port), "--irc-port": str(irc_port)}  # fmt: skip
            node = await ServerProcess.start(*swap(svc["command"][1:], local), env=env_of(svc))
            procs.append(node)
            assert node.port == chat_port
            await node.log_event("stats.started")  # its sidecar comes up after the listener
            await run_health_check(svc, stats_port)
            nodes.append(node)

        # The cluster stats sidecar, from its compose command.
        ((_, stats_svc),) = running("chat-stats").items()
        http_port = free_port()
        local = {"--host": "127.0.0.1", "--port": str(http_port), "--nats": nats_url}
        stats = await start_logged(
            *entry_point_argv("chat-stats"), *swap(stats_svc["command"][1:], local),
            env=env_of(stats_svc),
        )  # fmt: skip
        procs.append(stats)
        await stats.log_event("stats.started", timeout=15)
        await run_health_check(stats_svc, http_port)

        # alice types on node 1 as with netcat, bob's program speaks JSON lines on node 2.
        alice = await TextClient.login(nodes[0].port, "alice")
        bob = await JsonClient.login(nodes[1].port, "bob")
        await alice.expect(r"^\* bob joined #lobby \(2 here\)")
        await alice.send("hello from chat1")
        said = await bob.event("message", lambda ev: ev["nick"] == "alice")
        assert (said["room"], said["text"]) == ("#lobby", "hello from chat1")
        await bob.send_json(type="say", text="hi alice, from chat2")
        assert await alice.expect(r"^\[#lobby\] <bob> hi alice, from chat2$")
        await alice.send("/who")
        assert await alice.expect(r"^\* #lobby \(2\): (alice, bob|bob, alice)$")

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{http_port}", trust_env=False, timeout=TIMEOUT
        ) as http:
            body = await until_stats(
                http, lambda b: b["nodes"] == 2 and b["connections"]["current"] == 2
            )
            assert body["rooms"] == 1  # #lobby, with members on both nodes
            per_node = (await http.get("/nodes")).json()["items"]
        # Each node reports under its --node-name from the compose file (plus a per-process tag).
        connections = {n["id"].rsplit("-", 1)[0]: n["stats"]["connections"]["current"]
                       for n in per_node}  # fmt: skip
        assert connections == dict.fromkeys(running("chat-server"), 1)
        await alice.close()
        await bob.close()
    finally:
        for proc in reversed(procs):  # SIGTERM, as compose stops them; nats-server last
            try:
                codes.append(await proc.stop())
            except TimeoutError:
                proc.proc.kill()  # never leave a process behind
                codes.append(await proc.proc.wait())
    assert codes == [0] * len(procs), [p.logs[-5:] for p in procs]
