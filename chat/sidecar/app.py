"""The FastAPI application: `/health`, `/stats`, `/nodes`, `/rooms`, `/rooms/{name}`, `/metrics`,
`/`. The same app serves one in-process hub (`LocalView`) or a whole cluster (`ClusterStats`).

Every handler is `async def` ON PURPOSE: FastAPI runs plain `def` handlers in a thread pool,
and the hub's dicts must only be read from the event loop that owns them. Handlers only read;
each reads a bounded amount (see `chat.core.statsview`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from chat.core.statsview import MAX_PAGE, Order, StatsView
from chat.protocol.errors import ProtocolError
from chat.protocol.names import check_room, fold
from chat.sidecar import models as m
from chat.sidecar.metrics import registry_for, render
from chat.sidecar.page import PAGE

MAX_OFFSET = 1_000_000
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="index of the first item")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="most items to return")]


def create_app(view: StatsView) -> FastAPI:
    app = FastAPI(
        title="chat stats",
        version="1",
        description="Live numbers of the chat server: connections, rooms, messages, cuts, "
        "errors, event loop lag. Served from the chat server's own event loop, or by "
        "`chat-stats` for a whole NATS cluster (merged, with a per-node breakdown at /nodes).",
    )
    registry = registry_for(view.snapshot, view.nodes)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown paths and methods answer in the same JSON shape as an unknown room.
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        body = m.Error(error=code, message=str(exc.detail))
        return JSONResponse(body.model_dump(), exc.status_code, headers=exc.headers)

    @app.get("/", response_class=HTMLResponse, summary="A live page for people")
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/health", summary="Liveness")
    async def health() -> m.Health:
        return m.Health(status="ok", uptime_seconds=view.snapshot().uptime)

    @app.get("/stats", summary="Server-wide counters and rates")
    async def stats() -> m.StatsOut:
        return m.StatsOut.of(view.snapshot())

    @app.get("/nodes", summary="Each chat server node's own numbers")
    async def nodes() -> m.NodeList:
        items = view.nodes()
        return m.NodeList(total=len(items), items=[m.Node.of(n) for n in items])

    @app.get("/rooms", summary="Rooms, one page at a time")
    async def rooms(
        offset: Offset = 0,
        limit: Limit = 100,
        order: Annotated[
            Order,
            Query(description="`created`: oldest room first; `members`: biggest first"),
        ] = "created",
    ) -> m.RoomPage:
        items = view.rooms(offset, limit, order)
        return m.RoomPage(
            items=[m.Room.of(r) for r in items],
            total=view.room_count(),
            offset=offset,
            limit=limit,
        )

    @app.get(
        "/rooms/{name}",
        response_model=m.RoomDetail,
        summary="One room, with one page of its members",
        responses={404: {"model": m.Error, "description": "no such room"}},
    )
    async def room(
        name: Annotated[str, Path(description="room name; the # is optional (%23 in a URL)")],
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> m.RoomDetail | JSONResponse:
        try:
            key = fold(check_room(name))
        except ProtocolError as err:
            return _no_room(f"no room {name!r} can exist: {err.message}")
        snap = view.room(key)
        if snap is None:
            return _no_room(f"there is no room {check_room(name)}")
        members = await view.members(key, offset, limit)
        return m.RoomDetail(
            **m.Room.of(snap).model_dump(),
            member_list=m.MemberPage(
                items=[m.Member(nick=x.nick, dialect=x.dialect) for x in members],
                total=snap.members,
                offset=offset,
                limit=limit,
            ),
        )

    @app.get(
        "/metrics",
        summary="Prometheus text format",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(render(registry), media_type=PROMETHEUS_TEXT)

    return app


def _no_room(message: str) -> JSONResponse:
    return JSONResponse(m.Error(error="no-such-room", message=message).model_dump(), 404)
