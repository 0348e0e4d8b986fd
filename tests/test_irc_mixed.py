"""An nc-style text user, a JSON client and an IRC client chat in one room."""

from __future__ import annotations

import asyncio

from chat.net.server import ChatServer
from tests.helpers import JsonClient, TextClient, running_server
from tests.ircclient import IrcClient


async def test_three_dialects_one_room() -> None:
    async with running_server(irc=True, irc_port=0) as server:
        await three_dialects(server)


async def three_dialects(server: ChatServer) -> None:
    nc = await TextClient.login(server.port, "nc")
    js = await JsonClient.login(server.port, "js")
    irc = await IrcClient.login(server.irc_port, "irc")
    await irc.send("NAMES", "#lobby")
    names = await irc.until("366")
    assert names[0].params[3].split() == ["nc", "js", "irc"]
    await nc.expect(r"^\* irc joined #lobby \(3 here\)")
    await js.event("join", lambda ev: ev["nick"] == "irc")

    await irc.send("PRIVMSG", "#lobby", "hello from irssi")
    assert await nc.expect(r"^\[#lobby\]") == "[#lobby] <irc> hello from irssi"
    said = await js.event("message")
    assert (said["nick"], said["text"], said["action"]) == ("irc", "hello from irssi", False)

    await nc.send("hi irc, from netcat")
    msg = await irc.expect("PRIVMSG")
    assert (msg.source, msg.params) == ("nc!nc@chat", ["#lobby", "hi irc, from netcat"])
    await js.send_json(type="me", text="waves")
    action = await irc.expect("PRIVMSG")
    assert (action.source, action.params) == ("js!js@chat", ["#lobby", "\x01ACTION waves\x01"])
    await irc.send("PRIVMSG", "#lobby", "\x01ACTION bows\x01")
    assert await nc.expect(r"bows") == "[#lobby] * irc bows"
    assert (await js.event("message", lambda ev: ev["nick"] == "irc"))["text"] == "bows"

    # private messages both ways, /me in a query too
    await irc.send("PRIVMSG", "js", "psst")
    private = await js.event("private")
    assert (private["from"], private["to"], private["text"]) == ("irc", "js", "psst")
    await js.send_json(type="msg", to="IRC", text="back at you")  # nicks fold
    pm = await irc.expect("PRIVMSG")
    assert (pm.source, pm.params) == ("js!js@chat", ["irc", "back at you"])
    await irc.send("PRIVMSG", "nc", "\x01ACTION nods\x01")
    assert await nc.expect(r"^\[pm\]") == "[pm] * irc nods"
    await nc.send("/msg irc hey")
    assert (await irc.expect("PRIVMSG")).params == ["irc", "hey"]

    # one namespace of nicks
    await irc.send("NICK", "NC")
    assert (await irc.expect("433")).params[:2] == ["irc", "NC"]
    other = await JsonClient.connect(server.port)
    await other.send_json(type="hello", version=1, nick="Irc")
    assert (await other.event("error"))["code"] == "nick-taken"

    # the topic and nick changes are seen by all
    await irc.send("TOPIC", "#lobby", "three dialects")
    assert await nc.expect("set the topic") == "* irc set the topic of #lobby: three dialects"
    assert (await js.event("topic"))["by"] == "irc"
    await nc.send("/nick netcat")
    nick = await irc.expect("NICK")
    assert (nick.source, nick.params) == ("nc!nc@chat", ["netcat"])
    await irc.send("WHOIS", "js")
    whois = {m.command: m.params for m in await irc.until("318")}
    assert whois["311"][-1] == "json user"
    await js.send_json(type="quit", reason="done")
    quit_ = await irc.expect("QUIT")
    assert (quit_.source, quit_.params) == ("js!js@chat", ["done"])
    await asyncio.gather(nc.close(), js.close(), irc.close(), other.close())
