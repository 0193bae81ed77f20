"""What the gateway recorded of a workspace's calls, for people looking on (the dashboard):
recent calls a page at a time, one call's details, and a function's calls per minute with the
p50 and p99 of their durations. All of it is read from the store when asked; nothing is added
to the path of a call."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.api.common import count_param, path_param
from wharf_gateway.errors import InvalidRequest, NotFound
from wharf_gateway.models import WEB_PAYLOAD_FORMAT, CallDetails, CallStatus, CallSummary, Principal
from wharf_gateway.responses import json_response
from wharf_gateway.scheduling.variants import Variant
from wharf_gateway.server.state import principal_of, state_of
from wharf_gateway.storage.reports import CallQuery

DEFAULT_PAGE_CALLS = 50
MAX_PAGE_CALLS = 200
#: The history covers this many minutes, the current one last.
HISTORY_MINUTES = 60
MINUTE_S = 60.0


def shown_status(call: CallSummary, is_running: bool) -> CallStatus:
    """The store holds a call as pending until its outcome; one with an input in a container,
    or a web request kept as a call (it is being served), shows as running."""
    if call.status is CallStatus.PENDING and (
        is_running or call.payload_format == WEB_PAYLOAD_FORMAT
    ):
        return CallStatus.RUNNING
    return call.status


def summary_json(call: CallSummary, status: CallStatus) -> dict[str, Any]:
    finished_at = call.finished_at
    return {
        "call_id": call.call_id,
        "app_id": call.app_id,
        "app_name": call.app_name,
        "function_name": call.function_name,
        "status": status.value,
        "created_at": call.created_at,
        "finished_at": finished_at,
        "duration_s": None if finished_at is None else max(0.0, finished_at - call.created_at),
    }


def encode_cursor(after: tuple[float, str]) -> str:
    """Where the next page starts: after this `(created_at, call_id)`."""
    raw = orjson.dumps(list(after))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The inverse of `encode_cursor`.

    Raises:
        InvalidRequest: not a cursor this API gave out.
    """
    try:
        created_at, call_id = orjson.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
    except (ValueError, TypeError):  # base64 and JSON errors are ValueErrors
        created_at = call_id = None
    is_time = isinstance(created_at, int | float) and not isinstance(created_at, bool)
    if not is_time or not isinstance(call_id, str):
        raise InvalidRequest("cursor must be a next_cursor this API gave, passed on unchanged")
    return float(created_at), call_id


def parse_statuses(raw: str | None) -> frozenset[CallStatus]:
    """`?status=success,failure` as statuses; None or empty: any.

    Raises:
        InvalidRequest: a word that is no status.
    """
    statuses = set()
    for word in (raw or "").split(","):
        if not word.strip():
            continue
        try:
            statuses.add(CallStatus(word.strip()))
        except ValueError:
            known = ", ".join(status.value for status in CallStatus)
            raise InvalidRequest(f"status must be one of {known}; not {word.strip()!r}") from None
    return frozenset(statuses)


async def _call_query(request: Request, principal: Principal) -> CallQuery:
    """The query of `GET /v1/calls`, its app and function checked to exist."""
    params = request.query_params
    limit = count_param(request, "limit", DEFAULT_PAGE_CALLS)
    if not 1 <= limit <= MAX_PAGE_CALLS:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE_CALLS}, not {limit}")
    app_ref, function_name = params.get("app"), params.get("function")
    app_id = None
    if app_ref:
        apps = state_of(request)["apps"]
        app_id = (await apps.app(principal.workspace_id, app_ref)).app_id
        if function_name:
            await apps.function(principal.workspace_id, app_ref, function_name)
    elif function_name:
        raise InvalidRequest("function needs its app: ?app=APP&function=FUNCTION")
    # Running calls are stored as pending (see `shown_status`).
    stored = {
        CallStatus.PENDING if status is CallStatus.RUNNING else status
        for status in parse_statuses(params.get("status"))
    }
    cursor = params.get("cursor")
    return CallQuery(
        principal.workspace_id,
        limit,
        app_id,
        function_name or None,
        tuple(sorted(stored)),
        decode_cursor(cursor) if cursor else None,
    )


async def list_calls(request: Request) -> Response:
    """The workspace's calls, newest first, a page at a time: 200; 400, 401, 404.

    Filters: `?app=`, `?function=` (with `app`), `?status=` (comma-separated); `?limit=` (50,
    at most 200); `?cursor=` (the page before's `next_cursor`).
    """
    principal = await principal_of(request)
    state = state_of(request)
    query = await _call_query(request, principal)
    wanted = parse_statuses(request.query_params.get("status"))
    calls, resume_after = await state["reports"].recent_calls(query)
    listed = []
    for call in calls:
        status = shown_status(call, state["calls"].is_running(call.call_id))
        # Pending and running are told apart only here, so a page may hold fewer than `limit`.
        if not wanted or status in wanted:
            listed.append(summary_json(call, status))
    next_cursor = None if resume_after is None else encode_cursor(resume_after)
    return json_response({"calls": listed, "next_cursor": next_cursor})


