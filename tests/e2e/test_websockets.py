"""WebSockets through the gateway to an `@asgi_app`: messages, close codes, limits, browsers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers import RunningGateway, deploy_file, write_app

WS_APP = """
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    import wharf as modal

    app = modal.App("ws-app")


    async def echo(websocket: WebSocket):
        await websocket.accept(subprotocol=(websocket.scope.get("subprotocols") or [None])[0])
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "die":
                import os

                os._exit(1)
            if message.get("text") == "pid":
                import os

                await websocket.send_text(str(os.getpid()))
                continue
            if message.get("text") == "close please":
                await websocket.close(code=4321, reason="asked to")
                return
            if message.get("text") is not None:
                await websocket.send_text("echo: " + message["text"])
            else:
                await websocket.send_bytes(message["bytes"][::-1])


    async def refuse(websocket: WebSocket):
        await websocket.close(code=1008)  # before accepting: the handshake is refused


    @app.function(allow_concurrent_inputs=10)
    @modal.asgi_app()
    def sockets():
        return Starlette(
            routes=[
                WebSocketRoute("/echo", echo),
                WebSocketRoute("/refuse", refuse),
            ]
        )


    @app.function()
    @modal.asgi_app(requires_proxy_auth=True)
    def private():
        return Starlette(routes=[WebSocketRoute("/echo", echo)])
"""


@pytest.fixture
def ws(client_env: RunningGateway, tmp_path: Path) -> str:
    deploy_file(write_app(tmp_path, WS_APP))
    return client_env.url.replace("http://", "ws://")


def test_text_and_binary_messages_pass_both_ways(ws: str) -> None:
    async def talk() -> tuple[object, object, str | None]:
        url = f"{ws}/web/main--ws-app-sockets/echo"
        async with connect(url, subprotocols=["chat.v1"]) as connection:  # type: ignore[list-item]
            await connection.send("hello")
            text = await connection.recv()
            await connection.send(b"\x01\x02\x03")
            data = await connection.recv()
            return text, data, connection.subprotocol

    assert asyncio.run(talk()) == ("echo: hello", b"\x03\x02\x01", "chat.v1")


def test_the_subdomain_form_and_close_codes_with_reasons(
    ws: str, client_env: RunningGateway
) -> None:
    port = client_env.url.rsplit(":", 1)[1]

    async def talk() -> tuple[int | None, str | None]:
        # The URL names the endpoint's host; the connection goes to loopback all the same.
        url = f"ws://main--ws-app-sockets.localhost:{port}/echo"
        async with connect(url, host="127.0.0.1", port=int(port)) as connection:
            await connection.send("close please")
            with pytest.raises(ConnectionClosed):
                await connection.recv()
            return connection.close_code, connection.close_reason

    assert asyncio.run(talk()) == (4321, "asked to")


def test_a_message_over_2_mib_closes_the_connection_with_1009(ws: str) -> None:
    async def talk() -> int | None:
        url = f"{ws}/web/main--ws-app-sockets/echo"
        async with connect(url, max_size=None) as connection:
            # The gateway may close before the whole message is out: then `send` raises.
            with contextlib.suppress(ConnectionClosed):
                await connection.send(b"x" * (2 * 1024 * 1024 + 1))
            with pytest.raises(ConnectionClosed):
                await connection.recv()
            return connection.close_code

    assert asyncio.run(talk()) == 1009


def test_a_handshake_the_app_refuses_gets_403(ws: str) -> None:
    async def talk() -> None:
        async with connect(f"{ws}/web/main--ws-app-sockets/refuse"):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(talk())
    assert refused.value.response.status_code == 403


SINK_APP = """
    import asyncio

    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    import wharf as modal

    app = modal.App("ws-sink")


    async def sink(websocket):
        await websocket.accept()
        await asyncio.sleep(3600)  # never reads


    async def echo(websocket):
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())


    @app.function(timeout=2)
    @modal.asgi_app()
    def sockets():
        return Starlette(routes=[WebSocketRoute("/sink", sink), WebSocketRoute("/echo", echo)])
