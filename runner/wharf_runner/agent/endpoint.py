"""The ASGI app a `@web_endpoint` function becomes inside its container.

With FastAPI importable, the function is a FastAPI route, exactly as the reference describes
(query parameters, JSON bodies bound to `dict` or pydantic models, `Request`, any `Response`).
Without it, a small Starlette adapter covers the common cases the same way.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wharf.web_config import WebConfig

from wharf_runner.errors import Unprocessable

_ANY = ["*"]


def endpoint_app(raw_f: Callable[..., Any], web: WebConfig, *, use_fastapi: bool = True) -> Any:
    """The ASGI app serving `raw_f` at `/` for `web.method` (plus CORS for any origin)."""
    if use_fastapi:
        try:
            import fastapi
        except ImportError:
            pass
        else:
            if web.docs:
                app = fastapi.FastAPI()
            else:
                app = fastapi.FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
            app.add_middleware(
                CORSMiddleware, allow_origins=_ANY, allow_methods=_ANY, allow_headers=_ANY
            )
            app.add_api_route("/", raw_f, methods=[web.method])
            return app
    return Starlette(
        routes=[Route("/", _adapter(raw_f), methods=[web.method])],
        middleware=[
            Middleware(CORSMiddleware, allow_origins=_ANY, allow_methods=_ANY, allow_headers=_ANY)
        ],
    )


def _to_bool(raw: str) -> bool:
    return raw.lower() in ("1", "true", "yes", "on")


def _convert(value: str, annotation: Any, name: str) -> Any:
    if annotation in (inspect.Parameter.empty, str, "str"):
        return value
    converters: dict[Any, Callable[[str], Any]] = {
        int: int,
        "int": int,
        float: float,
        "float": float,
        bool: _to_bool,
        "bool": _to_bool,
    }
    converter = converters.get(annotation)
    if converter is None:
        return value
    try:
        return converter(value)
    except ValueError as exc:
        raise Unprocessable("query", name, f"not a valid {annotation}: {value!r}") from exc


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Unprocessable("body", "", "the body is not valid JSON") from exc


async def _arguments(raw_f: Callable[..., Any], request: Request) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    body: Any = None
    body_read = False
    for parameter in inspect.signature(raw_f).parameters.values():
        annotation = parameter.annotation
        if annotation is Request or annotation == "Request":
            arguments[parameter.name] = request
        elif parameter.name in request.query_params:
            raw = request.query_params[parameter.name]
            arguments[parameter.name] = _convert(raw, annotation, parameter.name)
        elif request.method != "GET" and annotation in (dict, "dict", inspect.Parameter.empty):
            if not body_read:
                body, body_read = await _json_body(request), True
            if body is not None:
                arguments[parameter.name] = body
        if parameter.name not in arguments and parameter.default is inspect.Parameter.empty:
            raise Unprocessable("query", parameter.name, "field required")
    return arguments


def _adapter(raw_f: Callable[..., Any]) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        try:
            arguments = await _arguments(raw_f, request)
        except Unprocessable as exc:
            return JSONResponse({"detail": [exc.detail]}, status_code=422)
        if inspect.iscoroutinefunction(raw_f):
            result = await raw_f(**arguments)
        else:
            result = await run_in_threadpool(raw_f, **arguments)
        return result if isinstance(result, Response) else JSONResponse(result)

    return handle
