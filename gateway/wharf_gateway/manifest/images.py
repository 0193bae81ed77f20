"""Image definitions from deploy manifests, turned into Dockerfiles. Pure functions.

A function's `image` option is the client's `Image.to_json()`: a base (`debian_slim`, `registry`,
`dockerfile`) and steps (`pip`, `apt`, `run`, `env`, `workdir`, `copy`). Files the steps copy
travel in the app's bundle under `IMAGE_FILES_DIR/<sha256>`. An image is named by the hash of its
Dockerfile and files, so the same definition is built once and reused by every deploy.
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import zipfile
from typing import Any

from wharf_runner import ImageRecipe

from wharf_gateway.errors import InvalidRequest

#: Where the bundle carries the files images copy, by content hash (the client's name for it).
IMAGE_FILES_DIR = ".wharf-image-files"
#: The runner base image, which `debian_slim()` stands for.
RUNNER_BASE_IMAGE = "wharf-runner-base:latest"
#: What Wharf's runtime needs in an image that did not start from the runner base.
RUNTIME_CHECK = "import cloudpickle, httpx, orjson, uvicorn, uvloop, websockets, hypercorn"
_MAX_DEFINITION_BYTES = 256 * 1024
#: Most bytes of files (once inflated) one image may add.
MAX_FILES_BYTES = 1024**3
_STEP_KEYS = {
    "pip": {"op", "packages", "pre", "index_url", "extra_index_url"},
    "apt": {"op", "packages"},
    "run": {"op", "commands"},
    "env": {"op", "vars"},
    "workdir": {"op", "path"},
    "copy": {"op", "files"},
}


def check_image(definition: object, where: str) -> dict[str, Any]:
    """The definition, checked for shape (not yet for the files it names).

    Raises:
        InvalidRequest: it is not a definition the builder understands.
    """
    if not isinstance(definition, dict) or set(definition) != {"base", "steps"}:
        raise InvalidRequest(f"the image of {where} must be {{'base': ..., 'steps': [...]}}")
    if len(json.dumps(definition)) > _MAX_DEFINITION_BYTES:
        raise InvalidRequest(f"the image of {where} is over {_MAX_DEFINITION_BYTES} bytes")
    base = definition["base"]
    if not isinstance(base, dict) or base.get("kind") not in (
        "debian_slim",
        "registry",
        "dockerfile",
    ):
        raise InvalidRequest(f"the image of {where} has an unknown base {base!r}")
    steps = definition["steps"]
    if not isinstance(steps, list):
        raise InvalidRequest(f"the steps of the image of {where} must be a list")
    for step in steps:
        allowed = _STEP_KEYS.get(str(step.get("op"))) if isinstance(step, dict) else None
        if allowed is None or not set(step) <= allowed:
            raise InvalidRequest(f"the image of {where} has an unknown step {step!r}")
    return definition


def recipe_for(definition: dict[str, Any], bundle: bytes, pip_ca: bytes | None) -> ImageRecipe:
    """The Dockerfile of a checked definition, with its files taken from the bundle.

    Raises:
        InvalidRequest: a file the definition names is not in the bundle.
    """
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = set(archive.namelist())

        read: dict[str, bytes] = {}

        def file(sha256: object, context_path: str | None = None, mode: int = 0o644) -> str:
            """The file's path in the build context (by hash and mode, by default)."""
            name = f"{IMAGE_FILES_DIR}/{sha256}"
            if not isinstance(sha256, str) or name not in names:
                raise InvalidRequest(f"the bundle lacks the image file {sha256!r}")
            path = context_path or f"files/{sha256}-{mode:o}"
            if name not in read:  # each file is inflated once, within a budget
                if sum(map(len, read.values())) + archive.getinfo(name).file_size > MAX_FILES_BYTES:
                    raise InvalidRequest(f"an image's files come to over {MAX_FILES_BYTES} bytes")
                read[name] = archive.read(name)
            files[path] = read[name]
            if mode != 0o644:
                modes[path] = mode
            return path

        lines = _base_lines(definition["base"], file)
        if pip_ca is not None:
            files["pip-ca.pem"] = pip_ca
            lines += [
                "COPY pip-ca.pem /etc/ssl/certs/wharf-pip-ca.pem",
                "ENV PIP_CERT=/etc/ssl/certs/wharf-pip-ca.pem",
            ]
        lines += ["ARG PIP_INDEX_URL", "ARG PIP_EXTRA_INDEX_URL"]
        for step in definition["steps"]:
            lines += _step_lines(step, file)
    lines.append("USER 1000:1000")
    dockerfile = "\n".join(lines) + "\n"
    digest = hashlib.sha256(dockerfile.encode())
    for name in sorted(files):
        digest.update(name.encode() + hashlib.sha256(files[name]).digest())
    return ImageRecipe(f"wharf-image:{digest.hexdigest()[:16]}", dockerfile, files, modes)


