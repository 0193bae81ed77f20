"""What every request handler can reach: the services built once in the lifespan."""

from __future__ import annotations

from typing import TypedDict, cast

from starlette.requests import Request

from gateway.apps import AppService
from gateway.auth import TokenAuthority
from gateway.background import Background
from gateway.blobs import BlobStore
from gateway.calls import CallService
from gateway.config import Config
from gateway.deploys import Deploys
from gateway.logs import LogFeed
from gateway.maps import MapService
from gateway.models import Principal
from gateway.ratelimit import RateLimiter
from gateway.reports import Reports
from gateway.scheduler import Scheduler
from gateway.secrets import SecretService
from gateway.store import Store
from gateway.web.upstream import UpstreamPool


class GatewayState(TypedDict):
    config: Config
    store: Store
    reports: Reports
    auth: TokenAuthority
    apps: AppService
    calls: CallService
    blobs: BlobStore
    maps: MapService
    scheduler: Scheduler
    rate_limiter: RateLimiter
    upstreams: UpstreamPool
    background: Background
    deploys: Deploys
    secrets: SecretService
    log_feed: LogFeed
    #: `host[:port]` under which endpoints are served (`{label}.{domain}`).
    domain: str


def state_of(request: Request) -> GatewayState:
    return cast(GatewayState, request.scope["state"])


async def principal_of(request: Request) -> Principal:
    """Who the request acts for, charged one token of its workspace's rate limit.

    Raises:
        Unauthorized: no valid token.
        RateLimited: the workspace is over its rate limit.
    """
    state = state_of(request)
    principal = await state["auth"].authenticate(request.headers.get("authorization"))
    state["rate_limiter"].take(principal.workspace_id)
    return principal
