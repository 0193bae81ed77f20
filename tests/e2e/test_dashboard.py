"""The web dashboard in a real browser (headless Debian Chromium under Playwright) against a real
gateway with a deployed app. Each test saves a screenshot to `test-output/dashboard/`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from playwright.sync_api import Locator, Page, Request, expect
from wharf.frames import pack_frame
from wharf_gateway.server.bootstrap import create_workspace

from tests.helpers import (
    REPOSITORY,
    RunningGateway,
    chromium_browser,
    gateway_config,
    running_gateway,
    scaled,
    serving_app,
    wait_until,
)

#: Where the screenshots go (git-ignored).
SCREENSHOTS = REPOSITORY / "test-output" / "dashboard"
WAIT_MS = scaled(15) * 1000
NARROW = {"width": 375, "height": 740}

DASHBOARD_APP = """
    import os
    import time

    import wharf as modal

    app = modal.App("dash")


    @app.function(max_containers=3)
    @modal.concurrent(max_inputs=4)
    def square(x: int) -> int:
        print(f"squared {x}!")
        return x * x


    @app.function()
    def wait_for(path: str) -> str:
        deadline = time.monotonic() + 60
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.02)
        return "done"


    @app.function()
    def fail(text: str):
        raise ValueError(text)


    @app.function()
    def chatty(count: int) -> int:
        for index in range(count):
            print(f"line {index}")
        return count


    @app.function()
    def outer(x: int) -> int:
        return square.remote(x) + 1


    @app.function()
    @modal.web_endpoint()
    def hello(name: str = "you"):
        return {"hello": name}
"""


@pytest.fixture
def dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    """A gateway with the app `dash` deployed."""
    with serving_app(tmp_path, monkeypatch, DASHBOARD_APP) as gateway:
        yield gateway


@contextmanager
def opened(
    gateway: RunningGateway, request: pytest.FixtureRequest, viewport: dict[str, int] | None = None
) -> Iterator[Page]:
    """A browser page at the dashboard; its screenshot is saved when the block ends, and no
    script error may have happened on it."""
    with chromium_browser() as browser:
        page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        errors: list[Any] = []
        page.on("pageerror", lambda error: errors.append(error))
        page.goto(f"{gateway.url}/")
        try:
            yield page
            assert not errors, errors
        finally:
            save_screenshot(page, request.node.name)


def save_screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, token: str) -> None:
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def signed_in(gateway: RunningGateway, page: Page) -> None:
    sign_in(page, f"{gateway.token.token_id}:{gateway.token.secret}")
    expect(page.get_by_role("navigation", name="Dashboard")).to_be_visible()


def spawn(gateway: RunningGateway, function: str, **kwargs: Any) -> str:
    """Start a call without waiting for it; returns its id."""
    response = httpx.post(
        f"{gateway.url}/v1/apps/dash/functions/{function}/calls",
        content=call_body(**kwargs),
        headers={"authorization": gateway.authorization, "prefer": "respond-async"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["call_id"])


def call_body(**kwargs: Any) -> bytes:
    return orjson.dumps({"kwargs": kwargs})


def spawn_squares(gateway: RunningGateway, count: int) -> list[str]:
    """Start `count` calls of `square` with one request (as `spawn_map` does); their ids."""
    bodies = [call_body(x=x) for x in range(count)]
    response = httpx.post(
        f"{gateway.url}/v1/apps/dash/functions/square/calls/batch",
        content=pack_frame({"sizes": [len(body) for body in bodies], "format": "json"}, bodies),
        headers={"authorization": gateway.authorization},
    )
    assert response.status_code == 202, response.text
    call_ids = [str(call_id) for call_id in response.json()["call_ids"]]
    assert len(call_ids) == count
    return call_ids


def listed_calls(gateway: RunningGateway) -> list[str]:
    """The ids of the workspace's calls, newest first, as the API lists them."""
    response = httpx.get(
        f"{gateway.url}/v1/calls?limit=200", headers={"authorization": gateway.authorization}
    )
    assert response.json()["next_cursor"] is None
    return [str(listed["call_id"]) for listed in response.json()["calls"]]


def call(gateway: RunningGateway, function: str, **kwargs: Any) -> Any:
    response = httpx.post(
        f"{gateway.url}/v1/apps/dash/functions/{function}/calls",
        json={"kwargs": kwargs},
        headers={"authorization": gateway.authorization},
        timeout=scaled(30),
    )
    return response.json()


