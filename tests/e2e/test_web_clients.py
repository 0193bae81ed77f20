"""Any HTTP client calls web endpoints: Python requests, Node's fetch, and a browser page on
another origin (CORS, following a 302 to the result URL)."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import (
    REPOSITORY,
    RunningGateway,
    chromium_browser,
    scaled,
    serving_app,
)

CLIENT_APP = """
    import time

    import wharf as modal

    app = modal.App("clients")


    @app.function()
    @modal.web_endpoint()
    def square(x: int):
        return {"square": x**2}


    @app.function()
    @modal.web_endpoint()
    def slow(seconds: float = 1.0):
        time.sleep(seconds)
        return {"slept": seconds}


    @app.function()
    @modal.web_endpoint(method="POST")
    def post_square(item: dict):
        return {"square": item["x"] ** 2}


    @app.function()
    @modal.asgi_app()
    def sockets():
        from starlette.applications import Starlette
        from starlette.routing import WebSocketRoute

        async def shout(websocket):
            await websocket.accept()
            async for text in websocket.iter_text():
                await websocket.send_text(text.upper())

        return Starlette(routes=[WebSocketRoute("/", shout)])


    @app.function()
    @modal.asgi_app()
    def trap():
        from starlette.applications import Starlette
        from starlette.responses import HTMLResponse, Response
        from starlette.routing import Route

        async def page(request):
            return HTMLResponse("<p>a page</p>", headers={"service-worker-allowed": "/"})

        async def worker(request):
            script = "self.onfetch = () => {};"
            headers = {"service-worker-allowed": "/"}
            return Response(script, headers=headers, media_type="text/javascript")

        return Starlette(routes=[Route("/", page), Route("/sw.js", worker)])
"""


@pytest.fixture
def clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(tmp_path, monkeypatch, CLIENT_APP, request_timeout_s=0.4) as gateway:
        yield gateway


def path_url(gateway: RunningGateway, label: str) -> str:
    return f"{gateway.url}/web/main--clients-{label}/"


def test_python_requests_follows_to_the_result(clients: RunningGateway) -> None:
    assert requests.get(path_url(clients, "square"), params={"x": 9}, timeout=30).json() == {
        "square": 81
    }
    slow = requests.get(path_url(clients, "slow"), timeout=30)
    assert slow.json() == {"slept": 1.0}
    assert slow.history
    assert slow.history[0].status_code == 302


def test_node_fetch_uses_the_path_form(clients: RunningGateway) -> None:
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    script = (
        "const base = process.argv[1];"
        "(async () => {"
        "  const a = await (await fetch(base + 'square/?x=5')).json();"
        "  const b = await (await fetch(base + 'slow/')).json();"
        "  console.log(JSON.stringify([a, b]));"
        "})();"
    )
    base = f"{clients.url}/web/main--clients-"
    result = subprocess.run(
        ["node", "-e", script, base],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=True,
    )
    assert result.stdout.strip() == '[{"square":25},{"slept":1}]'


@pytest.fixture
def other_origin() -> Iterator[str]:
    """A page server on another port of loopback: another origin than the gateway's."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>other origin</title><p>page</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def browser_page(origin: str) -> Iterator[Any]:
    """A page of headless Debian Chromium, opened at `origin`."""
    with chromium_browser() as browser:
        page = browser.new_page()
        page.goto(origin)
        yield page


def test_a_browser_page_on_another_origin_fetches_endpoints(
    clients: RunningGateway, other_origin: str
) -> None:
    port = clients.url.rsplit(":", 1)[1]
    script = """async ([square, slow, poster]) => {
        const a = await (await fetch(square + "?x=6")).json();
        const b = await (await fetch(slow)).json();
        const c = await (await fetch(poster, {
            method: "POST", headers: {"content-type": "application/json"},
            body: JSON.stringify({x: 3}),
        })).json();
        return [a, b, c];
    }"""
    urls = [
        f"http://main--clients-square.localhost:{port}/",
        f"http://main--clients-slow.localhost:{port}/",
        f"http://main--clients-post-square.localhost:{port}/",
    ]
    output = REPOSITORY / "test-output"
    output.mkdir(exist_ok=True)
    with browser_page(other_origin) as page:
        results = page.evaluate(script, urls)
        page.evaluate("(r) => { document.body.innerText = JSON.stringify(r); }", results)
        page.screenshot(path=str(output / "web-endpoint-cors.png"))
    assert results == [{"square": 36}, {"slept": 1.0}, {"square": 9}]


