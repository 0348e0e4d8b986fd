"""The sans-I/O core: nicks, rooms, sessions, one connection's state machine, history,
stats. No asyncio, no sockets; every module here is tested in memory.
"""
