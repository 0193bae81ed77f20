"""`GET /v1/openapi.json`: every route, described from its handler's docstring."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.responses import json_response
from wharf_gateway.server.state import state_of


def describe(routes: list[Any], base_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        summary = (route.endpoint.__doc__ or "").strip().splitlines()[0:1]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = {
                "summary": summary[0] if summary else "",
                "operationId": f"{route.name}_{method.lower()}",
                "responses": {"default": {"description": "see the summary"}},
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Wharf", "version": "1"},
        "servers": [{"url": base_url}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


async def openapi(request: Request) -> Response:
    """The OpenAPI description of every route of this API: 200."""
    return json_response(describe(request.app.routes, state_of(request)["address"].base_url))


ROUTES = [Route("/v1/openapi.json", openapi, methods=["GET"])]
