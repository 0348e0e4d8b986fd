"""Smoke test with a real IRC client: WeeChat (Debian's `weechat-headless`) connects, joins a
room, receives a line from a netcat-style user and sends one back (a trigger answers it).

`.ci/run` installs weechat-headless with apt-get; without the binary this one test is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import pytest

from tests.helpers import TextClient, running_server

WEECHAT = shutil.which("weechat-headless")
WAIT = 30.0

pytestmark = pytest.mark.skipif(
    WEECHAT is None,
    reason="weechat-headless is not installed (apt-get install weechat-headless; .ci/run does)",
)


def _logs(home: Path) -> str:
    return "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')}"
        for path in sorted((home / "logs").glob("*.weechatlog"))
    )


async def test_weechat_chats_with_netcat(tmp_path: Path) -> None:
    assert WEECHAT is not None
    async with running_server(irc=True, irc_port=0) as server:
        nc = await TextClient.login(server.port, "nc")
        await nc.send("/join #smoke")
        await nc.expect(r"^\* #smoke \(1\)")
        answer = "/msg -server chat #smoke pong-from-weechat"
        commands = ";".join(
            (
                f"/server add chat 127.0.0.1/{server.irc_port} -notls",
                "/set irc.server.chat.nicks wee",
                "/set irc.server.chat.autojoin #smoke",
                "/set logger.file.flush_delay 0",
                # a trigger answers the nc user's line: proof that WeeChat received it
                "/trigger add pong signal chat,irc_in2_privmsg"
                ' "${raw:${tg_signal_data} =~ ping-from-nc}" "" "' + answer + '"',
                "/connect chat",
            )
        )
        home = tmp_path / "weechat"
        proc = await asyncio.create_subprocess_exec(
            WEECHAT,
            "--dir",
            str(home),
            "--no-script",
            "--run-command",
            commands,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            try:
                await nc.expect(r"^\* wee joined #smoke \(2 here\)", timeout=WAIT)
                await nc.send("ping-from-nc")
                line = await nc.expect(r"pong-from-weechat", timeout=WAIT)
            except AssertionError as err:
                raise AssertionError(f"{err}\nWeeChat's logs:\n{_logs(home)}") from err
            assert line == "[#smoke] <wee> pong-from-weechat"
        finally:
            proc.terminate()  # WeeChat runs /quit on SIGTERM
            try:
                await asyncio.wait_for(proc.wait(), WAIT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await nc.expect(r"^\* wee quit", timeout=WAIT)
        await nc.close()
