"""HTTPS: the gateway serves TLS (HTTP/1.1 and HTTP/2) and everything works over it."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf._apps import stop_app
from wharf._http import run_flow
from wharf_gateway.server.serve import GRACEFUL_SHUTDOWN_S

from tests.certificates import self_signed_certificate
from tests.e2e.test_recovery import gateway_process, token_from
from tests.helpers import (
    RunningGateway,
    deploy_file,
    gateway_config,
    point_client_at,
    running_gateway,
    scaled,
    write_app,
)

TLS_APP = """
    import wharf as modal

    app = modal.App("tls-app")


    @app.function()
    def square(x: int) -> int:
        return x * x


    @app.function()
    def square_via_gateway(x: int) -> int:
        return modal.Function.from_name("tls-app", "square").remote(x)


    @app.function()
    @modal.web_endpoint()
    def hello():
        return "hello over TLS"


    @app.function()
    @modal.asgi_app()
    def sockets():
        from starlette.applications import Starlette
        from starlette.routing import WebSocketRoute

        async def echo(websocket):
            await websocket.accept()
            async for text in websocket.iter_text():
                await websocket.send_text("secure " + text)

        return Starlette(routes=[WebSocketRoute("/", echo)])
"""


def trusting(certificate: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate))


@pytest.fixture
def tls_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningGateway, Path]]:
    certificate, key = self_signed_certificate(tmp_path)
    config = gateway_config(tmp_path / "data", tls_cert=certificate, tls_key=key)
    with running_gateway(config, verify=trusting(certificate)) as gateway:
        point_client_at(gateway, monkeypatch)
        monkeypatch.setenv("WHARF_CA_BUNDLE", str(certificate))
        deploy_file(write_app(tmp_path, TLS_APP))
        yield gateway, certificate
        # Containers hold TLS connections to the gateway, whose shutdown would wait for their
        # close_notify; stopping the app first ends them.
        monkeypatch.setenv("WHARF_CA_BUNDLE", str(certificate))
        run_flow(stop_app("tls-app"))


def test_remote_calls_and_calls_from_containers_work_over_https(
    tls_gateway: tuple[RunningGateway, Path],
) -> None:
    gateway, _ = tls_gateway
    assert gateway.url.startswith("https://")
    assert modal.Function.from_name("tls-app", "square").remote(7) == 49
    assert modal.Function.from_name("tls-app", "square_via_gateway").remote(8) == 64


def test_web_endpoints_over_https_with_http2(tls_gateway: tuple[RunningGateway, Path]) -> None:
    gateway, certificate = tls_gateway
    with httpx.Client(http2=True, verify=trusting(certificate)) as http:
        response = http.get(f"{gateway.url}/web/main--tls-app-hello/", timeout=30)
    assert response.json() == "hello over TLS"
    assert response.http_version == "HTTP/2"


def test_a_client_that_does_not_trust_the_certificate_is_refused(
    tls_gateway: tuple[RunningGateway, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WHARF_CA_BUNDLE")
    with pytest.raises(modal.exception.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        modal.Function.from_name("tls-app", "square").remote(2)


def test_websockets_over_wss(tls_gateway: tuple[RunningGateway, Path]) -> None:
    import asyncio

    from websockets.asyncio.client import connect

    gateway, certificate = tls_gateway
    url = gateway.url.replace("https://", "wss://") + "/web/main--tls-app-sockets/"

    async def talk() -> object:
        async with connect(url, ssl=trusting(certificate)) as connection:
            await connection.send("hello")
            return await connection.recv()

    assert asyncio.run(talk()) == "secure hello"


def test_a_tls_gateway_ends_its_log_streams_at_once_on_sigterm(tmp_path: Path) -> None:
    certificate, key = self_signed_certificate(tmp_path)
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    flags = ("--tls-cert", str(certificate), "--tls-key", str(key))
    with gateway_process(data_dir, profile, *flags) as (process, url):
        headers = {"authorization": token_from(profile), "accept": "text/event-stream"}
        environment = {**os.environ, "WHARF_CONFIG_PATH": str(profile)}
        environment["WHARF_CA_BUNDLE"] = str(certificate)
        deployed = subprocess.run(
            [sys.executable, "-m", "wharf", "deploy", str(write_app(tmp_path, TLS_APP))],
            env=environment,
            capture_output=True,
            timeout=scaled(60),
            check=False,
        )
        assert deployed.returncode == 0, deployed.stderr
        with httpx.Client(verify=trusting(certificate)) as http:
            logs = f"{url}/v1/apps/tls-app/logs"
            with http.stream("GET", logs, headers=headers, timeout=scaled(30)) as stream:
                assert stream.status_code == 200
                process.send_signal(signal.SIGTERM)
                stopping = time.monotonic()
                for _ in stream.iter_lines():
                    pass  # the gateway ends the stream
        # (The client's connection is closed: a kept-alive one would hold the server's exit.)
        process.wait(timeout=scaled(20))
    # Without ending its streams, the server would wait out its grace period for them.
    assert time.monotonic() - stopping < GRACEFUL_SHUTDOWN_S
