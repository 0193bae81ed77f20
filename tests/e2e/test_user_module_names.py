"""A user's own modules named like Wharf's folders (`runner.py`, `client.py`, `gateway.py`,
`agent.py`) travel with the app and are the ones its functions import, on both backends."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import wharf as modal
from wharf_gateway.server.config import BackendKind

from tests.helpers import (
    gateway_config,
    point_client_at,
    run_wharf,
    running_gateway,
    unique_name,
)

SIBLINGS = {
    "runner.py": "def train(steps):\n    return f'trained for {steps} steps'\n",
    "client.py": "def greeting():\n    return 'hello from the user client'\n",
    "gateway.py": "def route():\n    return 'the user gateway routes'\n",
    "agent.py": "def describe():\n    return 'the user agent describes'\n",
}

APP = """
    import wharf as modal
    from agent import describe
    from client import greeting
    from gateway import route
    from runner import train

    app = modal.App("{name}")


    @app.function()
    def everything(steps: int) -> list[str]:
        return [train(steps), greeting(), route(), describe()]
"""


def _docker_or_skip() -> None:
    # Skips (or, with WHARF_REQUIRE_DOCKER=1, fails) where the Docker tests cannot run.
    import tests.e2e.test_docker  # noqa: F401


@pytest.mark.parametrize(
    "backend",
    [BackendKind.LOCAL, pytest.param(BackendKind.DOCKER, marks=pytest.mark.docker)],
)
@pytest.mark.timeout(120)
def test_an_app_imports_its_own_runner_client_gateway_and_agent_modules(
    backend: BackendKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend is BackendKind.DOCKER:
        _docker_or_skip()
    source = tmp_path / "source"
    source.mkdir()
    for filename, text in SIBLINGS.items():
        (source / filename).write_text(text)
    name = unique_name("siblings")
    (source / "main.py").write_text(textwrap.dedent(APP.format(name=name)))
    with running_gateway(gateway_config(tmp_path / "data", backend=backend)) as gateway:
        point_client_at(gateway, monkeypatch)
        environment = {
            **gateway.client_environment,
            "WHARF_CONFIG_PATH": str(tmp_path / "no-profile.toml"),
        }
        deployed = run_wharf(["deploy", "main.py"], environment, cwd=source)
        assert deployed.returncode == 0, deployed.stderr
        everything = modal.Function.from_name(name, "everything")
        assert everything.remote(3) == [
            "trained for 3 steps",
            "hello from the user client",
            "the user gateway routes",
            "the user agent describes",
        ]
