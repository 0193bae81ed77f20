"""The log lines of apps and of their functions: a page at a time, or live as server-sent
events (`Accept: text/event-stream`)."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from wharf_gateway.api.common import count_param, parse_count, path_param
from wharf_gateway.apps.logs import log_events
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.responses import SSE_CONTENT_TYPE, accepts_event_stream, json_response
from wharf_gateway.security.ratelimit import client_address
from wharf_gateway.server.state import principal_of, state_of
from wharf_gateway.storage.reports import LogQuery

#: Most log lines one request (or one read of a stream) returns.
MAX_LOG_LINES = 1000
#: Longest `filter` text.
MAX_FILTER_CHARS = 200
#: Where a client that reconnects says which event it saw last (standard for event streams).
LAST_EVENT_ID_HEADER = "last-event-id"


async def app_logs(request: Request) -> Response:
    """An app's log lines, a page at a time or live (server-sent events): 200; 400, 401, 404.

    Up to 1000 lines after `?after_id=` (or, with `?tail=N`, from the last N), only those
    holding `?filter=` text; with `Accept: text/event-stream`, every such line as it is stored
    (429 past 16 streams open in the workspace).
    """
    principal = await principal_of(request)
    app = await state_of(request)["apps"].app(principal.workspace_id, path_param(request, "app"))
    return await _logs_response(request, principal.workspace_id, app.app_id, None)


async def function_logs(request: Request) -> Response:
    """One function's log lines, as the app's logs route gives them: 200; 400, 401, 404."""
    principal = await principal_of(request)
    function = await state_of(request)["apps"].function(
        principal.workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    return await _logs_response(request, principal.workspace_id, function.app_id, function.name)


async def _logs_response(
    request: Request, workspace_id: str, app_id: str, function_name: str | None
) -> Response:
    state = state_of(request)
    after_id = _first_after_id(request)
    tail = count_param(request, "tail", 0)
    if "tail" in request.query_params and not 1 <= tail <= MAX_LOG_LINES:
        raise InvalidRequest(f"tail must be between 1 and {MAX_LOG_LINES}, not {tail}")
    if after_id is None:
        after_id = await state["reports"].log_tail_start(app_id, function_name, tail) if tail else 0
    query = LogQuery(app_id, after_id, MAX_LOG_LINES, function_name, _filter_of(request))
    if not accepts_event_stream(request.headers.get("accept")):
        lines, next_after_id = await state["reports"].logs(query)
        return json_response({"logs": lines, "next_after_id": next_after_id})

    async def read(after_id: int) -> tuple[list[dict[str, object]], int]:
        return await state["reports"].logs(replace(query, after_id=after_id))

    authorization = request.headers.get("authorization")
    client = client_address(request.scope, state["config"].trust_forwarded_headers)

    async def still_allowed() -> object:
        # A stream outlives its request: a token revoked meanwhile ends it (no rate charge).
        return await state["auth"].authenticate(authorization, client)

    feed = state["log_feed"]
    close = feed.open_stream(workspace_id)
    events = log_events(feed, app_id, read, query.after_id, still_allowed, MAX_LOG_LINES)

    async def counted() -> AsyncIterator[bytes]:
        try:
            async for event in events:
                yield event
        finally:
            close()

    stream = counted()
    weakref.finalize(stream, close)  # a stream whose response never started
    return StreamingResponse(
        stream,
        media_type=SSE_CONTENT_TYPE,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def _first_after_id(request: Request) -> int | None:
    """A reconnecting event stream's `Last-Event-ID` (sent only on a reconnect, with the
    first request's URL), else `?after_id=`, else None."""
    last_seen = request.headers.get(LAST_EVENT_ID_HEADER)
    if last_seen is not None:
        return parse_count(LAST_EVENT_ID_HEADER, last_seen.strip())
    if "after_id" in request.query_params:
        return count_param(request, "after_id", 0)
    return None


def _filter_of(request: Request) -> str | None:
    text = request.query_params.get("filter") or None
    if text is not None and len(text) > MAX_FILTER_CHARS:
        raise InvalidRequest(f"filter must be at most {MAX_FILTER_CHARS} characters")
    return text


ROUTES = [
    Route("/v1/apps/{app}/logs", app_logs, methods=["GET"]),
    Route("/v1/apps/{app}/functions/{function}/logs", function_logs, methods=["GET"]),
]
