"""Liveness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.responses import json_response


async def health(request: Request) -> Response:
    """Liveness, without auth: 200 while the gateway serves."""
    return json_response({"status": "ok"})


ROUTES = [Route("/v1/health", health, methods=["GET"])]