def test_a_browser_page_talks_over_a_websocket(clients: RunningGateway, other_origin: str) -> None:
    port = clients.url.rsplit(":", 1)[1]
    script = """(url) => new Promise((resolve, reject) => {
        const socket = new WebSocket(url);
        socket.onopen = () => socket.send("hello from the page");
        socket.onmessage = (event) => { resolve(event.data); socket.close(); };
        socket.onerror = () => reject(new Error("websocket failed"));
    })"""
    with browser_page(other_origin) as page:
        reply = page.evaluate(script, f"ws://main--clients-sockets.localhost:{port}/")
    assert reply == "HELLO FROM THE PAGE"


JAVA_CLIENT = """
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Main {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NORMAL).build();
        HttpResponse<String> response = client.send(
            HttpRequest.newBuilder(URI.create(args[0])).build(),
            HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode() + " " + response.body());
    }
}
"""


def test_java_http_client_follows_to_the_result(clients: RunningGateway, tmp_path: Path) -> None:
    if not shutil.which("java"):
        pytest.skip("java is not installed")
    source = tmp_path / "Main.java"
    source.write_text(JAVA_CLIENT)
    # Java follows at most 5 redirects by default; a slow machine can need more
    # 0.4 s waits than that before the call (cold start included) finishes.
    result = subprocess.run(
        [
            "java",
            "-Djdk.httpclient.redirects.retrylimit=50",
            str(source),
            path_url(clients, "slow"),
        ],
        capture_output=True,
        text=True,
        timeout=scaled(120),
        check=True,
    )
    assert result.stdout.strip() == '200 {"slept":1.0}'


def test_pages_of_the_path_form_cannot_reach_the_gateways_own_origin(
    clients: RunningGateway,
) -> None:
    # The path form shares its origin with the dashboard (whose token is in session storage):
    # browsers get its pages sandboxed into an opaque origin.
    trap = path_url(clients, "trap")
    response = requests.get(trap, timeout=30)
    assert response.headers["content-security-policy"].startswith("sandbox allow-scripts")
    assert "service-worker-allowed" not in response.headers
    port = clients.url.rsplit(":", 1)[1]
    own_origin = requests.get(
        f"{clients.url}/", headers={"host": f"main--clients-trap.localhost:{port}"}, timeout=30
    )
    assert own_origin.text == "<p>a page</p>"
    assert "content-security-policy" not in own_origin.headers  # its own origin: as it is
    probe = """async () => {
        let storage, worker;
        try { storage = sessionStorage.getItem("token"); } catch (error) { storage = error.name; }
        try {
            await navigator.serviceWorker.register("sw.js", {scope: "/"});
            worker = "registered";
        } catch (error) { worker = error.name; }
        return [self.origin, storage, worker];
    }"""
    with chromium_browser() as browser:
        page = browser.new_page()
        page.goto(f"{clients.url}/")
        page.evaluate("sessionStorage.setItem('token', 'the secret')")
        page.goto(trap)
        origin, storage, worker = page.evaluate(probe)
    assert origin == "null"
    assert storage == "SecurityError"
    assert worker != "registered"


CORS_APP = """
    import wharf as modal

    app = modal.App("browser")


    @app.function()
    def square(x: int):
        return x * x


    @app.function()
    @modal.web_endpoint(requires_proxy_auth=True)
    def guarded(x: int):
        return {"guarded": x}
"""


def test_a_page_on_another_origin_calls_the_api_and_a_proxy_auth_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_origin: str
) -> None:
    # Before: the /v1 preflight got 405 without CORS headers, a proxy-auth one 401.
    origin = other_origin.rstrip("/")
    with serving_app(tmp_path, monkeypatch, CORS_APP, cors_origins=(origin,)) as gateway:
        script = """async ([api, guarded, auth]) => {
            const call = await fetch(api, {
                method: "POST",
                headers: {"authorization": auth, "content-type": "application/json"},
                body: JSON.stringify({args: [7]}),
            });
            const endpoint = await fetch(guarded + "?x=3", {headers: {"authorization": auth}});
            const refused = await fetch(guarded + "?x=3");
            return [await call.json(), call.headers.get("wharf-call-id") !== null,
                    await endpoint.json(), refused.status];
        }"""
        urls = [
            f"{gateway.url}/v1/apps/browser/functions/square/calls",
            f"{gateway.url}/web/main--browser-guarded/",
            gateway.authorization,
        ]
        with browser_page(other_origin) as page:
            results = page.evaluate(script, urls)
        assert results == [49, True, {"guarded": 3}, 401]
        other = requests.options(
            urls[0],
            headers={"origin": "http://elsewhere.test", "access-control-request-method": "POST"},
            timeout=30,
        )
        assert "access-control-allow-origin" not in other.headers  # only the origins given
