"""The HTTP API (docs/http-api.md), one module of routes per resource, and the dashboard."""

from __future__ import annotations

from starlette.routing import BaseRoute

from wharf_gateway.api import (
    apps,
    blobs,
    call_records,
    calls,
    dashboard,
    domains,
    health,
    logs,
    maps,
    openapi,
    secrets,
    tokens,
    values,
)

ROUTES: list[BaseRoute] = [
    *health.ROUTES,
    *openapi.ROUTES,
    *apps.ROUTES,
    *logs.ROUTES,
    *call_records.ROUTES,
    *calls.ROUTES,
    *blobs.ROUTES,
    *maps.ROUTES,
    *values.ROUTES,
    *tokens.ROUTES,
    *secrets.ROUTES,
    *domains.ROUTES,
    *dashboard.ROUTES,
]
