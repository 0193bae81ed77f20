"""Images on the docker backend: built once per definition from the runner base, with pip, apt,
commands, environment, working directory and local files; a failed build fails the deploy and
leaves the previous version serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wharf as modal
from wharf._apps import deploy_app
from wharf._http import run_flow
from wharf._loader import load_app
from wharf_gateway.server.config import BackendKind

from tests.helpers import RunningGateway, docker_problem, serving_app, write_app

if (problem := docker_problem()) is not None:
    pytest.skip(problem, allow_module_level=True)

IMAGE_APP = """
    from pathlib import Path

    import wharf as modal

    image = (
        modal.Image.debian_slim()
        .pip_install("six==1.17.0")
        .run_commands("echo built-in > /opt/marker")
        .env({"GREETING": "hello from the image"})
        .add_local_file(Path(__file__).parent / "data.txt", "/opt/data.txt")
        .add_local_python_source("helper")
        .workdir("/opt")
    )
    app = modal.App("imaged", image=image)


    @app.function()
    def look() -> dict:
        import os

        import helper
        import six

        return {
            "six": six.__version__,
            "marker": open("/opt/marker").read().strip(),
            "greeting": os.environ["GREETING"],
            "data": open("/opt/data.txt").read(),
            "helper": helper.answer(),
            "cwd": os.getcwd(),
            "uid": os.getuid(),
        }
"""

BROKEN_APP = IMAGE_APP.replace(
    '.run_commands("echo built-in > /opt/marker")',
    '.run_commands("echo built-in > /opt/marker", "echo the build breaks here; exit 3")',
)


@pytest.fixture(scope="module")
def imaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Path]]:
    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("images")
    (tmp_path / "data.txt").write_text("local data")
    (tmp_path / "helper.py").write_text("def answer():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with serving_app(tmp_path, monkeypatch, IMAGE_APP, backend=BackendKind.DOCKER) as gateway:
            yield gateway, tmp_path
    finally:
        monkeypatch.undo()


def test_a_function_runs_in_its_built_image(imaged: tuple[RunningGateway, Path]) -> None:
    facts = modal.Function.from_name("imaged", "look").remote()

    assert facts == {
        "six": "1.17.0",
        "marker": "built-in",
        "greeting": "hello from the image",
        "data": "local data",
        "helper": 42,
        "cwd": "/opt",
        "uid": 1000,
    }


def test_the_same_image_is_not_built_again(imaged: tuple[RunningGateway, Path]) -> None:
    _, folder = imaged
    log: list[str] = []
    again = write_app(folder, IMAGE_APP)  # the same file the fixture deployed
    run_flow(deploy_app(load_app(again), name=None, ephemeral=False, on_log=log.append))

    assert log == []  # nothing to build: the deploy was immediate
    assert modal.Function.from_name("imaged", "look").remote()["six"] == "1.17.0"


def test_a_failed_build_fails_the_deploy_and_the_old_version_serves(
    imaged: tuple[RunningGateway, Path],
) -> None:
    _, folder = imaged
    broken = write_app(folder, BROKEN_APP, stem="broken")
    log: list[str] = []

    with pytest.raises(modal.InvalidError, match="the image build failed") as failed:
        run_flow(deploy_app(load_app(broken), name="imaged", ephemeral=False, on_log=log.append))

    assert "the build breaks here" in str(failed.value)  # the log's tail comes with the error
    assert any("the build breaks here" in line for line in log)  # and was followed live
    assert modal.Function.from_name("imaged", "look").remote()["marker"] == "built-in"


OTHER_BASES_APP = """
    from pathlib import Path

    import wharf as modal

    app = modal.App("other-bases")
    here = Path(__file__).parent


    @app.function(
        image=modal.Image.from_registry("wharf-runner-base:latest").apt_install("jq")
    )
    def from_registry() -> str:
        import subprocess

        return subprocess.run(
            ["jq", "-r", ".a"], input='{"a": "jq ran"}', capture_output=True, text=True
        ).stdout.strip()


    @app.function(
        image=modal.Image.from_dockerfile(here / "Dockerfile", context_dir=here / "context")
    )
    def from_dockerfile() -> str:
        return open("/opt/hello.txt").read()
"""


def test_registry_and_dockerfile_bases_with_apt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "hello.txt").write_text("from the context")
    (tmp_path / "Dockerfile").write_text(
        "FROM wharf-runner-base:latest\nUSER root\nCOPY hello.txt /opt/hello.txt\n"
    )
    with serving_app(tmp_path, monkeypatch, OTHER_BASES_APP, backend=BackendKind.DOCKER):
        assert modal.Function.from_name("other-bases", "from_registry").remote() == "jq ran"
        assert modal.Function.from_name("other-bases", "from_dockerfile").remote() == (
            "from the context"
        )
