"""The asyncio transport: listeners, one protocol object per socket, coalesced writes,
the idle sweep, TLS. It moves bytes between sockets and the core.
"""
