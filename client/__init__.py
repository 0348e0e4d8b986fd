"""chat-client: a terminal chat client (prompt_toolkit UI over a sans-UI connection core)."""
