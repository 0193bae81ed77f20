"""Serving a web function's HTTP inside its container, for the gateway to proxy to."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import uvicorn
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from wharf.web_config import WebConfig, WebKind

from wharf_runner.agent.endpoint import endpoint_app
from wharf_runner.agent.forwarded import forwarded_asgi, forwarded_wsgi
from wharf_runner.errors import RunnerError

_PORT_POLL_INTERVAL_S = 0.05


class WebServer:
    """The user's web app on Hypercorn (or the user's own server), on a port of the container."""

    def __init__(self, host: str, port: int = 0) -> None:
        self._host = host
        self._port = port
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self, raw_f: Callable[..., Any], web: WebConfig) -> int:
        """Start serving; returns the port. Errors of the user's code propagate."""
        if web.kind is WebKind.SERVER:
            return await self._wait_for_user_server(raw_f, web)
        app = await _user_app(raw_f, web)
        sock = socket.create_server((self._host, self._port), backlog=1024)
        self.port = sock.getsockname()[1]
        if web.kind is not WebKind.WSGI:
            self._task = asyncio.create_task(self._serve_asgi(app, sock))
            return self.port
        config = HypercornConfig()
        config.bind = [f"fd://{sock.detach()}"]
        config.accesslog = None
        config.errorlog = logging.getLogger("wharf.web")
        config.keep_alive_timeout = 75.0
        # The gateway limits request sizes; the container accepts what it is sent.
        config.h11_max_incomplete_size = 64 * 1024
        self._task = asyncio.create_task(
            serve(app, config, shutdown_trigger=self._stop.wait, mode="wsgi")
        )
        return self.port

    async def _wait_for_user_server(self, raw_f: Callable[..., Any], web: WebConfig) -> int:
        result = raw_f()
        if inspect.isawaitable(result):
            await result
        port = int(web.port or 0)
        deadline = time.monotonic() + web.startup_timeout_s
        while True:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                self.port = port
                return port
            if time.monotonic() > deadline:
                raise RunnerError(
                    f"nothing listened on port {port} within {web.startup_timeout_s} s"
                )
            await asyncio.sleep(_PORT_POLL_INTERVAL_S)

    async def _serve_asgi(self, app: Any, sock: socket.socket) -> None:
        """ASGI apps run on uvicorn with httptools (the lowest cost per request); WSGI ones on
        Hypercorn, which runs them natively."""
        # The gateway's forwarded headers are applied by `forwarded_asgi`, and only those.
        await serve_uvicorn(app, sock, self._stop.wait, lifespan="auto")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], object] | None) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._on_shutdown is not None:
            self._on_shutdown()
        await super().shutdown(sockets)


async def serve_uvicorn(
    app: Any,
    sock: socket.socket | list[socket.socket],
    stop: Callable[[], Awaitable[object]] | None,
    *,
    lifespan: Literal["auto", "on", "off"] = "on",
    keep_alive_s: int = 75,
    graceful_s: int | None = None,
    ws_max_bytes: int = 16 * 1024 * 1024,
    protocols: tuple[type[asyncio.Protocol], type[asyncio.Protocol]] | None = None,
    on_shutdown: Callable[[], object] | None = None,
    server_header: bool = True,
) -> None:
    """Serve an ASGI app on uvicorn with httptools, on a bound socket (or several), until `stop`
    returns (or a signal, without one). uvicorn's own proxy-header handling is off: callers
    decide whose X-Forwarded-* to believe. `protocols` replaces uvicorn's HTTP and WebSocket
    protocol classes (subclasses of its httptools and websockets-sansio ones). `on_shutdown` is
    called as shutting down begins, before open connections are waited for. `server_header`:
    whether responses say `Server: uvicorn` (the gateway's do not: it relays containers')."""
    http, ws = protocols or ("httptools", "websockets-sansio")
    server = _Server(
        uvicorn.Config(
            app,
            http=http,
            ws=ws,
            ws_max_size=ws_max_bytes,
            ws_per_message_deflate=False,
            lifespan=lifespan,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=keep_alive_s,
            timeout_graceful_shutdown=graceful_s,
            proxy_headers=False,
            server_header=server_header,
        ),
        on_shutdown,
    )
    watcher = None
    if stop is not None:

        async def stop_when_asked() -> None:
            await stop()
            server.should_exit = True

        watcher = asyncio.create_task(stop_when_asked())
    try:
        await server.serve(sockets=sock if isinstance(sock, list) else [sock])
    finally:
        if watcher is not None:
            watcher.cancel()


async def _user_app(raw_f: Callable[..., Any], web: WebConfig) -> Any:
    if web.kind is WebKind.FUNCTION:
        return forwarded_asgi(endpoint_app(raw_f, web))
    app = raw_f()
    if inspect.isawaitable(app):
        app = await app
    return forwarded_wsgi(app) if web.kind is WebKind.WSGI else forwarded_asgi(app)
