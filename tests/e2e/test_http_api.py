"""The public HTTP API as curl and other non-Python callers use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    RunningGateway,
    deploy_file,
    gateway_config,
    running_gateway,
    scaled,
    wait_until,
    write_app,
)

HTTP_APP = """
    import time

    import wharf as modal

    app = modal.App("http-app")


    @app.function()
    def square(x: int):
        return x ** 2


    @app.function()
    def sleepy(seconds: float):
        time.sleep(seconds)
        return {"slept": seconds}


    @app.function()
    def fail():
        raise KeyError("missing thing")


    @app.function()
    def not_json():
        return {1, 2, 3}


    @app.function()
    def shout(text, *, times=1):
        print(text.upper())
        return text.upper() * times
"""


def calls_url(gateway: RunningGateway, function: str) -> str:
    return f"{gateway.url}/v1/apps/http-app/functions/{function}/calls"


@pytest.fixture
def http(client_env: RunningGateway, tmp_path: Path) -> Iterator[httpx.Client]:
    deploy_file(write_app(tmp_path, HTTP_APP))
    headers = {"authorization": client_env.authorization}
    with httpx.Client(headers=headers, timeout=scaled(60)) as session:
        yield session


def test_json_call_answers_200_with_the_result(http: httpx.Client, gateway: RunningGateway) -> None:
    response = http.post(calls_url(gateway, "square"), json={"args": [42]})
    assert response.status_code == 200
    assert response.json() == 1764
    assert response.headers["wharf-call-id"].startswith("fc-")


def test_keyword_arguments_and_keyword_only_parameters(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    body = {"args": ["hi"], "kwargs": {"times": 2}}
    assert http.post(calls_url(gateway, "shout"), json=body).json() == "HIHI"


def test_respond_async_answers_202_then_the_result_url_long_polls(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    response = http.post(
        calls_url(gateway, "sleepy"), json={"args": [0.5]}, headers={"prefer": "respond-async"}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["call_id"].startswith("fc-")
    assert body["result_url"] == f"{gateway.url}/v1/calls/{body['call_id']}"
    pending = http.get(body["result_url"], params={"timeout_s": 0})
    assert pending.status_code == 202
    done = http.get(body["result_url"], params={"timeout_s": scaled(20)})
    assert done.status_code == 200
    assert done.json() == {"slept": 0.5}


def test_delete_cancels_a_running_call(http: httpx.Client, gateway: RunningGateway) -> None:
    response = http.post(
        calls_url(gateway, "sleepy"), json={"args": [60]}, headers={"prefer": "respond-async"}
    )
    result_url = response.json()["result_url"]
    cancelled = http.delete(result_url)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    answer = http.get(result_url)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "call_cancelled"


def test_user_exception_is_the_calls_result_with_type_and_traceback(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    response = http.post(calls_url(gateway, "fail"), json={})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "function_failed"
    assert error["type"] == "KeyError"
    assert "missing thing" in error["message"]
    assert 'raise KeyError("missing thing")' in error["traceback"]
    assert "exception_pickle" not in error


def test_result_that_is_not_json_gives_a_clear_406(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    response = http.post(calls_url(gateway, "not_json"), json={})
    assert response.status_code == 406
    error = response.json()["error"]
    assert error["code"] == "result_not_json"
    assert "'set'" in error["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"args": 42}', '"args" must be a JSON array'),
        (b'{"kwargs": []}', '"kwargs" must be a JSON object'),
        (b'{"argz": []}', "unknown keys in the body: argz"),
        (b'{"args": []}', "missing a required argument: 'x'"),
        (b'{"args": [1, 2]}', "too many positional arguments"),
    ],
)
def test_bad_arguments_answer_400_naming_the_problem(
    http: httpx.Client, gateway: RunningGateway, body: bytes, fragment: str
) -> None:
    response = http.post(calls_url(gateway, "square"), content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert fragment in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [b"garbage", b"", b"\x80\x05truncated", b"(lp0\n."])
def test_a_body_that_is_not_a_pickle_answers_400_naming_the_problem(
    http: httpx.Client, gateway: RunningGateway, body: bytes
) -> None:
    # Before: the container failed to load it, and the caller got 500 function_failed.
    response = http.post(
        calls_url(gateway, "square"),
        content=body,
        headers={"content-type": "application/x-python-pickle"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "the body is not a pickle" in response.json()["error"]["message"]


def test_a_body_of_another_content_type_answers_400_naming_it(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    response = http.post(
        calls_url(gateway, "square"),
        content=b"<args><x>3</x></args>",
        headers={"content-type": "application/xml"},
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "the body was sent as 'application/xml'" in message
    assert "application/json" in message
    # curl -d sends the form type: its JSON is taken as JSON.
    form = http.post(
        calls_url(gateway, "square"),
        content=b'{"args": [3]}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.json() == 9


def test_unknown_app_function_and_call_answer_404(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    for url in (
        f"{gateway.url}/v1/apps/nope/functions/square/calls",
        calls_url(gateway, "nope"),
    ):
        response = http.post(url, json={})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    missing = http.get(f"{gateway.url}/v1/calls/fc-{'0' * 32}")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "authorization", [None, "Bearer nope", "Bearer wk-x:ws-y", "Basic abc", "Bearer wk-x:"]
)
def test_missing_or_wrong_token_answers_401_with_www_authenticate(
    http: httpx.Client, gateway: RunningGateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = httpx.post(calls_url(gateway, "square"), json={"args": [1]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"


def test_health_and_openapi_list_every_route(http: httpx.Client, gateway: RunningGateway) -> None:
    assert httpx.get(f"{gateway.url}/v1/health").json() == {"status": "ok"}
    paths = httpx.get(f"{gateway.url}/v1/openapi.json").json()["paths"]
    assert set(paths["/v1/apps/{app}/functions/{function}/calls"]) == {"post"}
    assert set(paths["/v1/calls/{call_id}"]) == {"get", "delete"}
    assert set(paths["/v1/apps"]) == {"get", "post"}
    assert "/v1/apps/{app}/functions/{function}/stats" in paths


def test_apps_list_show_stats_logs_and_stop(http: httpx.Client, gateway: RunningGateway) -> None:
    assert http.post(calls_url(gateway, "shout"), json={"args": ["logged line"]}).status_code == 200
    apps = http.get(f"{gateway.url}/v1/apps").json()["apps"]
    assert [(app["name"], app["state"]) for app in apps] == [("http-app", "deployed")]
    shown = http.get(f"{gateway.url}/v1/apps/http-app").json()
    assert {f["name"] for f in shown["functions"]} >= {"square", "sleepy"}
    stats = http.get(f"{gateway.url}/v1/apps/http-app/functions/square/stats").json()
    assert stats == {
        "backlog": 0,
        "num_active_runners": 0,
        "num_total_runners": 0,
        "num_running_inputs": 0,
        "headroom": 0,
    }

    def logged() -> bool:
        lines = http.get(f"{gateway.url}/v1/apps/http-app/logs").json()["logs"]
        return any(line["line"] == "LOGGED LINE" for line in lines)

    wait_until(logged)
    assert http.delete(f"{gateway.url}/v1/apps/http-app").json()["state"] == "stopped"
    assert http.post(calls_url(gateway, "square"), json={"args": [1]}).status_code == 404


@pytest.mark.parametrize("after_id", ["\u00b2", "99999999999999999999", "-1"])
def test_bad_log_cursor_answers_400(
    http: httpx.Client, gateway: RunningGateway, after_id: str
) -> None:
    response = http.get(f"{gateway.url}/v1/apps/http-app/logs", params={"after_id": after_id})
    assert response.status_code == 400


def test_body_over_the_limit_answers_413(tmp_path: Path) -> None:
    config = gateway_config(tmp_path / "data", max_body_bytes=1024)
    with running_gateway(config) as gateway:
        response = httpx.post(
            f"{gateway.url}/v1/apps/any/functions/any/calls",
            content=b"x" * 4096,
            headers={"authorization": gateway.authorization},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_post_sent_again_with_its_idempotency_key_gets_the_first_call(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    # Before: the key was ignored, and a client retrying after a dropped connection made a
    # second call.
    url = calls_url(gateway, "square")
    headers = {"idempotency-key": "order-1", "prefer": "respond-async"}
    first = http.post(url, json={"args": [6]}, headers=headers)
    again = http.post(url, json={"args": [6]}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["call_id"] == first.json()["call_id"]
    waited = http.post(url, json={"args": [6]}, headers={"idempotency-key": "order-1"})
    assert waited.status_code == 409  # the same key for a request of another shape
    other = http.post(url, json={"args": [7]}, headers=headers)
    assert other.status_code == 409
    assert "Idempotency-Key 'order-1'" in other.json()["error"]["message"]
    synchronous = {"idempotency-key": "order-2"}
    assert http.post(url, json={"args": [8]}, headers=synchronous).json() == 64
    repeated = http.post(url, json={"args": [8]}, headers=synchronous)
    assert repeated.json() == 64
    assert (
        repeated.headers["wharf-call-id"]
        == http.post(url, json={"args": [8]}, headers=synchronous).headers["wharf-call-id"]
    )
    listing = {"app": "http-app", "function": "square"}
    calls = http.get(f"{gateway.url}/v1/calls", params=listing).json()["calls"]
    assert len(calls) == 2  # one per key


def test_a_key_the_python_client_sends_again_finds_its_first_call(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    url = calls_url(gateway, "square")
    headers = {"idempotency-key": "uuid-1", "prefer": "respond-async"}
    first = http.post(url, json={"args": [5]}, headers={**headers, "wharf-attempt": "0"})
    again = http.post(url, json={"args": [5]}, headers={**headers, "wharf-attempt": "1"})
    assert again.json()["call_id"] == first.json()["call_id"]


def test_a_batch_sent_again_with_its_key_starts_no_new_calls(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    from wharf.frames import pack_frame

    inputs = [b'{"args": [1]}', b'{"args": [2]}']
    frame = pack_frame({"format": "json", "sizes": [len(i) for i in inputs]}, inputs)
    url = f"{calls_url(gateway, 'square')}/batch"
    headers = {"idempotency-key": "batch-1"}
    first = http.post(url, content=frame, headers=headers)
    assert first.status_code == 202, first.text
    again = http.post(url, content=frame, headers=headers)
    assert again.json() == first.json()
    assert len(first.json()["call_ids"]) == 2


def test_a_map_opened_again_with_its_key_is_the_same_map(
    http: httpx.Client, gateway: RunningGateway
) -> None:
    url = f"{calls_url(gateway, 'square').removesuffix('/calls')}/maps"
    headers = {"idempotency-key": "map-1"}
    first = http.post(url, json={"format": "json"}, headers=headers)
    assert first.status_code == 201, first.text
    again = http.post(url, json={"format": "json"}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    other = http.post(url, json={"format": "pickle"}, headers=headers)
    assert other.status_code == 409
    assert http.post(url, json={"format": "json"}).json()["map_id"] != first.json()["map_id"]
