"""Scale-out over NATS: chat-server nodes share rooms, nicks and stats (docs/architecture.md)."""
