"""Slow, greedy and malformed clients at the front door: each is cut off (the connection closed,
memory bounded) while other clients are served as usual."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from wharf_gateway.security.guards import MAX_FRAGMENTS, MAX_HEAD_BYTES
from wharf_gateway.server.config import Config, HttpServer

from tests.helpers import (
    RunningGateway,
    gateway_config,
    running_gateway,
    scaled,
    serving_app,
    wait_until,
)

ECHO_APP = """
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    import wharf as modal

    app = modal.App("abuse")


    async def echo(websocket):
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)


    @app.function(allow_concurrent_inputs=10)
    @modal.asgi_app()
    def sockets():
        return Starlette(routes=[WebSocketRoute("/", echo)])
"""
ECHO_PATH = "/web/main--abuse-sockets/"


@contextlib.contextmanager
def raw_connection(gateway: RunningGateway) -> Iterator[socket.socket]:
    address = urlsplit(gateway.url)
    with socket.create_connection((address.hostname, address.port), timeout=scaled(10)) as sock:
        yield sock


def read_until_closed(sock: socket.socket, timeout_s: float = 10) -> bytes:
    """Everything the gateway sends until it closes the connection (fails past the deadline)."""
    received = b""
    deadline = time.monotonic() + scaled(timeout_s)
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection stayed open; received {received[:200]!r}")


def health_is_served(gateway: RunningGateway) -> None:
    assert httpx.get(f"{gateway.url}/v1/health", timeout=scaled(5)).status_code == 200


def uvicorn_config(tmp_path: Path, **overrides: object) -> Config:
    """These protections are uvicorn's (plain HTTP); Hypercorn has its own."""
    return gateway_config(tmp_path / "data", http_server=HttpServer.UVICORN, **overrides)


def test_a_trickled_head_gets_408_while_others_are_served(tmp_path: Path) -> None:
    with running_gateway(uvicorn_config(tmp_path, head_timeout_s=1.0)) as gateway:
        with raw_connection(gateway) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            answer = b""
            sock.settimeout(0.2)
            while time.monotonic() < started + scaled(10):
                health_is_served(gateway)
                try:
                    chunk = sock.recv(4096)
                except TimeoutError:
                    sock.sendall(b"X-Slow: 1\r\n")  # one more header line, slowly
                    continue
                except ConnectionResetError:
                    break
                answer += chunk
                if not chunk:
                    break
            elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"too slowly" in answer
    assert elapsed >= 0.9


def test_a_stalled_body_closes_the_connection(tmp_path: Path) -> None:
    with running_gateway(uvicorn_config(tmp_path, body_timeout_s=1.0)) as gateway:
        with raw_connection(gateway) as sock:
            started = time.monotonic()
            sock.sendall(
                b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: {gateway.authorization}\r\n".encode()
                + b"Content-Length: 1000\r\n\r\n{"
            )
            health_is_served(gateway)
            answer = read_until_closed(sock)
            elapsed = time.monotonic() - started
        health_is_served(gateway)
    assert b"201" not in answer  # no token was made from half a body
    assert elapsed >= 0.9


