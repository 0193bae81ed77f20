"""The routes the dashboard reads, over HTTP against a real gateway: recent calls, a call's
details, a function's last hour, logs (pages and live streams), who a token is, and the page
itself. Every one is scoped to the token's workspace."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
import wharf as modal
from wharf_gateway.apps.logs import MAX_STREAMS_PER_WORKSPACE
from wharf_gateway.server.bootstrap import create_workspace
from wharf_gateway.server.serve import GRACEFUL_SHUTDOWN_S

from tests.helpers import RunningGateway, scaled, serving_app, wait_until

RECORDS_APP = """
    import os
    import time

    import wharf as modal

    app = modal.App("records")


    @app.function()
    def square(x: int) -> int:
        print(f"square of {x}")
        return x * x


    @app.function()
    def fail(text: str):
        print(f"failing with {text}")
        raise ValueError(text)


    @app.function()
    def big(size: int) -> str:
        return "x" * size


    @app.function()
    def hold(path: str) -> str:
        deadline = time.monotonic() + 60
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.02)
        return "held"


    @app.function()
    @modal.web_endpoint(wait_for_response=False)
    def later():
        return {"later": True}
"""


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(tmp_path, monkeypatch, RECORDS_APP) as gateway:
        yield gateway


def admin(gateway: RunningGateway) -> dict[str, str]:
    return {"authorization": gateway.authorization}


def outsider(gateway: RunningGateway) -> dict[str, str]:
    """A token of another workspace."""
    other = asyncio.run(create_workspace(gateway.config, "outsiders"))
    return {"authorization": f"Bearer {other.token_id}:{other.secret}"}


def call(gateway: RunningGateway, function: str, *, wait: bool = True, **kwargs: Any) -> str:
    """Call a function of `records` with JSON arguments; returns the call id."""
    headers = admin(gateway) if wait else {**admin(gateway), "prefer": "respond-async"}
    response = httpx.post(
        f"{gateway.url}/v1/apps/records/functions/{function}/calls",
        content=orjson.dumps({"kwargs": kwargs}),
        headers=headers,
        timeout=scaled(30),
    )
    return str(response.headers["wharf-call-id"])


def get(gateway: RunningGateway, path: str, headers: dict[str, str] | None = None) -> Any:
    response = httpx.get(f"{gateway.url}{path}", headers=headers or admin(gateway))
    assert response.status_code == 200, response.text
    return response.json()


def error_of(gateway: RunningGateway, path: str, headers: dict[str, str] | None = None) -> Any:
    response = httpx.get(f"{gateway.url}{path}", headers=headers or admin(gateway))
    return response.status_code, response.json()["error"]["code"]


def test_calls_are_listed_newest_first_a_page_at_a_time(records: RunningGateway) -> None:
    made = [call(records, "square", x=x) for x in range(5)]
    listed: list[dict[str, Any]] = []
    page = get(records, "/v1/calls?limit=2")
    while True:
        assert len(page["calls"]) <= 2
        listed += page["calls"]
        if page["next_cursor"] is None:
            break
        page = get(records, f"/v1/calls?limit=2&cursor={page['next_cursor']}")
    assert [each["call_id"] for each in listed] == made[::-1]
    first = listed[-1]
    assert (first["app_name"], first["function_name"], first["status"]) == (
        "records",
        "square",
        "success",
    )
    assert first["duration_s"] == pytest.approx(first["finished_at"] - first["created_at"])


def test_calls_are_filtered_by_app_function_and_status(
    records: RunningGateway, tmp_path: Path
) -> None:
    squares = [call(records, "square", x=x) for x in range(2)]
    failed = call(records, "fail", text="no")
    held = call(records, "hold", wait=False, path=str(tmp_path / "release"))

    def ids(query: str) -> list[str]:
        return [each["call_id"] for each in get(records, f"/v1/calls?{query}")["calls"]]

    assert ids("status=failure") == [failed]
    assert ids("status=success,failure") == [failed, *squares[::-1]]
    assert ids("app=records&function=square") == squares[::-1]
    assert wait_until(lambda: ids("status=running") == [held])
    assert ids("status=pending") == []
    (tmp_path / "release").touch()
    assert wait_until(lambda: ids("status=success&function=hold&app=records") == [held])
    assert ids("status=running") == []


def test_listing_calls_refuses_bad_input_with_clear_errors(records: RunningGateway) -> None:
    not_json = base64.urlsafe_b64encode(b"[1]").decode()
    for query in (
        "limit=0",
        "limit=201",
        "limit=many",
        "status=bogus",
        "cursor=%%%",
        f"cursor={not_json}",
        "function=square",
    ):
        assert error_of(records, f"/v1/calls?{query}") == (400, "invalid_request"), query
    assert error_of(records, "/v1/calls?app=nope") == (404, "not_found")
    assert error_of(records, "/v1/calls?app=records&function=nope") == (404, "not_found")
    assert httpx.get(f"{records.url}/v1/calls").status_code == 401


def test_another_workspace_sees_none_of_the_calls_history_or_logs(
    records: RunningGateway,
) -> None:
    call_id = call(records, "square", x=3)
    headers = outsider(records)
    assert get(records, "/v1/calls", headers) == {"calls": [], "next_cursor": None}
    for path in (
        f"/v1/calls/{call_id}/details",
        "/v1/calls?app=records",
        "/v1/apps/records/functions/square/history",
        "/v1/apps/records/logs",
        "/v1/apps/records/functions/square/logs",
        "/v1/apps/records/stats",
    ):
        assert error_of(records, path, headers) == (404, "not_found"), path
    streamed = httpx.get(
        f"{records.url}/v1/apps/records/logs",
        headers={**headers, "accept": "text/event-stream"},
    )
    assert streamed.status_code == 404


def test_call_details_give_sizes_the_result_and_the_error(records: RunningGateway) -> None:
    square = get(records, f"/v1/calls/{call(records, 'square', x=7)}/details")
    assert square["args"] == {"format": "json", "bytes": len(orjson.dumps({"kwargs": {"x": 7}}))}
    assert square["result"] == {"format": "json", "bytes": 2, "value": 49, "truncated": False}
    assert (square["error"], square["attempt"], square["method"]) == (None, 1, None)

    failed = get(records, f"/v1/calls/{call(records, 'fail', text='broken')}/details")
    assert failed["status"] == "failure"
    assert failed["result"] is None
    assert failed["error"]["message"] == "ValueError: broken"
    assert "raise ValueError(text)" in failed["error"]["traceback"]

    size = 3 * 1024 * 1024  # past the 2 MiB kept in the database: stored as a file
    large = get(records, f"/v1/calls/{call(records, 'big', size=size)}/details")
    assert large["result"] == {"format": "json", "bytes": size + 2, "truncated": True}


def test_call_details_of_python_and_web_calls(records: RunningGateway) -> None:
    # `.remote()` wants only a pickle back, so no JSON form of the value is made.
    assert modal.Function.from_name("records", "square").remote(6) == 36
    (newest,) = get(records, "/v1/calls?limit=1")["calls"]
    pickled = get(records, f"/v1/calls/{newest['call_id']}/details")
    assert pickled["args"]["format"] == "pickle"
    assert pickled["args"]["bytes"] > 0
    assert pickled["result"]["format"] == "pickle"
    assert pickled["result"]["bytes"] > 0

    accepted = httpx.get(f"{records.url}/web/main--records-later/")
    assert accepted.status_code == 202
    query = parse_qs(urlsplit(accepted.json()["result_url"]).query)
    web_call = query["__modal_function_id"][0]
    finished = wait_until(
        lambda: (
            (found := get(records, f"/v1/calls/{web_call}/details"))["status"] == "success"
            and found
        )
    )
    assert finished["args"] == {"format": "web", "bytes": None}
    assert finished["result"] == {
        "format": "web",
        "http_status": 200,
        "bytes": len(b'{"later":true}'),
    }
    assert error_of(records, f"/v1/calls/fc-{'0' * 32}/details") == (404, "not_found")
    # Replayed on the API's own origin, an endpoint's response is inert (no scripts run).
    replayed = httpx.get(f"{records.url}/v1/calls/{web_call}", headers=admin(records))
    assert replayed.json() == {"later": True}
    assert replayed.headers["content-security-policy"] == "sandbox"
    assert replayed.headers["x-content-type-options"] == "nosniff"


def test_history_counts_calls_per_minute_with_percentiles(records: RunningGateway) -> None:
    for x in range(3):
        call(records, "square", x=x)
    call(records, "fail", text="once")
    history = get(records, "/v1/apps/records/functions/square/history")
    minutes = history["minutes"]
    assert (history["function_name"], history["minute_s"], len(minutes)) == ("square", 60, 60)
    starts = [minute["start"] for minute in minutes]
    assert [later - earlier for earlier, later in itertools.pairwise(starts)] == [60] * 59
    assert minutes[-1]["start"] <= time.time() < minutes[-1]["start"] + 60
    assert sum(minute["calls"] for minute in minutes) == 3
    for minute in minutes:
        if minute["calls"]:
            assert 0 <= minute["p50_s"] <= minute["p99_s"]
        else:
            assert minute["p50_s"] is minute["p99_s"] is None
    failed = get(records, "/v1/apps/records/functions/fail/history")["minutes"]
    assert sum(minute["calls"] for minute in failed) == 1
    assert error_of(records, "/v1/apps/records/functions/nope/history") == (404, "not_found")


def test_logs_of_an_app_and_of_one_function_with_a_filter(records: RunningGateway) -> None:
    call(records, "square", x=2)
    call(records, "fail", text="kaboom")

    def texts(path: str) -> list[str]:
        return [line["line"] for line in get(records, path)["logs"]]

    assert wait_until(lambda: len(texts("/v1/apps/records/logs")) == 2)
    assert texts("/v1/apps/records/functions/square/logs") == ["square of 2"]
    assert texts("/v1/apps/records/logs?filter=KABOOM") == ["failing with kaboom"]
    page = get(records, "/v1/apps/records/logs?filter=nothing-matches")
    assert page["logs"] == []
    everything = get(records, "/v1/apps/records/logs")
    # Lines the filter passed over are not read again by whoever goes on from there.
    assert page["next_after_id"] == everything["next_after_id"] == everything["logs"][-1]["id"]
    after = everything["logs"][0]["id"]
    assert texts(f"/v1/apps/records/logs?after_id={after}") == ["failing with kaboom"]
    for query in (f"filter={'x' * 201}", "after_id=-1", "after_id=one"):
        assert error_of(records, f"/v1/apps/records/logs?{query}") == (400, "invalid_request")


def read_events(lines: Iterator[str], count: int) -> list[dict[str, str]]:
    """The next `count` events of a server-sent event stream's lines (comments skipped)."""
    events: list[dict[str, str]] = []
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                events.append(event)
                event = {}
            if len(events) == count:
                return events
            continue
        field, _, value = line.partition(": ")
        if field:
            event[field] = value
    raise AssertionError(f"the stream ended after {len(events)} events")


