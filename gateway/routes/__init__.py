"""The HTTP API of DESIGN.md 2.3, one module per resource."""

from __future__ import annotations

from starlette.routing import Route

from gateway.routes import apps, blobs, calls, health, maps, openapi, secrets, tokens, values

ROUTES: list[Route] = [
    *health.ROUTES,
    *openapi.ROUTES,
    *apps.ROUTES,
    *calls.ROUTES,
    *blobs.ROUTES,
    *maps.ROUTES,
    *values.ROUTES,
    *tokens.ROUTES,
    *secrets.ROUTES,
]
