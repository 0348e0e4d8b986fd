from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat.net.server import ChatServer
from tests.helpers import running_server


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with running_server() as srv:
        yield srv