@pytest.mark.parametrize("complete", [False, True], ids=["endless", "complete"])
def test_an_oversized_head_gets_431(tmp_path: Path, complete: bool) -> None:
    line = b"X-Big: " + b"a" * 8000 + b"\r\n"
    with running_gateway(uvicorn_config(tmp_path)) as gateway:
        with raw_connection(gateway) as sock:
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
            lines = [line] * (MAX_HEAD_BYTES // len(line) + 2)
            with contextlib.suppress(OSError):  # the gateway may close while this still sends
                if complete:  # all at once: the head is whole when the gateway looks at it
                    sock.sendall(b"".join(lines) + b"\r\n")
                else:  # piece by piece, never ending
                    for piece in lines:
                        sock.sendall(piece)
            answer = read_until_closed(sock)
        health_is_served(gateway)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


def test_connections_past_the_limit_get_503_and_the_open_ones_keep_working(
    tmp_path: Path,
) -> None:
    def one_request() -> bytes:
        with raw_connection(gateway) as sock:
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return read_until_closed(sock)

    with running_gateway(uvicorn_config(tmp_path, max_connections=3)) as gateway:
        with contextlib.ExitStack() as stack:
            held = [stack.enter_context(raw_connection(gateway)) for _ in range(3)]
            refused = wait_until(lambda: (a := one_request()).startswith(b"HTTP/1.1 503") and a)
            assert b"retry-after: 1" in refused
            assert b"too many connections" in refused
            held[0].sendall(
                b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            assert read_until_closed(held[0]).startswith(b"HTTP/1.1 200")
            held[1].close()
            wait_until(lambda: one_request().startswith(b"HTTP/1.1 200"))


@pytest.fixture
def echo_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(tmp_path, monkeypatch, ECHO_APP, http_server=HttpServer.UVICORN) as gateway:
        yield gateway


def echo_url(gateway: RunningGateway) -> str:
    return gateway.url.replace("http://", "ws://") + ECHO_PATH


def test_a_websocket_fragment_flood_is_closed_with_1009(echo_gateway: RunningGateway) -> None:
    url = echo_url(echo_gateway)

    async def talk() -> tuple[object, int | None, str | None]:
        async with connect(url) as fine:
            await fine.send(["a"] * (MAX_FRAGMENTS // 2))  # fragments under the limit are fine
            assembled = await fine.recv()
        async with connect(url) as flood:
            with contextlib.suppress(ConnectionClosed):
                await flood.send([""] * (MAX_FRAGMENTS * 20))
            with pytest.raises(ConnectionClosed):
                await flood.recv()
            return assembled, flood.close_code, flood.close_reason

    assembled, code, reason = asyncio.run(talk())
    assert assembled == "a" * (MAX_FRAGMENTS // 2)
    assert code == 1009
    assert f"over {MAX_FRAGMENTS} frames" in (reason or "")


def open_raw_websocket(gateway: RunningGateway, sock: socket.socket) -> bytes:
    """The handshake, offering permessage-deflate; returns the gateway's response head."""
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        f"GET {ECHO_PATH} HTTP/1.1\r\nHost: {urlsplit(gateway.url).netloc}\r\n".encode()
        + b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        + b"Sec-WebSocket-Key: "
        + key
        + b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    return head.split(b"\r\n\r\n", 1)[0]


def masked_frame(first_byte: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    if len(payload) < 126:
        length = bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        length = bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + len(payload).to_bytes(8, "big")
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([first_byte]) + length + mask + masked


def close_code_of(frames: bytes) -> int | None:
    """The code of the close frame among the (unmasked) frames the gateway sent, if any."""
    while frames:
        opcode, length = frames[0] & 0x0F, frames[1] & 0x7F
        start = 2 + {126: 2, 127: 8}.get(length, 0)
        if length >= 126:
            length = int.from_bytes(frames[2:start], "big")
        if opcode == 0x8:
            return int.from_bytes(frames[start : start + 2], "big")
        frames = frames[start + length :]
    return None


@pytest.mark.parametrize(
    ("server", "close_code"),
    # Hypercorn (wsproto) drops the connection on a protocol error without a close frame.
    [(HttpServer.UVICORN, 1002), (HttpServer.HYPERCORN, None)],
)
def test_a_compression_bomb_is_a_protocol_error_not_inflated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: HttpServer, close_code: int | None
) -> None:
    compressor = zlib.compressobj(wbits=-15)
    bomb = compressor.compress(b"\0" * (256 * 1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 512 * 1024  # 256 MiB once inflated
    with serving_app(tmp_path, monkeypatch, ECHO_APP, http_server=server) as gateway:
        with raw_connection(gateway) as sock:
            head = open_raw_websocket(gateway, sock)
            assert head.startswith(b"HTTP/1.1 101"), head
            assert b"permessage-deflate" not in head.lower()  # compression is never agreed
            with contextlib.suppress(OSError):
                sock.sendall(masked_frame(0x80 | 0x40 | 0x2, bomb))  # FIN, RSV1 (compressed)
            frames = read_until_closed(sock)
        assert close_code_of(frames) == close_code

        async def echo() -> object:
            async with connect(echo_url(gateway)) as connection:
                await connection.send("still here")
                return await connection.recv()

        assert asyncio.run(echo()) == "still here"


def test_pings_whose_pongs_go_unread_are_cut_off(echo_gateway: RunningGateway) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # read nothing, hold little
    address = urlsplit(echo_gateway.url)
    sock.settimeout(scaled(10))
    with sock:
        sock.connect((address.hostname, address.port))
        assert open_raw_websocket(echo_gateway, sock).startswith(b"HTTP/1.1 101")
        ping = masked_frame(0x89, b"p" * 125)
        cut_off = False
        # Well before uvicorn's own keepalive (a ping every 20 s, 20 s for its pong) gives up.
        deadline = time.monotonic() + scaled(15)
        while not cut_off and time.monotonic() < deadline:
            try:
                sock.sendall(ping * 1000)
            except OSError:
                cut_off = True
    assert cut_off

    async def echo() -> object:
        async with connect(echo_url(echo_gateway)) as connection:
            await connection.send("still here")
            return await connection.recv()

    assert asyncio.run(echo()) == "still here"
