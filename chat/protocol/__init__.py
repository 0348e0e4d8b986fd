"""Sans-I/O protocol layer: bytes in -> commands, events -> bytes out. No asyncio here.

Theory of operation
-------------------
A connection's received bytes go through a `LineSplitter` (bounded lines), then through a
`Codec` that turns each line into a `Command` or raises `ProtocolError`. The first line picks the
codec: a line starting with ``{`` is a JSON hello, anything else is a human typing a nick.
Going the other way, a domain `Event` is turned into bytes by `Codec.encode`; the core encodes
each event once per dialect and hands the same bytes object to every member of a room.
"""

PROTOCOL_VERSION = 1
