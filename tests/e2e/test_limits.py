"""Rate limits per workspace and backlog limits per function: 429 with a way to retry."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import wharf as modal

from tests.helpers import (
    deploy_file,
    gateway_config,
    point_client_at,
    running_gateway,
    serving_app,
    wait_until,
    write_app,
)

LIMITED_APP = """
    import time

    import wharf as modal

    app = modal.App("limited")


    @app.function(max_containers=1)
    def sleepy(seconds: float) -> float:
        time.sleep(seconds)
        return seconds
"""


def test_requests_past_the_workspace_rate_answer_429_and_the_client_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = gateway_config(tmp_path / "data", rate_limit_per_s=5, rate_burst_s=1)
    with running_gateway(config) as gateway:
        point_client_at(gateway, monkeypatch)
        headers = {"authorization": gateway.authorization}
        statuses = [httpx.get(f"{gateway.url}/v1/apps", headers=headers) for _ in range(8)]
        refused = [response for response in statuses if response.status_code == 429]
        assert refused, [response.status_code for response in statuses]
        assert int(refused[0].headers["retry-after"]) >= 1
        assert refused[0].headers["ratelimit-limit"] == "5"
        assert refused[0].json()["error"]["code"] == "rate_limited"
        # The Python client waits as told and retries by itself.
        deploy_file(write_app(tmp_path, LIMITED_APP))
        assert modal.Function.from_name("limited", "sleepy").remote(0) == 0


def test_a_function_with_a_full_backlog_answers_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving_app(tmp_path, monkeypatch, LIMITED_APP, max_backlog=2) as gateway:
        url = f"{gateway.url}/v1/apps/limited/functions/sleepy/calls"
        headers = {"authorization": gateway.authorization, "prefer": "respond-async"}
        sleepy = modal.Function.from_name("limited", "sleepy")
        first = httpx.post(url, json={"args": [5]}, headers=headers)
        assert first.status_code == 202
        wait_until(lambda: sleepy.get_current_stats().num_active_runners == 1, timeout_s=20)
        waiting = [httpx.post(url, json={"args": [0]}, headers=headers) for _ in range(2)]
        assert [response.status_code for response in waiting] == [202, 202]
        refused = httpx.post(url, json={"args": [0]}, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "backlog_full"
        assert refused.headers["retry-after"] == "1"
        assert sleepy.get_current_stats().backlog == 2


def test_a_flooding_workspace_is_held_to_its_own_limit_and_others_stay_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import time

    from wharf_gateway.server.bootstrap import create_workspace

    from tests.helpers import run_wharf

    config = gateway_config(tmp_path / "data")
    with running_gateway(config) as gateway:
        busy = asyncio.run(create_workspace(config, "busy"))
        limited = run_wharf(
            [
                "workspace",
                "limits",
                "busy",
                "--per-s",
                "5",
                "--burst-s",
                "1",
                "--data-dir",
                str(config.data_dir),
            ],
            {},
        )
        assert limited.returncode == 0, limited.stderr
        busy_headers = {"authorization": f"Bearer {busy.token_id}:{busy.secret}"}
        apps = f"{gateway.url}/v1/apps"

        def busy_is_limited() -> bool:
            answers = [httpx.get(apps, headers=busy_headers).status_code for _ in range(10)]
            return 429 in answers

        wait_until(busy_is_limited, timeout_s=15)  # the gateway reads new limits within 5 s
        main_headers = {"authorization": gateway.authorization}
        slowest_s = 0.0
        with httpx.Client() as flood, httpx.Client(headers=main_headers) as calm:
            for _ in range(50):
                assert flood.get(apps, headers=busy_headers).status_code in (200, 429)
                started = time.monotonic()
                assert calm.get(apps).status_code == 200
                slowest_s = max(slowest_s, time.monotonic() - started)
        # The stated bound: another workspace's flood adds no more than this to a request.
        assert slowest_s < 0.5
