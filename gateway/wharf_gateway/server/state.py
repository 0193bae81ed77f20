"""What every request handler can reach: the services built once in the lifespan."""

from __future__ import annotations

from typing import TypedDict, cast

from starlette.requests import Request

from wharf_gateway.apps.deploys import Deploys
from wharf_gateway.apps.logs import LogFeed
from wharf_gateway.apps.service import AppService
from wharf_gateway.calls.idempotency import IdempotencyKeys
from wharf_gateway.calls.maps import MapService
from wharf_gateway.calls.service import CallService
from wharf_gateway.models import Principal
from wharf_gateway.scheduling.scheduler import Scheduler
from wharf_gateway.security.auth import TokenAuthority
from wharf_gateway.security.hosts import PublicAddress
from wharf_gateway.security.ratelimit import Budget, RateLimiter, client_address
from wharf_gateway.security.secrets import SecretService
from wharf_gateway.server.config import Config
from wharf_gateway.storage.blobs import BlobStore
from wharf_gateway.storage.reports import Reports
from wharf_gateway.storage.store import Store
from wharf_gateway.web.background import Background
from wharf_gateway.web.upstream import UpstreamPool


class GatewayState(TypedDict):
    config: Config
    store: Store
    reports: Reports
    auth: TokenAuthority
    apps: AppService
    calls: CallService
    idempotency: IdempotencyKeys
    blobs: BlobStore
    maps: MapService
    scheduler: Scheduler
    rate_limiter: RateLimiter
    upstreams: UpstreamPool
    background: Background
    deploys: Deploys
    secrets: SecretService
    log_feed: LogFeed
    #: Where callers reach the API and the endpoints: every URL handed out is built from it.
    address: PublicAddress


def state_of(request: Request) -> GatewayState:
    return cast(GatewayState, request.scope["state"])


async def principal_of(request: Request) -> Principal:
    """Who the request acts for, charged one token of its workspace's rate limit.

    Raises:
        Unauthorized: no valid token.
        RateLimited: the workspace is over its rate limit.
    """
    state = state_of(request)
    client = client_address(request.scope, state["config"].trust_forwarded_headers)
    principal = await state["auth"].authenticate(request.headers.get("authorization"), client)
    state["rate_limiter"].take(principal.workspace_id, Budget.API)
    return principal
