"""Test helpers: a real gateway in a thread, app files, and waiting on conditions."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from wharf._http import close_connections, run_flow
from wharf_gateway.server.bootstrap import NewToken, first_start
from wharf_gateway.server.config import Config, HttpServer
from wharf_gateway.server.serve import serve
from wharf_runner.backends.runtime_image import DEFAULT_BASE_IMAGE

#: Scales every timeout in the suite (raise it on a slow machine: WHARF_TEST_TIME_SCALE=3).
TEST_TIME_SCALE = float(os.environ.get("WHARF_TEST_TIME_SCALE", "1"))
REPOSITORY = Path(__file__).resolve().parent.parent
#: Debian's Chromium: Playwright drives it (its own browser download cannot work here).
CHROMIUM = "/usr/bin/chromium"


def scaled(seconds: float) -> float:
    return seconds * TEST_TIME_SCALE


def wait_until(
    condition: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.02
) -> Any:
    """Poll `condition` until it returns something truthy, or fail after the deadline."""
    deadline = time.monotonic() + scaled(timeout_s)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {scaled(timeout_s)} s")
        time.sleep(interval_s)


@dataclass(frozen=True)
class RunningGateway:
    """A gateway serving on loopback, with the first token of workspace `main`."""

    url: str
    config: Config
    token: NewToken

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token.token_id}:{self.token.secret}"

    @property
    def client_environment(self) -> dict[str, str]:
        return {
            "WHARF_SERVER_URL": self.url,
            "WHARF_TOKEN_ID": self.token.token_id,
            "WHARF_TOKEN_SECRET": self.token.secret,
        }


def gateway_config(data_dir: Path, **overrides: Any) -> Config:
    config = Config(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        runner_environment=dict(os.environ),
        sweep_interval_s=0.1,
        http_server=HttpServer(os.environ.get("WHARF_TEST_HTTP_SERVER", "auto")),
    )
    return replace(config, **overrides)


@contextmanager
def running_gateway(
    config: Config, verify: ssl.SSLContext | bool = True, token: NewToken | None = None
) -> Iterator[RunningGateway]:
    """Serve `config` on a thread of its own until the block ends (`verify`: the CA bundle to
    check an HTTPS gateway's certificate with). `token`: the first token of a data dir that a
    gateway served before, to serve it again (no first start then: it needs no asyncio loop on
    this thread, so a browser may be open)."""
    if token is None:
        token = asyncio.run(first_start(config))
    assert token is not None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    listening: list[str] = []
    failure: list[BaseException] = []

    async def main() -> None:
        await serve(config, shutdown_trigger=stop.wait, on_listening=listening.append)

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="wharf-test-gateway", daemon=True)
    thread.start()
    wait_until(lambda: listening or failure)
    if failure:
        raise failure[0]
    gateway = RunningGateway(listening[0], config, token)
    import httpx

    wait_until(lambda: _is_healthy(httpx, gateway.url, verify))
    try:
        yield gateway
    finally:
        # A kept-alive TLS connection would hold the server's shutdown (asyncio waits for the
        # peer's close_notify), so this process lets go of its own first.
        close_connections()
        loop.call_soon_threadsafe(stop.set)
        thread.join(scaled(20))


def _is_healthy(httpx: Any, url: str, verify: ssl.SSLContext | bool) -> bool:
    try:
        return bool(httpx.get(f"{url}/v1/health", timeout=1, verify=verify).status_code == 200)
    except httpx.TransportError:
        return False


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """Headless Chromium under Playwright's sync API; skips the test where it is not installed.
    Start it after anything that runs an asyncio loop on this thread (a gateway's first start):
    Playwright keeps a loop of its own running here while the browser is open."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


def write_app(folder: Path, source: str, stem: str = "app") -> Path:
    """Write an app file with a unique module name (modules are imported in the test process)."""
    path = folder / f"{stem}_{uuid.uuid4().hex[:8]}.py"
    path.write_text(textwrap.dedent(source))
    return path


def docker_problem() -> str | None:
    """Why the Docker tests cannot run here, or None; with `WHARF_REQUIRE_DOCKER=1` a reason is
    an error instead."""
    problem = _why_not_docker()
    if problem is not None and os.environ.get("WHARF_REQUIRE_DOCKER") == "1":
        raise RuntimeError(problem)
    return problem


def _why_not_docker() -> str | None:
    try:
        import docker

        client = docker.from_env()
        try:
            client.images.get(DEFAULT_BASE_IMAGE)
        finally:
            client.close()
    except Exception as exc:
        return f"Docker or the runner base image is not available: {exc}"
    return None


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _run(
    args: list[str], environment: dict[str, str], cwd: Path | None, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **environment},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=scaled(timeout_s),
        check=False,
    )


def run_python(
    code: str, environment: dict[str, str], cwd: Path | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh process, as a user's other program would."""
    return _run(["-c", textwrap.dedent(code)], environment, cwd, timeout_s)


def run_wharf(
    args: list[str], environment: dict[str, str], cwd: Path | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the `wharf` command line."""
    return _run(["-m", "wharf", *args], environment, cwd, timeout_s)


def deploy_file(path: Path, name: str | None = None) -> str:
    """Deploy an app file with the client library of this process; returns the app id."""
    from wharf._apps import deploy_app
    from wharf._loader import load_app

    return run_flow(deploy_app(load_app(path), name=name, ephemeral=False)).app_id


@contextmanager
def serving_app(
    tmp_path: Path, monkeypatch: Any, source: str, **overrides: Any
) -> Iterator[RunningGateway]:
    """A gateway of the test's own (`gateway_config` with `overrides`) with `source` deployed,
    and this process's client pointed at it."""
    with running_gateway(gateway_config(tmp_path / "data", **overrides)) as gateway:
        point_client_at(gateway, monkeypatch)
        deploy_file(write_app(tmp_path, source))
        yield gateway


def point_client_at(gateway: RunningGateway, monkeypatch: Any) -> None:
    """Make the client library of this process talk to `gateway` for the rest of the test."""
    for name, value in gateway.client_environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WHARF_CONFIG_PATH", str(gateway.config.data_dir / "no-profile.toml"))
