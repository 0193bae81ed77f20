"""The gateway's ASGI app: routes, error rendering, and the services its lifespan builds."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from wharf.error_codes import ErrorCode
from wharf_runner import ContainerBackend, ContainerEvents, LocalBackend, LogStream

from wharf_gateway.api import ROUTES
from wharf_gateway.apps.deploys import Deploys
from wharf_gateway.apps.logs import LogFeed
from wharf_gateway.apps.service import AppService
from wharf_gateway.calls.idempotency import KEY_TTL_S, IdempotencyKeys
from wharf_gateway.calls.maps import MapService
from wharf_gateway.calls.service import CallService
from wharf_gateway.errors import (
    ConfigError,
    GatewayError,
    InsufficientStorage,
    Internal,
    MethodNotAllowed,
    NotFound,
    is_disk_full,
)
from wharf_gateway.ids import new_id
from wharf_gateway.models import FunctionRecord, TokenKind
from wharf_gateway.responses import CALL_ID_HEADER, error_response
from wharf_gateway.scheduling.containers import ContainerSetup, LogSink
from wharf_gateway.scheduling.gpus import Gpu, GpuAllocator, read_inventory
from wharf_gateway.scheduling.scheduler import Scheduler, SchedulerLimits
from wharf_gateway.security.auth import TokenAuthority
from wharf_gateway.security.credentials import ContainerCredentials
from wharf_gateway.security.hosts import PublicAddress
from wharf_gateway.security.ratelimit import FailureThrottle, RateLimiter
from wharf_gateway.security.secrets import SecretBox, SecretService, load_key
from wharf_gateway.server.config import BackendKind, Config
from wharf_gateway.server.state import GatewayState
from wharf_gateway.storage.blobs import BlobStore
from wharf_gateway.storage.database import Database
from wharf_gateway.storage.reports import Reports
from wharf_gateway.storage.store import Store
from wharf_gateway.web.background import Background
from wharf_gateway.web.router import FrontDoor
from wharf_gateway.web.upstream import UpstreamPool

logger = logging.getLogger(__name__)

#: How often per-workspace rate limits are read again from the store.
LIMITS_REFRESH_S = 5.0
#: How long a shutting-down gateway lets kept web requests (their callers redirected to their
#: result URLs) finish; what still runs then ends as "the gateway restarted". Calls need no
#: such wait: they run again in the next gateway.
KEPT_REQUESTS_GRACE_S = 20.0


def backend_owner(data_dir: Path) -> str:
    """The label value that marks a gateway's containers: the same for every run of the gateway
    on one data dir, so a restarted gateway finds the containers of the one before."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]


def gpu_inventory(config: Config) -> list[Gpu]:
    """The runner host's GPUs (the file, or else what nvidia-smi finds, on either backend).

    Raises:
        ConfigError: the inventory file is not valid.
    """
    try:
        gpus = read_inventory(config.gpu_config, probe=True)
    except ValueError as exc:
        raise ConfigError(f"WHARF_GPU_CONFIG: {exc}") from exc
    # A GPU's host is one of --docker-hosts; the first one may also be named "".
    first = config.docker_hosts[0] if config.docker_hosts else ""
    gpus = [replace(gpu, host="") if gpu.host == first else gpu for gpu in gpus]
    unknown = sorted({gpu.host for gpu in gpus} - {"", *config.docker_hosts})
    if unknown:
        raise ConfigError(f"WHARF_GPU_CONFIG: GPUs on hosts not in --docker-hosts: {unknown}")
    return gpus


def _backend_factory(config: Config) -> Callable[[ContainerEvents], ContainerBackend]:
    if config.backend is BackendKind.DOCKER:
        # Imported here: the Docker SDK is not needed (nor paid for) with the local backend.
        from wharf_runner import docker_fleet

        owner = backend_owner(config.data_dir)
        hosts, environment = list(config.docker_hosts), config.runner_environment
        socket_path = config.container_socket
        return lambda events: docker_fleet(events, hosts, owner, environment, socket_path)
    return lambda events: LocalBackend(events, config.runner_environment)


async def _drain_on_shutdown(closing: asyncio.Event, calls: CallService) -> None:
    """As shutting down begins, answer every waiting caller with its call's result URL."""
    await closing.wait()
    calls.start_draining()


async def _sweep_forever(state: GatewayState) -> None:
    config, store, calls = state["config"], state["store"], state["calls"]
    last_expiry_s = last_limits_s = last_blob_sweep_s = 0.0
    while True:
        await asyncio.sleep(config.sweep_interval_s)
        try:
            calls.scheduler.sweep()
            calls.parking.page_in_all()
            state["maps"].sweep(time.monotonic())
            state["rate_limiter"].sweep()
            if state["auth"].throttle is not None:
                state["auth"].throttle.sweep()
            await calls.sweep_streams(time.monotonic())
            await state["apps"].stop_expired()
            if time.monotonic() - last_limits_s >= LIMITS_REFRESH_S:
                # Limits set by `wharf workspace limits` (another process) apply within seconds.
                last_limits_s = time.monotonic()
                state["rate_limiter"].configure(await store.workspace_limits())
            if time.monotonic() - last_expiry_s >= config.expiry_interval_s:
                last_expiry_s = time.monotonic()
                await store.expire_outputs(time.time())
                await store.forget_expired_calls(time.time() - config.result_ttl_s)
                await store.drop_logs_before(time.time() - config.result_ttl_s)
                await store.forget_answers_before(time.time() - KEY_TTL_S)
            if time.monotonic() - last_blob_sweep_s >= config.blob_sweep_interval_s:
                last_blob_sweep_s = time.monotonic()
                await state["blobs"].collect_garbage(time.time() - config.result_ttl_s)
        except Exception:
            # One failed sweep must not end sweeping; the next one tries again.
            logger.exception("sweeping failed")


