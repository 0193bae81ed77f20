"""Image definitions into Dockerfiles: checked shapes, quoting, files from the bundle."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.images import (
    IMAGE_FILES_DIR,
    RUNNER_BASE_IMAGE,
    check_image,
    recipe_for,
    recipes_of,
)


def bundle_with(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
        for sha, data in files.items():
            archive.writestr(f"{IMAGE_FILES_DIR}/{sha}", data)
    return buffer.getvalue()


def definition(*steps: Any, base: Any = None) -> dict[str, Any]:
    return {"base": base or {"kind": "debian_slim", "python_version": "3.11"}, "steps": list(steps)}


def test_steps_become_dockerfile_lines_with_quoting() -> None:
    recipe = recipe_for(
        definition(
            {"op": "pip", "packages": ["six", "a b"], "pre": True, "index_url": "https://x/simple"},
            {"op": "apt", "packages": ["curl"]},
            {"op": "run", "commands": ["echo hi"]},
            {"op": "env", "vars": {"GREETING": 'say "hi"'}},
            {"op": "workdir", "path": "/srv"},
        ),
        bundle_with({}),
        None,
    )
    lines = recipe.dockerfile.splitlines()

    assert lines[0] == f"FROM {RUNNER_BASE_IMAGE}"
    assert (
        "RUN python3 -m pip install --no-cache-dir --pre --index-url https://x/simple six 'a b'"
        in lines
    )
    assert any(line.startswith("RUN apt-get update") and " curl " in line for line in lines)
    assert "RUN echo hi" in lines
    assert 'ENV GREETING="say \\"hi\\""' in lines
    assert 'WORKDIR "/srv"' in lines
    assert lines[-1] == "USER 1000:1000"
    assert recipe.tag.startswith("wharf-image:")


def test_the_tag_follows_the_definition_and_the_files() -> None:
    one = recipe_for(definition({"op": "run", "commands": ["true"]}), bundle_with({}), None)
    same = recipe_for(definition({"op": "run", "commands": ["true"]}), bundle_with({}), None)
    other = recipe_for(definition({"op": "run", "commands": ["false"]}), bundle_with({}), None)
    with_ca = recipe_for(definition({"op": "run", "commands": ["true"]}), bundle_with({}), b"CA")

    assert one.tag == same.tag
    assert len({one.tag, other.tag, with_ca.tag}) == 3
    assert with_ca.files["pip-ca.pem"] == b"CA"


def test_copied_files_come_from_the_bundle_with_their_modes() -> None:
    step = {"op": "copy", "files": [{"path": "/opt/run.sh", "sha256": "abc", "mode": 0o755}]}
    recipe = recipe_for(definition(step), bundle_with({"abc": b"#!/bin/sh\n"}), None)

    assert 'COPY ["files/abc-755", "/opt/run.sh"]' in recipe.dockerfile
    assert recipe.files["files/abc-755"] == b"#!/bin/sh\n"
    assert recipe.modes == {"files/abc-755": 0o755}
    with pytest.raises(InvalidRequest, match="lacks the image file"):
        recipe_for(definition(step), bundle_with({}), None)


def test_other_bases_get_the_runtime_added() -> None:
    registry = recipe_for(
        definition(base={"kind": "registry", "tag": "python:3.12-slim"}), bundle_with({}), None
    )
    dockerfile_base = {
        "kind": "dockerfile",
        "dockerfile": "FROM python:3.12-slim\nCOPY a.txt /a.txt",
        "context": [{"path": "a.txt", "sha256": "f00"}],
    }
    from_file = recipe_for(definition(base=dockerfile_base), bundle_with({"f00": b"a"}), None)

    assert registry.dockerfile.startswith("FROM python:3.12-slim\nUSER root\nRUN python3 -c")
    assert from_file.files["a.txt"] == b"a"
    escaping = {**dockerfile_base, "context": [{"path": "../etc/passwd", "sha256": "f00"}]}
    with pytest.raises(InvalidRequest, match="must stay inside"):
        recipe_for(definition(base=escaping), bundle_with({"f00": b"a"}), None)


@pytest.mark.parametrize(
    "bad",
    [
        "an image",
        {"base": {"kind": "debian_slim"}},
        {"base": {"kind": "scratch"}, "steps": []},
        {"base": {"kind": "debian_slim"}, "steps": {}},
        {"base": {"kind": "debian_slim"}, "steps": [{"op": "format_disk"}]},
        {"base": {"kind": "debian_slim"}, "steps": [{"op": "run", "commands": [], "x": 1}]},
    ],
)
def test_malformed_definitions_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        check_image(bad, "function 'f'")


def test_each_function_gets_its_image_tag() -> None:
    functions: list[dict[str, Any]] = [
        {"name": "a", "image": definition()},
        {"name": "b", "image": None},
    ]
    recipes = recipes_of(functions, bundle_with({}), None)

    assert list(recipes) == ["a"]
    assert functions[0]["image_tag"] == recipes["a"].tag
    assert "image_tag" not in functions[1]


@pytest.mark.parametrize(
    "step",
    [
        {"op": "pip", "packages": 7},
        {"op": "env", "vars": ["A=1"]},
        {"op": "copy", "files": [{"path": "/x", "sha256": "abc", "mode": "rwx"}]},
        {"op": "run"},
    ],
)
def test_malformed_steps_are_a_bad_request(step: dict[str, Any]) -> None:
    functions: list[dict[str, Any]] = [{"name": "f", "image": definition(step)}]
    with pytest.raises(InvalidRequest, match="malformed"):
        recipes_of(functions, bundle_with({"abc": b"x"}), None)
