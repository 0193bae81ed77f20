"""Web endpoints when things go wrong: clean 4xx and 5xx answers, never a gateway 500."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import RunningGateway, deploy_file, serving_app, wait_until, write_app

FAULTY_APP = """
    import os
    import time

    import wharf as modal

    app = modal.App("faulty")


    @app.function()
    @modal.web_endpoint()
    def boom():
        raise RuntimeError("secret detail in the traceback")


    @app.function(timeout=2)
    @modal.web_endpoint()
    def too_slow():
        time.sleep(30)
        return "never"


    @app.function()
    @modal.web_endpoint()
    def crash():
        os._exit(1)


    @app.function()
    @modal.web_endpoint(method="POST")
    def count(request: "Request"):
        return None
"""


@pytest.fixture
def faulty(client_env: RunningGateway, tmp_path: Path) -> RunningGateway:
    source = FAULTY_APP.replace('request: "Request"', "item: dict")
    deploy_file(write_app(tmp_path, source))
    return client_env


def web(gateway: RunningGateway, label: str, path: str = "/") -> str:
    return f"{gateway.url}/web/main--{label}{path}"


def test_a_raising_function_answers_a_generic_500_with_the_traceback_only_in_logs(
    faulty: RunningGateway,
) -> None:
    from wharf._apps import app_logs
    from wharf._http import run_flow

    response = httpx.get(web(faulty, "faulty-boom"), timeout=30)
    assert response.status_code == 500
    assert "secret detail" not in response.text

    def logged() -> bool:
        return any("secret detail" in line["line"] for line in run_flow(app_logs("faulty")))

    wait_until(logged)


def test_a_function_past_its_timeout_answers_504(faulty: RunningGateway) -> None:
    started = time.monotonic()
    response = httpx.get(web(faulty, "faulty-too-slow"), timeout=30)
    assert response.status_code == 504
    assert time.monotonic() - started < 15


def test_a_container_that_dies_mid_request_answers_502(faulty: RunningGateway) -> None:
    response = httpx.get(web(faulty, "faulty-crash"), timeout=30)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "bad_gateway"


@pytest.mark.parametrize(
    "path",
    ["/web/../v1/apps", "/web/%2e%2e/v1/apps", "/web/main--nope/", "/web/main--faulty-boom%00/"],
)
def test_path_tricks_and_unknown_labels_answer_404(faulty: RunningGateway, path: str) -> None:
    response = httpx.get(f"{faulty.url}{path}", timeout=30)
    # httpx resolves `..` itself, so that one reaches the API, which wants a token.
    assert response.status_code in (401, 404)


def test_an_oversized_header_is_refused_without_a_500(faulty: RunningGateway) -> None:
    try:
        response = httpx.get(
            web(faulty, "faulty-branded"), headers={"x-big": "a" * 200_000}, timeout=30
        )
    except httpx.RemoteProtocolError:
        return  # the server closed the connection: also a clean refusal
    assert 400 <= response.status_code < 500


def test_a_web_body_over_the_limit_answers_413(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    with serving_app(
        tmp_path,
        monkeypatch,
        FAULTY_APP.replace('request: "Request"', "item: dict"),
        max_web_body_bytes=1024,
    ) as gateway:
        declared = httpx.post(web(gateway, "faulty-count"), content=b"x" * 4096, timeout=30)
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies as it streams
            yield os.urandom(1000)
            yield os.urandom(1000)

        streamed = httpx.post(web(gateway, "faulty-count"), content=chunks(), timeout=30)
        assert streamed.status_code == 413
