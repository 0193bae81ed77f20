"""WebSockets through the gateway to an `@asgi_app`: messages, close codes, limits, browsers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers import RunningGateway, deploy_file, write_app

WS_APP = """
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    import client as modal

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


    @app.function(allow_concurrent_inputs=10)
    @modal.asgi_app()
    def sockets():
        return Starlette(routes=[WebSocketRoute("/echo", echo)])


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
            await connection.send(b"x" * (2 * 1024 * 1024 + 1))
            with pytest.raises(ConnectionClosed):
                await connection.recv()
            return connection.close_code

    assert asyncio.run(talk()) == 1009


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
