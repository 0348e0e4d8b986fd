from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.net.server import ChatServer
from tests.helpers import running_server
from tests.natsd import NatsServer, running_nats


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with running_server() as srv:
        yield srv


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A real nats-server (JetStream on) on a free loopback port, for the cluster tests."""
    async with running_nats(tmp_path / "nats") as nats:
        yield nats