def _base_lines(base: dict[str, Any], file: Any) -> list[str]:
    kind = base["kind"]
    if kind == "debian_slim":
        return [f"FROM {RUNNER_BASE_IMAGE}", "USER root"]
    if kind == "registry":
        tag = str(base.get("tag", ""))
        if not tag or any(character.isspace() for character in tag):
            raise InvalidRequest(f"{tag!r} is not an image tag")
        lines = [f"FROM {tag}", "USER root"]
    else:
        for entry in base.get("context", []):
            path = str(entry.get("path", ""))
            if path.startswith("/") or ".." in path.split("/") or path.startswith("files/"):
                raise InvalidRequest(f"a Dockerfile context path must stay inside: {path!r}")
            file(entry.get("sha256"), path)
        lines = [str(base.get("dockerfile", "")).rstrip(), "USER root"]
    # Wharf's runtime goes into any image that lacks it.
    lines.append(
        f'RUN python3 -c "{RUNTIME_CHECK}" 2>/dev/null || python3 -m pip install '
        "--no-cache-dir cloudpickle httpx orjson uvicorn uvloop httptools websockets hypercorn"
        " starlette aiosqlite docker"
    )
    return lines


def _step_lines(step: dict[str, Any], file: Any) -> list[str]:
    op = step["op"]
    if op == "pip":
        options = ["--no-cache-dir"] + (["--pre"] if step.get("pre") else [])
        if step.get("index_url"):
            options += ["--index-url", str(step["index_url"])]
        if step.get("extra_index_url"):
            options += ["--extra-index-url", str(step["extra_index_url"])]
        packages = [str(package) for package in step["packages"]]
        return [f"RUN python3 -m pip install {_quoted(options + packages)}"]
    if op == "apt":
        names = _quoted([str(package) for package in step["packages"]])
        return [
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            f"--no-install-recommends {names} && rm -rf /var/lib/apt/lists/*"
        ]
    if op == "run":
        return [f"RUN {command}" for command in step["commands"]]
    if op == "env":
        return [f"ENV {name}={json.dumps(str(value))}" for name, value in step["vars"].items()]
    if op == "workdir":
        return [f"WORKDIR {json.dumps(str(step['path']))}"]
    lines = []
    for entry in step["files"]:
        target = str(entry.get("path", ""))
        if not target.startswith("/"):
            raise InvalidRequest(f"image paths are absolute: {target!r}")
        source = file(entry.get("sha256"), mode=int(entry.get("mode", 0o644)) & 0o755)
        lines.append(f"COPY {json.dumps([source, target])}")
    return lines


def _quoted(words: list[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)


def recipes_of(
    functions: list[dict[str, Any]], bundle: bytes, pip_ca: bytes | None
) -> dict[str, ImageRecipe]:
    """The recipes of a manifest's images by function name; each function's entry gets its
    image's tag as `image_tag`."""
    recipes: dict[str, ImageRecipe] = {}
    for function in functions:
        if function.get("image") is not None:
            try:
                recipe = recipe_for(function["image"], bundle, pip_ca)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise InvalidRequest(
                    f"the image of function {function['name']!r} is malformed: {exc!r}"
                ) from exc
            function["image_tag"] = recipe.tag
            recipes[str(function["name"])] = recipe
    return recipes