async def _size(
    inline_bytes: int | None, sha256: str | None, path_of: Callable[[str], Path]
) -> int | None:
    """The size of an output kept inline, or in the blob file `sha256` (None: it is gone)."""
    if sha256 is None:
        return inline_bytes
    try:
        return (await asyncio.to_thread(path_of(sha256).stat)).st_size
    except FileNotFoundError:
        return None


async def result_json(
    details: CallDetails, path_of: Callable[[str], Path]
) -> dict[str, Any] | None:
    """What a successful call returned: its format and size, and the JSON value itself when
    it is small enough to show; None for a call without a value (yet). `path_of` names the
    file of a blob."""
    result = details.result
    if details.summary.status is not CallStatus.SUCCESS:
        return None
    if result.expired:
        return {"expired": True}
    pickle_bytes = await _size(result.pickle_bytes, result.pickle_sha256, path_of)
    if details.summary.payload_format == WEB_PAYLOAD_FORMAT:
        # A web response keeps its head where values keep their JSON, its body where pickles go.
        head = orjson.loads(result.json_preview) if result.json_preview is not None else {}
        return {"format": "web", "http_status": head.get("status"), "bytes": pickle_bytes}
    json_bytes = await _size(result.json_bytes, result.json_sha256, path_of)
    if json_bytes is None:
        return {"format": "pickle", "bytes": pickle_bytes, "json_error": result.json_error}
    shown: dict[str, Any] = {"format": "json", "bytes": json_bytes}
    if result.json_preview is not None:
        shown["value"] = orjson.Fragment(result.json_preview)
    shown["truncated"] = result.json_preview is None
    return shown


async def call_details(request: Request) -> Response:
    """A call's details, with its result or its error and traceback: 200; 401, 404.

    Function, status, times, attempts, parent call, method, the size of its arguments, and
    the result's form and size with the JSON value itself up to 64 KiB.
    """
    principal = await principal_of(request)
    state = state_of(request)
    call_id = path_param(request, "call_id")
    details = await state["reports"].call_details(principal.workspace_id, call_id)
    if details is None:
        raise NotFound(f"no call with id {call_id!r}")
    status = shown_status(details.summary, state["calls"].is_running(call_id))
    return json_response(
        {
            **summary_json(details.summary, status),
            "attempt": details.attempt,
            "parent_call_id": details.parent_call_id,
            "method": Variant.from_json(details.variant).method,
            "args": {"format": details.summary.payload_format, "bytes": details.payload_bytes},
            "result": await result_json(details, state["blobs"].path_of),
            "error": details.result.error,
        }
    )


def minutes_json(
    rows: list[tuple[int, int, float | None, float | None]], start: float
) -> list[dict[str, Any]]:
    """Every minute of the history, those without calls too (the store leaves them out)."""
    by_minute = {minute: (calls, p50_s, p99_s) for minute, calls, p50_s, p99_s in rows}
    minutes = []
    for minute in range(HISTORY_MINUTES):
        calls, p50_s, p99_s = by_minute.get(minute, (0, None, None))
        minutes.append(
            {"start": start + minute * MINUTE_S, "calls": calls, "p50_s": p50_s, "p99_s": p99_s}
        )
    return minutes


async def function_history(request: Request) -> Response:
    """A function's calls per minute over the last hour, with p50/p99 durations: 200; 401, 404.

    Every version of the function counts; a duration runs from acceptance to outcome.
    """
    principal = await principal_of(request)
    state = state_of(request)
    function = await state["apps"].function(
        principal.workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    start = (time.time() // MINUTE_S - (HISTORY_MINUTES - 1)) * MINUTE_S
    rows = await state["reports"].call_history(function.app_id, function.name, start, MINUTE_S)
    return json_response(
        {
            "app_name": function.app_name,
            "function_name": function.name,
            "minute_s": MINUTE_S,
            "minutes": minutes_json(rows, start),
        }
    )


ROUTES = [
    Route("/v1/calls", list_calls, methods=["GET"]),
    Route("/v1/calls/{call_id}/details", call_details, methods=["GET"]),
    Route("/v1/apps/{app}/functions/{function}/history", function_history, methods=["GET"]),
]
