"""The Starlette adapter `@web_endpoint` uses where FastAPI is not installed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.requests import Request
from wharf.web_config import WebConfig, WebKind
from wharf_runner.agent.endpoint import endpoint_app


def square(x: int) -> dict[str, int]:
    return {"square": x**2}


def post_square(item: dict) -> dict[str, int]:  # type: ignore[type-arg]
    return {"square": item["x"] ** 2}


async def whoami(request: Request, greeting: str = "hello") -> str:
    return f"{greeting} {request.url.path}"


class Adapter:
    """Sends one request at a time to the adapter app, in process (a narrow route test)."""

    def __init__(self, function: Any, method: str) -> None:
        config = WebConfig(WebKind.FUNCTION, method=method)
        self._app = endpoint_app(function, config, use_fastapi=False)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)


def adapter(function: Any, method: str = "GET") -> Adapter:
    return Adapter(function, method)


def test_query_parameters_are_converted_by_annotation() -> None:
    assert adapter(square).get("/?x=42").json() == {"square": 1764}


def test_missing_or_bad_parameters_answer_422() -> None:
    assert adapter(square).get("/").status_code == 422
    assert adapter(square).get("/?x=many").status_code == 422


def test_json_body_binds_to_a_dict_parameter() -> None:
    assert adapter(post_square, "POST").post("/", json={"x": 3}).json() == {"square": 9}


def test_request_and_defaults_are_passed() -> None:
    assert adapter(whoami).get("/").json() == "hello /"
    assert adapter(whoami).get("/?greeting=hi").json() == "hi /"


def test_cors_preflight_is_answered_for_any_origin() -> None:
    response = adapter(square).options(
        "/",
        headers={"origin": "http://elsewhere.test", "access-control-request-method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://elsewhere.test")
