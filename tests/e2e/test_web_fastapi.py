"""The reference's FastAPI examples, API docs, big streamed bodies, forwarded headers, and a
container that cannot start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    RunningGateway,
    deploy_file,
    serving_app,
    write_app,
)

FASTAPI_APP = """
    import os

    from fastapi import Depends, HTTPException, Request, status
    from fastapi.responses import HTMLResponse
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
    from pydantic import BaseModel

    import wharf as modal

    app = modal.App("fastapi-examples")
    auth_scheme = HTTPBearer()


    class Item(BaseModel):
        name: str
        qty: int = 42


    @app.function()
    @modal.web_endpoint(method="POST", docs=True)
    def f(item: Item):
        return HTMLResponse(f"<html>Hello, {item.name}!</html>")


    @app.function()
    @modal.web_endpoint()
    async def guarded(request: Request, token: HTTPAuthorizationCredentials = Depends(auth_scheme)):
        if token.credentials != os.environ.get("AUTH_TOKEN", "secret-random-token"):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Incorrect bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return "success!"


    @app.function()
    @modal.asgi_app()
    def raw():
        from fastapi import FastAPI

        web_app = FastAPI()

        @web_app.post("/count")
        async def count(request: Request):
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
            return {"bytes": total}

        @web_app.get("/headers")
        async def headers(request: Request):
            return {"headers": dict(request.headers), "client": request.client.host}

        return web_app
"""


@pytest.fixture
def fastapi_app(client_env: RunningGateway, tmp_path: Path) -> RunningGateway:
    deploy_file(write_app(tmp_path, FASTAPI_APP))
    return client_env


def web(gateway: RunningGateway, label: str, path: str = "/") -> str:
    return f"{gateway.url}/web/main--fastapi-examples-{label}{path}"


def test_pydantic_model_body_and_html_response(fastapi_app: RunningGateway) -> None:
    response = httpx.post(web(fastapi_app, "f"), json={"name": "Erik", "qty": 10}, timeout=30)
    assert response.text == "<html>Hello, Erik!</html>"
    assert response.headers["content-type"].startswith("text/html")
    invalid = httpx.post(web(fastapi_app, "f"), json={"qty": "many"}, timeout=30)
    assert invalid.status_code == 422


def test_docs_are_served_when_asked(fastapi_app: RunningGateway) -> None:
    assert httpx.get(web(fastapi_app, "f", "/docs"), timeout=30).status_code == 200
    assert httpx.get(web(fastapi_app, "guarded", "/docs"), timeout=30).status_code == 404


def test_bearer_token_example_is_401_unless_the_right_token(fastapi_app: RunningGateway) -> None:
    url = web(fastapi_app, "guarded")
    assert httpx.get(url, timeout=30).status_code in (401, 403)
    wrong = httpx.get(url, headers={"authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    right = httpx.get(url, headers={"authorization": "Bearer secret-random-token"}, timeout=30)
    assert right.json() == "success!"


def test_a_large_streamed_body_reaches_the_container(fastapi_app: RunningGateway) -> None:
    chunk = os.urandom(1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(24):
            yield chunk

    response = httpx.post(web(fastapi_app, "raw", "/count"), content=body(), timeout=60)
    assert response.json() == {"bytes": 24 * len(chunk)}


def test_hop_by_hop_headers_are_dropped_and_forwarded_ones_set(
    fastapi_app: RunningGateway,
) -> None:
    response = httpx.get(
        web(fastapi_app, "raw", "/headers"),
        headers={
            "connection": "keep-alive, x-private",
            "x-private": "hop",
            "x-forwarded-for": "203.0.113.9",
            "x-custom": "kept",
        },
        timeout=30,
    )
    seen = response.json()
    assert "x-private" not in seen["headers"]
    assert seen["headers"]["x-custom"] == "kept"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["client"] == "127.0.0.1"


def test_callers_forwarded_headers_are_kept_only_when_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving_app(tmp_path, monkeypatch, FASTAPI_APP, trust_forwarded_headers=True) as gateway:
        response = httpx.get(
            web(gateway, "raw", "/headers"),
            headers={"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"},
            timeout=30,
        )
    seen = response.json()
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["client"] == "203.0.113.9"


def test_an_endpoint_whose_container_cannot_start_answers_503(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    source = """
        import os

        import wharf as modal

        app = modal.App("no-start")

        if os.environ.get("RUNNER_APP_ID"):
            raise RuntimeError("cannot start")

        @app.function()
        @modal.web_endpoint()
        def f():
            return "never"
    """
    deploy_file(write_app(tmp_path, source))
    response = httpx.get(f"{client_env.url}/web/main--no-start-f/", timeout=30)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "startup_failed"
