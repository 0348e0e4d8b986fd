"""chat: an asyncio TCP chat server with a sans-I/O protocol core."""

__version__ = "0.1.0"
