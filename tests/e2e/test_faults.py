"""What happens when things go wrong: dying runners, failed starts, stops, expiry, 302s."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf._apps import stop_app
from wharf._http import run_flow

from tests.helpers import (
    RunningGateway,
    deploy_file,
    gateway_config,
    point_client_at,
    running_gateway,
    scaled,
    serving_app,
    wait_until,
    write_app,
)

FLAKY_APP = """
    import os
    import time
    from pathlib import Path

    import wharf as modal

    app = modal.App("flaky-app")


    @app.function()
    def dies_once(marker: str):
        if not Path(marker).exists():
            Path(marker).write_text("died")
            os._exit(1)
        return "recovered"


    @app.function()
    def always_dies():
        os._exit(1)


    @app.function()
    def dies_leaving_a_child(marker: str):
        if not Path(marker).exists():
            Path(marker).write_text("died")
            if os.fork() == 0:
                time.sleep(5)  # holds the agent's sockets open after the agent is gone
                os._exit(0)
            os._exit(1)
        return "recovered"


    @app.function()
    def unprintable():
        raise FileNotFoundError("cannot open \\udce9.txt")


    @app.function()
    def sleepy(seconds: float, value: str = "v1"):
        time.sleep(seconds)
        return value
"""


@pytest.fixture
def flaky(client_env: RunningGateway, tmp_path: Path) -> Path:
    path = write_app(tmp_path, FLAKY_APP)
    deploy_file(path)
    return path


def test_runner_dying_mid_input_is_retried_once_on_a_new_runner(
    flaky: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    assert modal.Function.from_name("flaky-app", "dies_once").remote(str(marker)) == "recovered"
    assert marker.read_text() == "died"


def test_runner_dying_while_its_child_holds_the_socket_is_retried_at_once(
    flaky: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    function = modal.Function.from_name("flaky-app", "dies_leaving_a_child")
    assert function.remote(str(tmp_path / "marker")) == "recovered"
    assert time.monotonic() - started < scaled(4)


def test_exception_with_unencodable_text_is_the_calls_failure(flaky: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cannot open"):
        modal.Function.from_name("flaky-app", "unprintable").remote()


def test_cancel_of_a_path_like_id_does_not_reach_another_route(flaky: Path) -> None:
    with pytest.raises(modal.NotFoundError):
        modal.FunctionCall.from_id("../apps/flaky-app").cancel()
    assert modal.Function.from_name("flaky-app", "sleepy").remote(0) == "v1"


def test_runner_dying_on_every_attempt_terminates_the_call(flaky: Path) -> None:
    with pytest.raises(modal.ExecutionError, match="stopped unexpectedly on each of 2 attempts"):
        modal.Function.from_name("flaky-app", "always_dies").remote()


def test_redeploy_serves_new_calls_and_finishes_calls_in_flight(
    flaky: Path, tmp_path: Path
) -> None:
    sleepy = modal.Function.from_name("flaky-app", "sleepy")
    in_flight = sleepy.spawn(scaled(1.5))
    wait_until(lambda: sleepy.get_current_stats().num_active_runners == 1, timeout_s=20)
    deploy_file(write_app(tmp_path, FLAKY_APP.replace('value: str = "v1"', 'value: str = "v2"')))
    assert sleepy.remote(0) == "v2"
    assert in_flight.get(timeout=scaled(20)) == "v1"


def test_app_whose_container_cannot_start_fails_calls_with_the_reason(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    source = """
        import os
        import wharf as modal

        app = modal.App("broken-start")

        if os.environ.get("RUNNER_APP_ID"):
            raise RuntimeError("cannot start in a container")

        @app.function()
        def f():
            return 1
    """
    deploy_file(write_app(tmp_path, source))
    with pytest.raises(modal.ExecutionError, match="cannot start in a container"):
        modal.Function.from_name("broken-start", "f").remote()


def test_stopping_an_app_terminates_its_running_calls(flaky: Path) -> None:
    sleepy = modal.Function.from_name("flaky-app", "sleepy")
    call = sleepy.spawn(scaled(60))
    wait_until(lambda: sleepy.get_current_stats().num_active_runners == 1, timeout_s=20)
    run_flow(stop_app("flaky-app"))
    with pytest.raises(modal.ExecutionError, match="was stopped"):
        call.get(timeout=scaled(10))


def test_expired_results_answer_410_then_their_records_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving_app(
        tmp_path, monkeypatch, FLAKY_APP, result_ttl_s=1.0, expiry_interval_s=0.1
    ) as gateway:
        call = modal.Function.from_name("flaky-app", "sleepy").spawn(0)
        assert call.get(timeout=scaled(20)) == "v1"

        def answers(status: int) -> bool:
            url = f"{gateway.url}/v1/calls/{call.object_id}"
            response = httpx.get(url, headers={"authorization": gateway.authorization})
            return response.status_code == status

        wait_until(lambda: answers(410))
        with pytest.raises(modal.OutputExpiredError):
            call.get()
        # A retention after its result expired, the call's record is gone too.
        wait_until(lambda: answers(404))


def test_long_call_redirects_302_to_a_result_url_that_redirects_to_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving_app(tmp_path, monkeypatch, FLAKY_APP, request_timeout_s=0.3) as gateway:
        url = f"{gateway.url}/v1/apps/flaky-app/functions/sleepy/calls"
        headers = {"authorization": gateway.authorization}
        first = httpx.post(url, json={"args": [1.2, "slow"]}, headers=headers)
        assert first.status_code == 302
        call_id = first.headers["wharf-call-id"]
        assert first.headers["location"] == f"/v1/calls/{call_id}"
        again = httpx.get(f"{gateway.url}{first.headers['location']}", headers=headers)
        assert again.status_code == 302
        assert again.headers["location"] == f"/v1/calls/{call_id}"
        followed = httpx.post(
            url, json={"args": [1.2, "followed"]}, headers=headers, follow_redirects=True
        )
        assert followed.status_code == 200
        assert followed.json() == "followed"
        assert modal.Function.from_name("flaky-app", "sleepy").remote(1.0, "python") == "python"
        if shutil.which("curl"):
            curl = subprocess.run(
                [
                    "curl",
                    "-sSL",
                    "-H",
                    f"Authorization: {gateway.authorization}",
                    "-d",
                    '{"args": [1.0, "curl"]}',
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=scaled(30),
                check=True,
            )
            assert curl.stdout == '"curl"'


def test_shutdown_does_not_wait_for_containers_still_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = """
        import os
        import time

        import wharf as modal

        app = modal.App("slow-start")

        if os.environ.get("RUNNER_APP_ID"):
            time.sleep(60)

        @app.function()
        def f():
            return 1
    """
    gateway_context = running_gateway(gateway_config(tmp_path / "data"))
    gateway = gateway_context.__enter__()
    try:
        point_client_at(gateway, monkeypatch)
        deploy_file(write_app(tmp_path, source))
        function = modal.Function.from_name("slow-start", "f")
        call = function.spawn()
        wait_until(lambda: function.get_current_stats().num_total_runners == 1)
    finally:
        started = time.monotonic()
        gateway_context.__exit__(None, None, None)
    assert time.monotonic() - started < scaled(10)
    assert call.object_id.startswith("fc-")
