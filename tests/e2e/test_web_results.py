"""Long web requests: wait, then 302 to a result URL that replays the response; 202 at once."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    RunningGateway,
    scaled,
    serving_app,
)

SLOW_APP = """
    import time
    from pathlib import Path

    from fastapi.responses import JSONResponse

    import wharf as modal

    app = modal.App("slow-web")


    @app.function()
    @modal.web_endpoint()
    def slow(seconds: float = 1.2):
        time.sleep(seconds)
        return JSONResponse({"slept": seconds}, status_code=201, headers={"x-made-by": "slow"})


    @app.function()
    @modal.web_endpoint(method="POST")
    def record(item: dict):
        with Path(item["log"]).open("a") as log:
            log.write("called\\n")
        time.sleep(1.2)
        return {"recorded": item["value"]}


    @app.function()
    @modal.web_endpoint(wait_for_response=False)
    def later(value: str = "done"):
        time.sleep(0.3)
        return {"later": value}
"""


@pytest.fixture
def slow_web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(tmp_path, monkeypatch, SLOW_APP, request_timeout_s=0.4) as gateway:
        yield gateway


def url(gateway: RunningGateway, label: str) -> str:
    return f"{gateway.url}/web/main--{label}/"


def test_a_slow_response_redirects_then_replays_status_headers_and_body(
    slow_web: RunningGateway,
) -> None:
    first = httpx.get(url(slow_web, "slow-web-slow"), timeout=scaled(30))
    assert first.status_code == 302
    location = first.headers["location"]
    assert "__modal_function_id=fc-" in location
    assert location.startswith(f"{slow_web.url}/web/main--slow-web-slow/?")
    followed = httpx.get(url(slow_web, "slow-web-slow"), follow_redirects=True, timeout=30)
    assert followed.status_code == 201
    assert followed.json() == {"slept": 1.2}
    assert followed.headers["x-made-by"] == "slow"
    assert len(followed.history) >= 2  # waited on the result URL, which redirected to itself
    replayed = httpx.get(location.replace("__modal_function_id", "__modal_function_call_id"))
    assert replayed.json() == {"slept": 1.2}


def test_a_post_re_sent_to_its_result_url_never_starts_a_second_call(
    slow_web: RunningGateway, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    body = {"log": str(log), "value": 7}
    response = httpx.post(url(slow_web, "slow-web-record"), json=body, timeout=30)
    assert response.status_code == 302
    for _ in range(50):  # each answer waits up to the request timeout before redirecting again
        response = httpx.post(response.headers["location"], json=body, timeout=30)
        if response.status_code != 302:
            break
    assert response.json() == {"recorded": 7}
    assert log.read_text() == "called\n"


def test_wait_for_response_false_answers_202_with_a_result_url(slow_web: RunningGateway) -> None:
    accepted = httpx.get(url(slow_web, "slow-web-later"), params={"value": "v"})
    assert accepted.status_code == 202
    result_url = accepted.json()["result_url"]
    assert "value=v" in result_url
    assert "__modal_function_id=fc-" in result_url
    result = httpx.get(result_url, follow_redirects=True, timeout=30)
    assert result.json() == {"later": "v"}


def test_an_unknown_result_id_answers_404(slow_web: RunningGateway) -> None:
    response = httpx.get(url(slow_web, "slow-web-slow"), params={"__modal_function_id": "fc-x"})
    assert response.status_code == 404


@pytest.mark.parametrize("tool", ["curl", "wget"])
def test_command_line_clients_follow_to_the_result(slow_web: RunningGateway, tool: str) -> None:
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed")
    command = {
        "curl": ["curl", "-sSL"],
        "wget": ["wget", "-q", "-O", "-", "--max-redirect=50"],
    }[tool]
    result = subprocess.run(
        [*command, url(slow_web, "slow-web-slow") + "?seconds=1"],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=True,
    )
    assert result.stdout == '{"slept":1.0}'


def test_the_same_flows_work_on_hypercorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wharf_gateway.server.config import HttpServer

    with serving_app(
        tmp_path, monkeypatch, SLOW_APP, request_timeout_s=0.4, http_server=HttpServer.HYPERCORN
    ) as gateway:
        followed = httpx.get(url(gateway, "slow-web-slow"), follow_redirects=True, timeout=30)
        assert followed.status_code == 201
        assert followed.history[0].status_code == 302
        accepted = httpx.get(url(gateway, "slow-web-later"))
        assert accepted.status_code == 202