"""


def test_a_container_that_does_not_read_holds_the_caller_back(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    """The gateway stops reading the caller while the container is not reading (it does not
    buffer what the caller sends), until the function's timeout ends the connection."""
    deploy_file(write_app(tmp_path, SINK_APP))
    ws = client_env.url.replace("http://", "ws://") + "/web/main--ws-sink-sockets"

    async def flood() -> int:
        sent = 0
        caller = await connect(f"{ws}/sink")
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(3):
                while sent < 256:
                    await caller.send(b"x" * (1024 * 1024))
                    sent += 1
        caller.transport.abort()  # and the caller goes away without a word
        return sent

    async def echo() -> object:
        async with connect(f"{ws}/echo") as connection:
            await connection.send("after")
            return await connection.recv()

    assert asyncio.run(flood()) < 256  # held back: the buffers on the way hold far less
    assert asyncio.run(echo()) == "after"


def test_many_connections_share_a_container_and_each_is_a_call(ws: str) -> None:
    async def one(n: int) -> object:
        async with connect(f"{ws}/web/main--ws-app-sockets/echo") as connection:
            await connection.send(str(n))
            return await connection.recv()

    async def many() -> list[object]:
        return list(await asyncio.gather(*(one(n) for n in range(5))))

    assert asyncio.run(many()) == [f"echo: {n}" for n in range(5)]


def test_handshakes_to_proxy_auth_endpoints_need_the_token(
    ws: str, client_env: RunningGateway
) -> None:
    url = f"{ws}/web/main--ws-app-private/echo"

    async def without() -> None:
        async with connect(url):
            pass

    with pytest.raises(InvalidStatus):
        asyncio.run(without())

    async def with_token() -> object:
        headers = {"authorization": client_env.authorization}
        async with connect(url, additional_headers=headers) as connection:
            await connection.send("authorized")
            return await connection.recv()

    assert asyncio.run(with_token()) == "echo: authorized"


def test_a_container_that_dies_closes_the_callers_side_with_1011(ws: str) -> None:
    async def talk() -> int | None:
        async with connect(f"{ws}/web/main--ws-app-sockets/echo") as connection:
            await connection.send("die")
            with pytest.raises(ConnectionClosed):
                await connection.recv()
            return connection.close_code

    assert asyncio.run(talk()) == 1011


def test_a_closed_connection_leaves_its_container_warm_for_the_next(ws: str) -> None:
    async def pid() -> object:
        async with connect(f"{ws}/web/main--ws-app-sockets/echo") as connection:
            await connection.send("pid")
            return await connection.recv()

    assert asyncio.run(pid()) == asyncio.run(pid())


RAW_APP = """
    import threading

    import wharf as modal

    app = modal.App("ws-raw")


    def serve_forever():
        import asyncio

        from websockets.asyncio.server import serve

        async def handler(connection):
            async for message in connection:
                if message == "fragments":
                    await connection.send(["frag", "ment", "ed"])  # one message, three frames
                else:
                    await connection.send(message)

        async def main():
            # Pings every 0.2 s: the gateway must answer them or the server hangs up after 1 s.
            async with serve(handler, "127.0.0.1", PORT, ping_interval=0.2, ping_timeout=1):
                await asyncio.Future()

        asyncio.run(main())


    @app.function()
    @modal.web_server(PORT)
    def raw():
        threading.Thread(target=serve_forever, daemon=True).start()
"""


def test_a_web_server_process_takes_websockets_with_fragments_and_pings(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    deploy_file(write_app(tmp_path, RAW_APP.replace("PORT", str(port))))
    url = client_env.url.replace("http://", "ws://") + "/web/main--ws-raw-raw/"

    async def talk() -> tuple[object, object, int]:
        async with connect(url) as connection:
            await connection.send("fragments")
            assembled = await connection.recv()
            await connection.send(b"\x00\x01")
            data = await connection.recv()
            # Outlast the server's ping timeout: the connection stays up, pongs and all.
            exchanges, until = 0, time.monotonic() + 1.5
            while time.monotonic() < until:
                await connection.send("tick")
                assert await connection.recv() == "tick"
                exchanges += 1
            return assembled, data, exchanges

    assembled, data, exchanges = asyncio.run(talk())
    assert (assembled, data) == ("fragmented", b"\x00\x01")
    assert exchanges > 0