def test_logs_stream_live_as_server_sent_events(records: RunningGateway) -> None:
    call(records, "square", x=1)
    headers = {**admin(records), "accept": "text/event-stream"}
    url = f"{records.url}/v1/apps/records/functions/square/logs?filter=square"
    with httpx.stream("GET", url, headers=headers, timeout=scaled(10)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        (old,) = read_events(lines, 1)
        assert old["event"] == "log"
        assert orjson.loads(old["data"])["line"] == "square of 1"
        call(records, "fail", text="not shown")
        call(records, "square", x=2)
        (new,) = read_events(lines, 1)
        assert orjson.loads(new["data"])["line"] == "square of 2"
        assert int(new["id"]) > int(old["id"])
    # A client that comes back says which event it saw last, and gets only what came after.
    resumed = {**headers, "last-event-id": new["id"]}
    with httpx.stream("GET", url, headers=resumed, timeout=scaled(10)) as stream:
        call(records, "square", x=3)
        (latest,) = read_events(stream.iter_lines(), 1)
        assert orjson.loads(latest["data"])["line"] == "square of 3"
    bad = httpx.get(url, headers={**headers, "last-event-id": "soon"})
    assert bad.status_code == 400


def test_logs_start_from_the_tail_and_a_reconnect_resumes_from_its_last_event(
    records: RunningGateway,
) -> None:
    for x in range(1, 6):
        call(records, "square", x=x)
    path = "/v1/apps/records/functions/square/logs"
    tail = get(records, f"{path}?tail=2&filter=square")["logs"]
    assert [line["line"] for line in tail] == ["square of 4", "square of 5"]
    for bad in ("1001", "0", "-1"):
        assert error_of(records, f"{path}?tail={bad}") == (400, "invalid_request"), bad
    headers = {**admin(records), "accept": "text/event-stream"}
    with httpx.stream("GET", f"{records.url}{path}?tail=1", headers=headers) as stream:
        (last,) = read_events(stream.iter_lines(), 1)
        assert orjson.loads(last["data"])["line"] == "square of 5"
    # A reconnect sends the first URL again, with the last event it saw: that wins.
    call(records, "square", x=6)
    resumed = {**headers, "last-event-id": last["id"]}
    with httpx.stream("GET", f"{records.url}{path}?after_id=0", headers=resumed) as stream:
        (next_line,) = read_events(stream.iter_lines(), 1)
        assert orjson.loads(next_line["data"])["line"] == "square of 6"


def test_a_workspace_has_a_bounded_number_of_live_log_streams(records: RunningGateway) -> None:
    headers = {**admin(records), "accept": "text/event-stream"}
    url = f"{records.url}/v1/apps/records/logs"
    with contextlib.ExitStack() as streams:
        for _ in range(MAX_STREAMS_PER_WORKSPACE):
            stream = streams.enter_context(httpx.stream("GET", url, headers=headers))
            assert stream.status_code == 200
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 429
        assert "live log streams open" in refused.json()["error"]["message"]

    def opens() -> bool:
        with httpx.stream("GET", url, headers=headers) as stream:
            return stream.status_code == 200

    # Closed streams are counted out (the gateway sees each client leave).
    wait_until(opens)


def test_a_log_stream_ends_when_its_token_is_revoked(records: RunningGateway) -> None:
    made = httpx.post(f"{records.url}/v1/tokens", headers=admin(records)).json()
    headers = {
        "authorization": f"Bearer {made['token_id']}:{made['token_secret']}",
        "accept": "text/event-stream",
    }
    url = f"{records.url}/v1/apps/records/logs"
    with httpx.stream("GET", url, headers=headers, timeout=scaled(10)) as stream:
        httpx.delete(f"{records.url}/v1/tokens/{made['token_id']}", headers=admin(records))
        lines = stream.iter_lines()
        (ended,) = read_events(lines, 1)
        assert ended["event"] == "error"
        assert orjson.loads(ended["data"])["error"] == {
            "code": "unauthorized",
            "message": f"the token {made['token_id']} was revoked",
        }
        assert list(lines) == []


def test_an_apps_stats_come_in_one_request(records: RunningGateway) -> None:
    call(records, "square", x=2)
    stats = get(records, "/v1/apps/records/stats")
    assert stats["functions"]["square"] == get(records, "/v1/apps/records/functions/square/stats")
    assert set(stats["functions"]) >= {"square", "fail"}


def test_whoami_names_the_workspace_and_the_token(records: RunningGateway) -> None:
    assert get(records, "/v1/whoami") == {
        "workspace": "main",
        "token_id": records.token.token_id,
        "is_admin": True,
    }
    assert get(records, "/v1/whoami", outsider(records))["workspace"] == "outsiders"
    assert httpx.get(f"{records.url}/v1/whoami").status_code == 401


def test_the_dashboard_is_served_with_strict_headers(records: RunningGateway) -> None:
    for path in ("/", "/dashboard"):
        page = httpx.get(f"{records.url}{path}")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/dashboard/static/js/main.js">' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
    script = httpx.get(f"{records.url}/dashboard/static/js/main.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == page.headers["content-security-policy"]
    # The repository's README.md and pyproject.toml sit one level above static/: never served.
    for missing in (
        "/dashboard/static/nothing.js",
        "/dashboard/static/%2e%2e/README.md",
        "/dashboard/static/..%2fpyproject.toml",
        "/dashboard/static/%2E%2E/%2E%2E/main/README.md",
    ):
        assert httpx.get(f"{records.url}{missing}").status_code == 404, missing
    described = get(records, "/v1/openapi.json")["paths"]
    assert {"/v1/calls", "/v1/calls/{call_id}/details", "/v1/whoami"} <= set(described)
    assert "/v1/apps/{app}/functions/{function}/history" in described
    assert "/v1/apps/{app}/functions/{function}/logs" in described
    assert "/" not in described
    assert "/dashboard" not in described


def test_a_web_endpoint_keeps_its_own_root(records: RunningGateway) -> None:
    port = records.url.rsplit(":", 1)[1]
    by_host = httpx.get(
        f"{records.url}/", headers={"host": f"main--records-later.localhost:{port}"}
    )
    assert by_host.status_code == 202
    assert "content-security-policy" not in by_host.headers
    by_path = httpx.get(f"{records.url}/web/main--records-later/")
    assert by_path.status_code == 202


def test_open_log_streams_end_when_the_gateway_shuts_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended: list[str] = []

    def follow(url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=scaled(30)) as stream:
            for _ in stream.iter_lines():
                pass
        ended.append("cleanly")  # the gateway finished the response; it did not drop it

    with serving_app(tmp_path, monkeypatch, RECORDS_APP) as gateway:
        headers = {**admin(gateway), "accept": "text/event-stream"}
        reader = threading.Thread(
            target=follow, args=(f"{gateway.url}/v1/apps/records/logs", headers)
        )
        reader.start()
        wait_until(lambda: gateway_has_open_stream(gateway))
        stopping = time.monotonic()
    # Shutting down does not wait out the graceful timeout for the stream: it ends it.
    assert time.monotonic() - stopping < GRACEFUL_SHUTDOWN_S
    reader.join(scaled(10))
    assert ended == ["cleanly"]


def gateway_has_open_stream(gateway: RunningGateway) -> bool:
    headers = {**admin(gateway), "accept": "text/event-stream"}
    url = f"{gateway.url}/v1/apps/records/logs"
    opened = []
    with contextlib.ExitStack() as streams:
        for _ in range(MAX_STREAMS_PER_WORKSPACE):
            stream = streams.enter_context(httpx.stream("GET", url, headers=headers))
            opened.append(stream.status_code)
    return 429 in opened
