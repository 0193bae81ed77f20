"""Web endpoints through the gateway: subdomain and path forms, every decorator, streaming."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf._http import run_flow

from tests.helpers import RunningGateway, deploy_file, scaled, write_app

WEB_APP = """
    import subprocess
    import time

    from fastapi import Request

    import wharf as modal

    app = modal.App("web-app")


    @app.function()
    @modal.web_endpoint()
    def f():
        return "Hello world!"


    @app.function()
    @modal.web_endpoint()
    def square(x: int):
        return {"square": x**2}


    @app.function()
    @modal.fastapi_endpoint(method="POST", label="poster")
    def post_square(item: dict):
        return {"square": item["x"] ** 2}


    @app.function()
    @modal.web_endpoint()
    def ip(request: Request):
        return f"Your IP address is {request.client.host}"


    @app.function()
    @modal.web_endpoint()
    def stream():
        from fastapi.responses import StreamingResponse

        def chunks():
            yield "first\\n"
            time.sleep(1.0)
            yield "second\\n"

        return StreamingResponse(chunks(), media_type="text/plain")


    @app.function()
    @modal.web_endpoint()
    def events():
        from fastapi.responses import StreamingResponse

        def stream():
            yield "data: first\\n\\n"
            time.sleep(1.0)
            yield "data: second\\n\\n"

        return StreamingResponse(stream(), media_type="text/event-stream")


    @app.function()
    @modal.asgi_app()
    def api():
        from fastapi import FastAPI, Request
        from fastapi.responses import HTMLResponse, RedirectResponse

        web_app = FastAPI()

        @web_app.get("/bar")
        async def bar(arg="world"):
            return HTMLResponse(f"<h1>Hello Fast {arg}!</h1>")

        @web_app.post("/foo")
        async def foo(request: Request):
            return await request.json()

        @web_app.get("/go")
        async def go(request: Request):
            return RedirectResponse(request.url_for("bar"))

        return web_app


    @app.function()
    @modal.asgi_app()
    def errors():
        from fastapi import FastAPI
        from fastapi.responses import Response, StreamingResponse

        web_app = FastAPI()

        @web_app.get("/ok")
        async def ok():
            return "ok"

        @web_app.get("/boom")
        async def boom():
            raise RuntimeError("an app's own failure")

        @web_app.get("/empty")
        async def empty():
            return Response(status_code=503)

        @web_app.get("/streamed")
        async def streamed():
            return StreamingResponse(iter(["a failure, ", "chunked"]), status_code=500)

        return web_app


    @app.function()
    @modal.wsgi_app()
    def flask_app():
        from flask import Flask, request

        web_app = Flask(__name__)

        @web_app.get("/")
        def home():
            return "Hello Flask World!"

        @web_app.post("/echo")
        def echo():
            return request.json

        return web_app


    @app.function()
    @modal.web_server(PORT)
    def file_server():
        subprocess.Popen(f"python -m http.server -d / PORT --bind 127.0.0.1", shell=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web(client_env: RunningGateway, tmp_path: Path) -> RunningGateway:
    deploy_file(write_app(tmp_path, WEB_APP.replace("PORT", str(free_port()))))
    return client_env


def host(gateway: RunningGateway, label: str) -> dict[str, str]:
    port = gateway.url.rsplit(":", 1)[1]
    return {"host": f"main--{label}.localhost:{port}"}


def get(gateway: RunningGateway, label: str, path: str = "/", **kwargs: object) -> httpx.Response:
    return httpx.get(f"{gateway.url}{path}", headers=host(gateway, label), timeout=30, **kwargs)  # type: ignore[arg-type]


def test_simple_endpoints_answer_on_their_subdomains(web: RunningGateway) -> None:
    assert get(web, "web-app-f").json() == "Hello world!"
    assert get(web, "web-app-square", params={"x": 42}).json() == {"square": 1764}
    posted = httpx.post(web.url, headers=host(web, "poster"), json={"x": 42})
    assert posted.json() == {"square": 1764}
    assert get(web, "web-app-ip").json() == "Your IP address is 127.0.0.1"


def test_a_proxied_response_has_one_date_and_the_containers_own_server(
    web: RunningGateway,
) -> None:
    # Before: `date` twice (the container's and the gateway's) and `server` twice.
    response = get(web, "web-app-f")
    assert len(response.headers.get_list("date")) == 1
    assert response.headers.get_list("server") == ["uvicorn"]  # the container's web server
    api = httpx.get(f"{web.url}/v1/health")
    assert len(api.headers.get_list("date")) == 1
    assert "server" not in api.headers


def test_web_url_and_remote_on_a_web_function(web: RunningGateway) -> None:
    port = web.url.rsplit(":", 1)[1]
    function = modal.Function.from_name("web-app", "square")
    assert function.web_url == f"http://main--web-app-square.localhost:{port}"
    assert function.get_web_url() == function.web_url
    poster_url = modal.Function.from_name("web-app", "post_square").web_url
    assert poster_url is not None
    assert poster_url.startswith("http://main--poster.")
    with pytest.raises(modal.InvalidError, match="is a web endpoint: call it over HTTP at http"):
        function.remote(3)
    assert modal.Function.from_name("web-app", "ip").web_url is not None


def test_asgi_app_with_routes_and_redirects_in_both_url_forms(web: RunningGateway) -> None:
    assert get(web, "web-app-api", "/bar", params={"arg": "x"}).text == "<h1>Hello Fast x!</h1>"
    echoed = httpx.post(f"{web.url}/foo", headers=host(web, "web-app-api"), json={"a": [1]})
    assert echoed.json() == {"a": [1]}
    path_form = httpx.get(f"{web.url}/web/main--web-app-api/go", follow_redirects=True)
    assert path_form.text == "<h1>Hello Fast world!</h1>"
    assert path_form.url.path == "/web/main--web-app-api/bar"


def test_wsgi_app_serves_flask(web: RunningGateway) -> None:
    assert get(web, "web-app-flask-app").text == "Hello Flask World!"
    echoed = httpx.post(f"{web.url}/echo", headers=host(web, "web-app-flask-app"), json={"b": 2})
    assert echoed.json() == {"b": 2}


def test_web_server_process_is_proxied(web: RunningGateway) -> None:
    listing = httpx.get(f"{web.url}/web/main--web-app-file-server/", timeout=30)
    assert listing.status_code == 200
    assert "Directory listing" in listing.text


def test_an_http_1_0_web_server_answers_every_request(web: RunningGateway) -> None:
    # `python -m http.server` speaks HTTP/1.0 and closes each connection. Before: a pooled
    # connection it had closed was used again, and every other request got 502.
    url = f"{web.url}/web/main--web-app-file-server/"
    statuses = [httpx.get(url, timeout=30).status_code for _ in range(10)]
    posted = [httpx.post(url, content=b"x", timeout=30).status_code for _ in range(4)]
    assert statuses == [200] * 10
    assert 502 not in posted  # http.server refuses POST (501), but answers each one


def test_error_responses_leave_the_container_serving(web: RunningGateway) -> None:
    # Before: ok 200, boom 500, ok 502 (uvicorn closes the connection after its own 500).
    expected = {"/ok": 200, "/boom": 500, "/missing": 404, "/empty": 503, "/streamed": 500}
    seen = []
    with httpx.Client(headers=host(web, "web-app-errors"), timeout=30) as client:
        for _ in range(20):
            for path, status in expected.items():
                seen.append((path, client.get(f"{web.url}{path}").status_code, status))
    assert [(path, got) for path, got, status in seen if got != status] == []


def test_streaming_response_reaches_the_client_before_the_function_ends(
    web: RunningGateway,
) -> None:
    get(web, "web-app-stream")  # warm
    started = time.monotonic()
    with httpx.stream("GET", web.url, headers=host(web, "web-app-stream"), timeout=30) as response:
        chunks = response.iter_text()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = "".join(chunks)
        done_at = time.monotonic() - started
    assert first == "first\n"
    assert rest == "second\n"
    assert first_at < done_at - 0.5


def test_unknown_label_and_stopped_app_answer_404(web: RunningGateway) -> None:
    unknown = get(web, "no-such-endpoint")
    assert unknown.status_code == 404
    assert "no web endpoint" in unknown.json()["error"]["message"]
    from wharf._apps import stop_app

    run_flow(stop_app("web-app"))
    assert get(web, "web-app-f").status_code == 404


def test_curl_reaches_a_localhost_subdomain(web: RunningGateway) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    port = web.url.rsplit(":", 1)[1]
    result = subprocess.run(
        ["curl", "-s", f"http://main--web-app-square.localhost:{port}/?x=42"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=True,
    )
    assert result.stdout == '{"square":1764}'


def test_a_label_taken_by_another_app_is_refused(web: RunningGateway, tmp_path: Path) -> None:
    source = """
        import wharf as modal

        app = modal.App("thief")

        @app.function()
        @modal.web_endpoint(label="poster")
        def steal():
            return "mine"
    """
    with pytest.raises(modal.ClientError, match="already used by another app: main--poster"):
        deploy_file(write_app(tmp_path, source))


def test_server_sent_events_arrive_as_they_are_sent(web: RunningGateway) -> None:
    get(web, "web-app-events")  # warm
    started = time.monotonic()
    with httpx.stream("GET", web.url, headers=host(web, "web-app-events"), timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = response.iter_lines()
        first = next(line for line in events if line)
        first_at = time.monotonic() - started
        second = next(line for line in events if line)
        second_at = time.monotonic() - started
    assert (first, second) == ("data: first", "data: second")
    assert first_at < second_at - 0.5