def new_token(gateway: RunningGateway, **body: Any) -> tuple[str, str]:
    made = httpx.post(
        f"{gateway.url}/v1/tokens", json=body, headers={"authorization": gateway.authorization}
    ).json()
    return made["token_id"], made["token_secret"]


def has_no_horizontal_overflow(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def expect_call_graph(page: Page) -> None:
    """The call page has drawn its call graph too (it is read after the call)."""
    expect(page.locator("section.graph ul.tree")).to_be_visible()


def is_inside(inner: Locator, outer: Locator) -> bool:
    box, frame = inner.bounding_box(), outer.bounding_box()
    assert box is not None
    assert frame is not None
    return (
        frame["x"] <= box["x"]
        and box["x"] + box["width"] <= frame["x"] + frame["width"]
        and frame["y"] <= box["y"]
        and box["y"] + box["height"] <= frame["y"] + frame["height"]
    )


def log_requests(page: Page) -> list[dict[str, list[str]]]:
    """The query of each request the page makes for logs, in order, as they are made."""
    queries: list[dict[str, list[str]]] = []

    def record(sent: Request) -> None:
        address = urlsplit(sent.url)
        if address.path.endswith("/logs"):
            queries.append(parse_qs(address.query))

    page.on("request", record)
    return queries


def test_signing_in_shows_the_deployed_app_and_its_functions(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        row = page.locator("tr[data-app=dash]")
        expect(row).to_contain_text("deployed")
        expect(row).to_contain_text("v1")
        # The token is kept in this tab's session storage, and never appears in a URL.
        assert dashboard.token.secret not in page.url
        stored = page.evaluate("sessionStorage.getItem('wharf-dashboard-token')")
        assert stored == f"{dashboard.token.token_id}:{dashboard.token.secret}"
        row.get_by_role("link", name="dash").click()
        square = page.locator("[data-function=square]")
        expect(square).to_contain_text("4 inputs per container")
        expect(square.locator("dl.options")).to_contain_text("Max containers3")
        expect(square.locator("[data-live=on] [data-stat=backlog]")).to_have_text("0")
        web = page.locator("[data-function=hello] .web-url a")
        port = dashboard.url.rsplit(":", 1)[1]
        expect(web).to_have_attribute("href", f"http://main--dash-hello.localhost:{port}")


def test_live_stats_update_without_a_reload(
    dashboard: RunningGateway, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    with opened(dashboard, request) as page:
        asked: list[str] = []
        page.on("request", lambda sent: asked.append(sent.url))
        signed_in(dashboard, page)
        page.goto(f"{dashboard.url}/#/apps/dash")
        running = page.locator("[data-function=wait_for] [data-stat=running]")
        expect(running).to_have_text("0")
        spawn(dashboard, "wait_for", path=str(release))
        expect(running).to_have_text("1")
        expect(page.locator("[data-function=wait_for] [data-stat=containers]")).to_have_text(
            "1 busy / 1"
        )
        release.touch()
        expect(running).to_have_text("0")
    # One request a refresh for the whole app, not one per function.
    assert any(url.endswith("/v1/apps/dash/stats") for url in asked)
    assert not [url for url in asked if url.endswith("/stats") and "/functions/" in url]


def test_a_call_appears_running_and_then_finishes(
    dashboard: RunningGateway, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        page.get_by_role("link", name="Calls").click()
        expect(page.get_by_text("No calls yet.")).to_be_visible()
        call_id = spawn(dashboard, "wait_for", path=str(release))
        row = page.locator(f"tr[data-call-id={call_id}]")
        expect(row).to_have_attribute("data-status", "running")
        expect(row).to_contain_text("dash / wait_for")
        release.touch()
        expect(row).to_have_attribute("data-status", "success")
        row.get_by_role("link", name=call_id).click()
        expect(page.locator("pre.value")).to_have_text('"done"')
        details = page.locator("dl.details")
        expect(details).to_contain_text("Attempts1")
        size = len(call_body(path=str(release)))
        expect(details).to_contain_text(f"Argumentsjson, {size} B")
        expect_call_graph(page)


def test_a_running_call_is_cancelled_from_its_page(
    dashboard: RunningGateway, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    call_id = spawn(dashboard, "wait_for", path=str(tmp_path / "never"))
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        page.goto(f"{dashboard.url}/#/calls/{call_id}")
        head = page.locator("header.page-head")
        expect(head).to_have_attribute("data-status", "running")
        # The graph says what the header says (the store alone knows the call as pending).
        root = page.locator("ul.tree > li > .badge")
        expect(root).to_have_text("running")
        head.get_by_role("button", name="Cancel").click()
        expect(head).to_have_attribute("data-status", "cancelled")
        expect(page.locator("section.error")).to_contain_text("call_cancelled")
        expect(root).to_have_text("cancelled")
    answer = httpx.get(
        f"{dashboard.url}/v1/calls/{call_id}", headers={"authorization": dashboard.authorization}
    )
    assert answer.status_code == 409


def test_a_failed_call_shows_its_traceback_as_text_and_its_call_graph(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    hostile = "<img src=x onerror=window.pwned=1>"
    failed = spawn(dashboard, "fail", text=hostile)
    parent = spawn(dashboard, "outer", x=3)
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        page.goto(f"{dashboard.url}/#/calls/{failed}")
        expect(page.locator("pre.traceback")).to_contain_text(f"ValueError: {hostile}")
        expect(page.locator("section.error p")).to_contain_text(hostile)
        # Rendered as text: the markup never became an element, its handler never ran.
        assert page.locator("main img").count() == 0
        assert page.evaluate("window.pwned") is None
        page.goto(f"{dashboard.url}/#/calls/{parent}")
        expect(page.locator("pre.value")).to_have_text("10")
        child = page.locator("ul.tree li li")
        expect(child).to_contain_text("square")
        expect(child.locator(".badge")).to_have_text("success")
        child.get_by_role("link").click()
        expect(page.locator("dl.details")).to_contain_text(f"Called from{parent}")
        expect_call_graph(page)


def test_logs_stream_live_and_filter(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        page.goto(f"{dashboard.url}/#/logs/dash/square")
        expect(page.locator(".live-state")).to_have_text("live")
        expect(page.get_by_text("No log lines yet.")).to_be_visible()
        lines = page.locator(".log-line .log-text")
        call(dashboard, "square", x=7)
        call(dashboard, "square", x=8)
        expect(lines).to_have_text(["squared 7!", "squared 8!"])
        page.get_by_label("Filter").fill("SQUARED 7")
        expect(lines).to_have_text(["squared 7!"])
        # Lines that come later are filtered too; the 8 comes first, then a 7 shows alone.
        call(dashboard, "square", x=8)
        call(dashboard, "square", x=7)
        expect(lines).to_have_text(["squared 7!", "squared 7!"])
        page.get_by_label("Filter").fill("")
        expect(lines).to_have_count(4)


def test_logs_ask_for_the_tail_and_keep_the_last_lines_in_batches(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    with opened(dashboard, request) as page:
        queries = log_requests(page)
        signed_in(dashboard, page)
        page.goto(f"{dashboard.url}/#/logs/dash/chatty")
        expect(page.locator(".live-state")).to_have_text("live")
        # Only the last lines, never the days of lines the gateway keeps.
        assert queries == [{"tail": ["500"]}]
        call(dashboard, "chatty", count=2500)
        lines = page.locator(".log-line .log-text")
        expect(lines.last).to_have_text("line 2499")
        # At most 2,000 lines stay on the page, the newest; the view follows the end.
        expect(lines).to_have_count(2000)
        expect(lines.first).to_have_text("line 500")
        follows = "(log) => log.scrollHeight - log.scrollTop - log.clientHeight < 2"
        page.wait_for_function(f"({follows})(document.querySelector('.log'))")


def test_logs_reconnect_after_the_gateway_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    with ExitStack() as second, ExitStack() as first:
        gateway = first.enter_context(serving_app(tmp_path, monkeypatch, DASHBOARD_APP))
        with opened(gateway, request) as page:
            queries = log_requests(page)
            signed_in(gateway, page)
            page.goto(f"{gateway.url}/#/logs/dash/square")
            state = page.locator(".live-state")
            expect(state).to_have_text("live")
            lines = page.locator(".log-line .log-text")
            call(gateway, "square", x=7)
            expect(lines).to_have_text(["squared 7!"])
            first.close()
            # The page says so, and is never left saying "live" on a dead stream.
            expect(state).to_have_attribute("data-state", "unreachable")
            expect(page.locator("#banner")).to_contain_text("Cannot reach the gateway")
            # The same gateway again: same address, same data.
            port = urlsplit(gateway.url).port
            assert port is not None
            again = replace(gateway.config, port=port)
            second.enter_context(running_gateway(again, token=gateway.token))
            expect(state).to_have_text("live")
            expect(page.locator("#banner")).to_be_hidden()
            call(gateway, "square", x=8)
            # Resumed from the last line seen: nothing twice, nothing lost.
            expect(lines).to_have_text(["squared 7!", "squared 8!"])
            last_seen = page.locator(".log-line").first.get_attribute("data-id")
            assert queries[0] == {"tail": ["500"]}
            assert queries[-1] == {"after_id": [last_seen]}


def test_tokens_are_created_and_revoked(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        page.get_by_role("link", name="Tokens").click()
        expect(page.locator(f"tr[data-token-id={dashboard.token.token_id}]")).to_contain_text(
            "this session"
        )
        page.get_by_role("button", name="Create token").click()
        secret = page.locator("code.secret")
        expect(secret).to_be_visible()
        token_id = secret.get_attribute("data-token-id")
        made = secret.inner_text()
        assert made.startswith(f"{token_id}:")
        headers = {"authorization": f"Bearer {made}"}
        assert httpx.get(f"{dashboard.url}/v1/apps", headers=headers).status_code == 200
        row = page.locator(f"tr[data-token-id={token_id}]")
        expect(row).to_have_attribute("data-state", "active")
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        expect(row).to_have_attribute("data-state", "revoked")
    assert httpx.get(f"{dashboard.url}/v1/apps", headers=headers).status_code == 401


def test_a_revoked_or_expired_token_signs_out_with_the_reason(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    revoked_id, revoked_secret = new_token(dashboard)
    expired_id, expired_secret = new_token(dashboard, expires_in=1)

    def has_expired() -> bool:
        headers = {"authorization": f"Bearer {expired_id}:{expired_secret}"}
        return httpx.get(f"{dashboard.url}/v1/apps", headers=headers).status_code == 401

    wait_until(has_expired)
    with opened(dashboard, request) as page:
        message = page.locator("#sign-in-message")
        sign_in(page, f"{expired_id}:{expired_secret}")
        expect(message).to_contain_text(f"the token {expired_id} expired at")
        sign_in(page, f"WHARF_TOKEN_ID={revoked_id}\nWHARF_TOKEN_SECRET={revoked_secret}")
        expect(page.locator("tr[data-app=dash]")).to_be_visible()
        httpx.delete(
            f"{dashboard.url}/v1/tokens/{revoked_id}",
            headers={"authorization": dashboard.authorization},
        )
        expect(message).to_contain_text(f"the token {revoked_id} was revoked")
        expect(page.get_by_label("Token")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('wharf-dashboard-token')") is None
        sign_in(page, "not a token")
        expect(message).to_contain_text("That is not a token")


def test_an_unreachable_gateway_is_reported(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with ExitStack() as stack:
        gateway_stack = stack.enter_context(ExitStack())
        gateway = gateway_stack.enter_context(running_gateway(gateway_config(tmp_path / "data")))
        page = stack.enter_context(opened(gateway, request))
        signed_in(gateway, page)
        page.get_by_role("link", name="Calls").click()
        expect(page.get_by_text("No calls yet.")).to_be_visible()
        gateway_stack.close()
        expect(page.locator("#banner")).to_contain_text("Cannot reach the gateway")


def test_older_calls_reach_every_call_while_new_ones_come(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    spawn_squares(dashboard, 3)
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        page.get_by_role("link", name="Calls").click()
        rows = page.locator("table.calls tbody tr")
        expect(rows).to_have_count(3)
        older = page.get_by_role("button", name="Older calls")
        expect(older).to_be_hidden()
        # More than a page comes after the page was opened: the rest is one click away.
        newest = spawn_squares(dashboard, 60)[-1]
        expect(rows.first).to_have_attribute("data-call-id", newest)
        expect(rows).to_have_count(50)
        older.click()
        expect(rows).to_have_count(63)
        expect(older).to_be_hidden()
        # With the older page shown, another burst pushes rows out of the first page: they stay
        # listed between the new calls and the older page.
        newest = spawn_squares(dashboard, 60)[-1]
        expect(rows.first).to_have_attribute("data-call-id", newest)
        expect(rows).to_have_count(123)
        shown = [row.get_attribute("data-call-id") for row in rows.all()]
        assert shown == listed_calls(dashboard)
        expect(older).to_be_hidden()


def test_a_refused_refresh_says_why_and_clears_when_one_succeeds(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # A small budget: the sign-in and the apps fit in it, then the test spends the rest.
    config = gateway_config(tmp_path / "data", rate_limit_per_s=0.5, rate_burst_s=8)
    with running_gateway(config) as gateway, opened(gateway, request) as page:
        signed_in(gateway, page)
        expect(page.get_by_text("No apps in this workspace yet.")).to_be_visible()

        def is_refused() -> bool:
            headers = {"authorization": gateway.authorization}
            return httpx.get(f"{gateway.url}/v1/whoami", headers=headers).status_code == 429

        wait_until(is_refused)
        page.get_by_role("link", name="Calls").click()
        notice = page.locator(".refresh-notice", has_text="the calls")
        expect(notice).to_have_text(
            re.compile(
                r"^Could not load the calls: the workspace is over its rate limit.*\(retrying\)$"
            )
        )
        expect(page.get_by_text("Loading calls…")).to_be_visible()
        save_screenshot(page, f"{request.node.name}-refused")
        expect(page.get_by_text("No calls yet.")).to_be_visible()
        expect(page.get_by_label("Status")).to_be_visible()
        expect(page.locator(".refresh-notice:visible")).to_have_count(0)


def test_empty_workspace_shows_what_to_do(
    gateway: RunningGateway, request: pytest.FixtureRequest
) -> None:
    with opened(gateway, request) as page:
        signed_in(gateway, page)
        expect(page.get_by_text("No apps in this workspace yet.")).to_be_visible()
        expect(page.get_by_text("wharf deploy app.py")).to_be_visible()
        page.get_by_role("link", name="Calls").click()
        expect(page.get_by_text("No calls yet.")).to_be_visible()
        page.goto(f"{gateway.url}/#/apps/nothing-here")
        expect(page.get_by_text("No live app nothing-here.")).to_be_visible()
        page.goto(f"{gateway.url}/#/calls/fc-{'0' * 32}")
        expect(page.get_by_text("in this workspace.")).to_be_visible()


def test_the_function_chart_shows_the_last_hour(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    for x in range(3):
        call(dashboard, "square", x=x)
    with opened(dashboard, request) as page:
        signed_in(dashboard, page)
        page.goto(f"{dashboard.url}/#/apps/dash")
        chart = page.locator("[data-function=square] svg.chart")
        expect(chart).to_have_attribute("aria-label", "3 calls in the last hour")
        assert chart.locator("rect.bar").count() == 60
        counts = [
            int(bar.get_attribute("data-calls") or 0) for bar in chart.locator("rect.bar").all()
        ]
        assert sum(counts) == 3
        assert chart.locator("circle.dot.p50").count() >= 1
        assert chart.locator("circle.dot.p99").count() >= 1
        idle = page.locator("[data-function=hello] svg.chart")
        expect(idle).to_have_attribute("aria-label", "0 calls in the last hour")


def test_a_narrow_screen_never_scrolls_sideways(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    failed = spawn(dashboard, "fail", text="a long message " * 20)
    call(dashboard, "square", x=12)
    pages = [
        ("apps", "apps", "tr[data-app=dash]"),
        ("app", "apps/dash", "[data-function=square] svg.chart"),
        ("calls", "calls", f"tr[data-call-id={failed}]"),
        ("call", f"calls/{failed}", "section.graph ul.tree"),
        ("logs", "logs/dash", ".log-line"),
        ("tokens", "tokens", "tr[data-token-id]"),
    ]
    with opened(dashboard, request, viewport=NARROW) as page:
        signed_in(dashboard, page)
        for name, place, ready in pages:
            page.goto(f"{dashboard.url}/#/{place}")
            expect(page.locator(ready).first).to_be_visible()
            assert has_no_horizontal_overflow(page), place
            save_screenshot(page, f"{request.node.name}-{name}")
        # The chart's scales are read whole: no label runs past the card or the screen.
        page.goto(f"{dashboard.url}/#/apps/dash")
        card = page.locator("[data-function=square]")
        labels = card.locator(".chart-frame .scale span")
        expect(labels).to_have_count(5)  # calls per minute, 0, the longest duration, two times
        expect(labels.nth(2)).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
        screen = page.locator("body")
        for label in labels.all():
            assert is_inside(label, card), label.inner_text()
            assert is_inside(label, screen), label.inner_text()
        assert is_inside(card.locator("svg.chart"), card)


def test_a_page_of_another_workspace_sees_nothing_of_this_one(
    dashboard: RunningGateway, request: pytest.FixtureRequest
) -> None:
    other = asyncio.run(create_workspace(dashboard.config, "elsewhere"))
    call_id = spawn(dashboard, "fail", text="private")
    with opened(dashboard, request) as page:
        sign_in(page, f"{other.token_id}:{other.secret}")
        expect(page.locator("#workspace")).to_have_text("workspace elsewhere")
        expect(page.get_by_text("No apps in this workspace yet.")).to_be_visible()
        page.goto(f"{dashboard.url}/#/calls/{call_id}")
        expect(page.get_by_text(f"No call {call_id} in this workspace.")).to_be_visible()
