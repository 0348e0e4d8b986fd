"""`chat-bench`: a load generator for chat servers speaking the protocol of docs/protocol.md.

`cli` parses the command line; `scenarios` plans a run and drives it from the coordinating
process; `workers` are the load processes (one asyncio loop each, many sockets each); `wire`
holds the bytes of both dialects; `servers` starts servers to measure (ours and the floor);
`report` turns counters and samples into tables and JSON.
"""
