"""The distribution users install: a wheel of this repository in a fresh virtualenv brings the
SDK and the `wharf` command with the SDK's dependencies only, and that alone deploys and calls
an app on a real gateway."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from tests.helpers import REPOSITORY, RunningGateway, scaled

#: Building the wheel and installing it (from the pip cache or an index) takes a while.
pytestmark = pytest.mark.timeout(scaled(240))

APP = """
    import wharf as modal

    app = modal.App("from-the-wheel")


    @app.function()
    def square(x: int) -> int:
        return x * x
"""


def _bare_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what would put the repository's packages in reach."""
    hidden = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    return {
        **{name: value for name, value in os.environ.items() if name not in hidden},
        **(extra or {}),
    }


def _run(
    command: list[str], cwd: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=_bare_environment(extra),
        capture_output=True,
        text=True,
        timeout=scaled(180),
        check=False,
    )


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel of this repository installed, without extras; its bin."""
    folder = tmp_path_factory.mktemp("distribution")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "dist", str(REPOSITORY)],
        folder,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (folder / "dist").glob("wharf-*.whl")
    created = _run([sys.executable, "-m", "venv", "--without-pip", "venv"], folder)
    assert created.returncode == 0, created.stderr
    python = folder / "venv" / "bin" / "python"
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)], folder
    )
    assert installed.returncode == 0, installed.stderr
    return python.parent


def test_the_wheel_brings_the_sdk_and_its_dependencies_only(sdk_venv: Path, tmp_path: Path) -> None:
    helped = _run([str(sdk_venv / "wharf"), "--help"], tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "deploy" in helped.stdout
    probe = textwrap.dedent(
        """
        import importlib.metadata, importlib.util, json
        import wharf

        requirements = importlib.metadata.requires("wharf") or []
        print(json.dumps({
            "sdk": wharf.__file__,
            "importable": {
                name: importlib.util.find_spec(name) is not None
                for name in (
                    "client", "gateway", "runner", "starlette", "hypercorn", "docker", "aiosqlite"
                )
            },
            "required": sorted(r.split("<")[0].split(">")[0] for r in requirements
                               if "extra ==" not in r),
        }))
        """
    )
    probed = _run([str(sdk_venv / "python"), "-c", probe], tmp_path)
    assert probed.returncode == 0, probed.stderr
    found = orjson.loads(probed.stdout)
    assert Path(found["sdk"]).is_relative_to(sdk_venv.parent)
    assert not any(found["importable"].values()), found["importable"]
    assert found["required"] == ["cloudpickle", "httpx", "orjson"]


def test_the_server_commands_ask_for_the_server_extra(sdk_venv: Path, tmp_path: Path) -> None:
    served = _run([str(sdk_venv / "wharf"), "server"], tmp_path)
    assert served.returncode == 1
    assert "pip install 'wharf[server]'" in served.stderr


def test_the_sdk_alone_deploys_an_app_and_calls_it(
    sdk_venv: Path, gateway: RunningGateway, tmp_path: Path
) -> None:
    (tmp_path / "square_app.py").write_text(textwrap.dedent(APP))
    client = {
        **gateway.client_environment,
        "WHARF_CONFIG_PATH": str(tmp_path / "no-profile.toml"),
    }
    deployed = _run([str(sdk_venv / "wharf"), "deploy", "square_app.py"], tmp_path, client)
    assert deployed.returncode == 0, deployed.stderr
    assert "Deployed app 'from-the-wheel'" in deployed.stdout
    call = "import wharf; print(wharf.Function.from_name('from-the-wheel', 'square').remote(12))"
    called = _run([str(sdk_venv / "python"), "-c", call], tmp_path, client)
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == "144"