def _log_sink(store: Store, feed: LogFeed) -> LogSink:
    def sink(function: FunctionRecord, container_id: str, stream: LogStream, line: str) -> None:
        stored = store.append_logs(
            [(function.app_id, function.name, container_id, stream.value, line, time.time())]
        )
        stored.add_done_callback(lambda _: feed.notify((function.app_id,)))

    return sink


@asynccontextmanager
async def _lifespan(
    config: Config, internal_url: str, address: PublicAddress, log_feed: LogFeed
) -> AsyncIterator[GatewayState]:
    make_backend = _backend_factory(config)
    # First, so a bad key file stops the start before anything else is opened.
    secrets_key = await asyncio.to_thread(load_key, config.secrets_key_path)
    database = await Database.open(config.database_path)
    store = Store(database)
    blobs = BlobStore(config.blob_dir, database)
    throttle = FailureThrottle(config.auth_failures_per_s)
    authority = TokenAuthority(store, throttle)
    credentials = ContainerCredentials(
        store, authority, internal_url, config.tls_ca or config.tls_cert
    )
    secrets = SecretService(store, SecretBox(secrets_key))
    scheduler = Scheduler(
        make_backend,
        ContainerSetup(
            credentials.mint,
            credentials.revoke,
            blobs.path_of,
            _log_sink(store, log_feed),
            secrets.environment,
        ),
        SchedulerLimits(
            config.max_body_bytes,
            config.max_total_containers,
            config.max_backlog,
            config.max_variant_pools,
        ),
        GpuAllocator(gpu_inventory(config)),
    )
    calls = CallService(store, blobs, scheduler, config.result_ttl_s, config.map_idle_timeout_s)
    # Containers an earlier run left (docker): those of current functions are taken on, with
    # their tokens; every other container token is revoked.
    current = {function.function_id: function for function in await store.current_functions()}
    kept = scheduler.adopt(await scheduler.backend.adopt(), current)
    await store.revoke_tokens_of_kind(TokenKind.CONTAINER, keep=kept)
    deploys = Deploys(lambda: scheduler.backend)
    recovered = await calls.recover()
    if recovered:
        logger.info("recovered %d unfinished calls", recovered)
    rate_limiter = RateLimiter(
        config.rate_limit_per_s, config.rate_burst_s, config.client_rate_limit_per_s
    )
    rate_limiter.configure(await store.workspace_limits())
    upstreams = UpstreamPool()
    background = Background()
    state = GatewayState(
        config=config,
        store=store,
        reports=Reports(database),
        auth=authority,
        apps=AppService(store, blobs, scheduler, config.ephemeral_lease_s),
        calls=calls,
        idempotency=IdempotencyKeys(store),
        blobs=blobs,
        maps=MapService(scheduler, config.map_idle_timeout_s, config.max_body_bytes),
        scheduler=scheduler,
        rate_limiter=rate_limiter,
        upstreams=upstreams,
        background=background,
        deploys=deploys,
        secrets=secrets,
        log_feed=log_feed,
        address=address,
    )
    sweeper = asyncio.create_task(_sweep_forever(state))
    drainer = asyncio.create_task(_drain_on_shutdown(log_feed.closing, calls))
    try:
        yield state
    finally:
        drainer.cancel()
        await deploys.close()
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await background.finish(KEPT_REQUESTS_GRACE_S)
        await background.cancel_all()
        upstreams.close()
        await scheduler.close()
        await calls.drain()
        await database.close()


async def _render_gateway_error(request: Request, exc: Exception) -> Response:
    return error_response(cast(GatewayError, exc))


async def _render_http_exception(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(f"{request.method} is not allowed here"))
    if exc.status_code == 404:
        return error_response(NotFound(f"no route for {request.method} {request.url.path}"))
    error = GatewayError(str(exc.detail))
    error.status, error.code = exc.status_code, ErrorCode.HTTP_ERROR
    return error_response(error)


async def _render_unexpected(request: Request, exc: Exception) -> Response:
    if is_disk_full(exc):
        logger.error("refused %s %s: the disk is full (%s)", request.method, request.url.path, exc)
        return error_response(InsufficientStorage())
    request_id = new_id("rq")
    logger.error(
        "internal error on %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return error_response(Internal(f"internal error (request id {request_id})"))


#: What a browser page may send to and read from the API (tokens travel in `Authorization`,
#: never in cookies, so credentials stay off).
_CORS_REQUEST_HEADERS = [
    "authorization",
    "content-type",
    "accept",
    "prefer",
    "idempotency-key",
    "wharf-parameters",
    "wharf-payload-blob",
]
_CORS_RESPONSE_HEADERS = [
    "location",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    CALL_ID_HEADER,
]


def cors_middleware(origins: tuple[str, ...]) -> list[Middleware]:
    """Starlette's CORS middleware for `--cors-origins`, which answers preflights before any
    route (and so before authentication: a preflight never carries credentials)."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=_CORS_REQUEST_HEADERS,
            expose_headers=_CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    ]


def create_app(
    config: Config, *, internal_url: str, address: PublicAddress, log_feed: LogFeed | None = None
) -> FrontDoor:
    """The gateway app for `config`; containers reach it back at `internal_url`, and every URL
    it hands out is built from `address`. Its live log streams end once `log_feed.closing` is
    set (when the server begins to shut down)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[GatewayState]:
        async with _lifespan(config, internal_url, address, log_feed or LogFeed()) as state:
            yield state

    api = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        middleware=cors_middleware(config.cors_origins),
        exception_handlers={
            GatewayError: _render_gateway_error,
            HTTPException: _render_http_exception,
            Exception: _render_unexpected,
        },
    )
    return FrontDoor(api, address)
