"""Running the gateway's ASGI app on a socket bound before the app starts.

Two servers, one app: uvicorn with httptools (its HTTP/1.1 parser is C) for plain HTTP, where it
keeps the gateway's own cost per request low; Hypercorn for TLS, where it brings HTTP/2. The
`--http-server` flag picks one explicitly.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import resource
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from wharf_runner import serve_uvicorn

from wharf_gateway.apps.logs import LogFeed
from wharf_gateway.errors import ConfigError
from wharf_gateway.security.guards import (
    ClientLimits,
    decline_websocket_compression,
    uvicorn_protocols,
)
from wharf_gateway.security.hosts import PublicAddress
from wharf_gateway.server.app import create_app
from wharf_gateway.server.config import Config, HttpServer
from wharf_gateway.web.websocket import MAX_MESSAGE_BYTES

#: Seconds in-flight requests get to finish on shutdown.
GRACEFUL_SHUTDOWN_S = 5.0
#: Seconds an idle kept-alive client connection stays open.
KEEP_ALIVE_S = 75.0

#: Held (flock) by the gateway serving a data dir; holds its pid.
LOCK_FILE = "gateway.lock"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def url_for(config: Config, host: str, port: int) -> str:
    scheme = "https" if config.uses_tls else "http"
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - turning a wildcard into a reachable host
        host = "127.0.0.1"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def public_address(config: Config, listening_url: str) -> PublicAddress:
    """Where callers reach this gateway, from its configuration alone (never a request)."""
    port = urlsplit(listening_url).port
    domain = config.domain or f"localhost:{port}"
    scheme = "https" if config.uses_tls else "http"
    public_url = config.public_url or (f"{scheme}://{domain}" if config.domain else listening_url)
    return PublicAddress.of(public_url, domain)


def bind_unix_socket(path: Path) -> socket.socket:
    """A listening Unix socket anyone may connect to (containers run as another user)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o666)
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def raise_open_file_limit() -> None:
    """Let this process hold as many sockets as the system allows it (each connection is one,
    a relayed WebSocket two)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def hypercorn_config(config: Config, sock: socket.socket) -> HypercornConfig:
    hyper = HypercornConfig()
    hyper.bind = [f"fd://{sock.detach()}"]
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.keep_alive_timeout = KEEP_ALIVE_S
    hyper.graceful_timeout = GRACEFUL_SHUTDOWN_S
    hyper.websocket_max_message_size = MAX_MESSAGE_BYTES
    hyper.include_server_header = False  # a proxied response keeps its container's own
    if config.tls_cert is not None and config.tls_key is not None:
        hyper.certfile = str(config.tls_cert)
        hyper.keyfile = str(config.tls_key)
        hyper.alpn_protocols = ["h2", "http/1.1"]
    return hyper


def uses_uvicorn(config: Config) -> bool:
    if config.http_server is HttpServer.AUTO:
        return not config.uses_tls
    return config.http_server is HttpServer.UVICORN


async def serve(
    config: Config,
    *,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until `shutdown_trigger` returns (or a signal, without one).

    `on_listening` gets the gateway's URL as soon as its socket accepts connections.
    """
    raise_open_file_limit()
    with data_dir_lock(config.data_dir):
        await _serve_locked(config, shutdown_trigger, on_listening)


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data dir for this gateway alone (two gateways on one SQLite database would
    each run every unfinished call again), and make it its owner's alone.

    Raises:
        ConfigError: another gateway holds it; the message names its pid.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    with open(data_dir / LOCK_FILE, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise ConfigError(
                f"another gateway (pid {holder}) is running on {data_dir}; stop it first, "
                "or give this one a --data-dir of its own"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def _serve_locked(
    config: Config,
    shutdown_trigger: Callable[[], Awaitable[object]] | None,
    on_listening: Callable[[str], None] | None,
) -> None:
    sock = bind_socket(config.host, config.port)
    host, port = sock.getsockname()[:2]
    url = url_for(config, host, port)
    log_feed = LogFeed()
    app = create_app(
        config, internal_url=url, address=public_address(config, url), log_feed=log_feed
    )
    sockets = [sock]
    if config.container_socket is not None:
        sockets.append(bind_unix_socket(config.container_socket))
    if on_listening is not None:
        on_listening(url)
    if uses_uvicorn(config):
        await serve_uvicorn(
            app,
            sockets,
            shutdown_trigger,
            keep_alive_s=int(KEEP_ALIVE_S),
            graceful_s=int(GRACEFUL_SHUTDOWN_S),
            ws_max_bytes=MAX_MESSAGE_BYTES,
            protocols=uvicorn_protocols(
                ClientLimits(config.head_timeout_s, config.body_timeout_s, config.max_connections)
            ),
            on_shutdown=log_feed.closing.set,
            server_header=False,
        )
        return
    decline_websocket_compression()
    hyper = hypercorn_config(config, sock)
    # Plain HTTP on the containers' socket, even with TLS on the public one.
    hyper.insecure_bind = [f"fd://{extra.detach()}" for extra in sockets[1:]]
    trigger = shutdown_trigger or _signalled()

    async def shutting_down() -> None:
        await trigger()
        log_feed.closing.set()  # then Hypercorn waits for open requests

    await hypercorn_serve(app, hyper, shutdown_trigger=shutting_down)  # type: ignore[arg-type]


def _signalled() -> Callable[[], Awaitable[object]]:
    """What returns on SIGINT or SIGTERM (Hypercorn's own handlers, which a trigger replaces)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop.wait
