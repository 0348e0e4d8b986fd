"""The stats sidecar: a FastAPI app over the server's O(1) counters (`chat.core.stats`).

- `view`: what the endpoints read (`LocalView` over the hub; bounded work per request)
- `models`: typed response bodies (they make `/openapi.json`)
- `app`: the endpoints; `metrics`: Prometheus text; `page`: the live HTML page at `/`
- `embed`: `Sidecar`, uvicorn driven from the chat server's own event loop
- `cluster`: `ClusterStats`, the same questions answered for a NATS cluster from the reports
  every node publishes (`chat.cluster.reporter`); `standalone`: `chat-stats`, which serves it

Importing this package needs the `stats` extra (fastapi, uvicorn, prometheus-client).
"""
