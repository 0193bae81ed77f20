"""`Image`: the container image a function runs in, defined step by step.

An `Image` is a value: each method returns a new one with one more step. It travels to the gateway
as data (`to_json`) plus the local files it adds, and the gateway's docker backend builds it once
per definition; the `local` backend runs functions in this machine's Python and ignores images.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wharf._errors import InvalidError

#: The Python of the runner base image; `debian_slim()` gives this one.
RUNNER_PYTHON = "3.11"
#: Where `add_local_python_source` puts modules (it is on the containers' `PYTHONPATH`).
PYTHON_SOURCE_DIR = "/opt/app"
_IGNORED_PARTS = frozenset({"__pycache__", ".git", ".venv", "venv", "node_modules"})


@dataclass(frozen=True, slots=True)
class Image:
    """A container image: a base and the steps that build on it.

    Start from `Image.debian_slim()`, `Image.from_registry(tag)` or `Image.from_dockerfile(path)`.
    """

    _base: dict[str, Any]
    #: Steps as given; those adding local files read them only when the app is deployed (in a
    #: container, where the module is imported again, they are never read).
    _steps: tuple[dict[str, Any], ...] = ()

    # Bases

    @staticmethod
    def debian_slim(python_version: str | None = None) -> Image:
        """Debian 12 with Python (the runner base image); only its Python, 3.11, is offered."""
        if python_version is not None and python_version != RUNNER_PYTHON:
            raise InvalidError(
                f"debian_slim() has Python {RUNNER_PYTHON}; for Python {python_version} use "
                f"Image.from_registry('python:{python_version}-slim')"
            )
        return Image({"kind": "debian_slim", "python_version": RUNNER_PYTHON})

    @staticmethod
    def from_registry(tag: str, *, add_python: str | None = None) -> Image:
        """An image from a registry (or one the Docker host already has), by tag. It needs a
        `python3` of its own; Wharf's runtime packages are added to it."""
        if not tag or any(character.isspace() for character in tag):
            raise InvalidError(f"{tag!r} is not an image tag")
        if add_python is not None:
            raise InvalidError("add_python= is not supported: use an image that has Python")
        return Image({"kind": "registry", "tag": tag})

    @staticmethod
    def from_dockerfile(
        path: str | os.PathLike[str], *, context_dir: str | os.PathLike[str] | None = None
    ) -> Image:
        """An image from a Dockerfile; `context_dir` holds the files its COPY steps name. Both
        are read when the app is deployed."""
        context = None if context_dir is None else Path(context_dir)
        return Image({"kind": "dockerfile", "path": Path(path), "context_dir": context})

    # Steps

    def pip_install(
        self,
        *packages: str | Sequence[str],
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
    ) -> Image:
        """Install Python packages with pip."""
        names = _flatten(packages)
        if not names:
            return self
        step = {"op": "pip", "packages": names, "pre": pre}
        if index_url:
            step["index_url"] = index_url
        if extra_index_url:
            step["extra_index_url"] = extra_index_url
        return self._with(step)

    def apt_install(self, *packages: str | Sequence[str]) -> Image:
        """Install Debian packages with apt-get."""
        names = _flatten(packages)
        return self._with({"op": "apt", "packages": names}) if names else self

    def run_commands(self, *commands: str | Sequence[str]) -> Image:
        """Run shell commands (as root) while building."""
        lines = _flatten(commands)
        return self._with({"op": "run", "commands": lines}) if lines else self

    def env(self, vars: dict[str, str]) -> Image:
        """Set environment variables in the image."""
        for name, value in vars.items():
            if not isinstance(name, str) or not name or "=" in name or not isinstance(value, str):
                raise InvalidError(f"env() takes names and string values, not {name!r}={value!r}")
        return self._with({"op": "env", "vars": dict(vars)})

    def workdir(self, path: str | os.PathLike[str]) -> Image:
        """The working directory of what runs in the image from here on."""
        return self._with({"op": "workdir", "path": _absolute(path)})

    def add_local_file(
        self, local_path: str | os.PathLike[str], remote_path: str, *, copy: bool = False
    ) -> Image:
        """Put a file of this machine into the image at `remote_path` (read at deploy; `copy`
        is accepted for the reference's sake: files are always part of the image here)."""
        return self._with({"op": "local_file", "local": Path(local_path), "path": remote_path})

    def add_local_dir(
        self,
        local_path: str | os.PathLike[str],
        remote_path: str,
        *,
        copy: bool = False,
        ignore: Iterable[str] = (),
    ) -> Image:
        """Put a directory of this machine into the image at `remote_path` (read at deploy)."""
        step: dict[str, Any] = {"op": "local_dir", "local": Path(local_path), "path": remote_path}
        return self._with({**step, "ignore": tuple(ignore)})

    def add_local_python_source(self, *modules: str, copy: bool = False) -> Image:
        """Put local Python modules or packages into the image, importable by their names."""
        return self._with({"op": "local_python", "modules": modules})

    # Inside

    def _with(self, step: dict[str, Any]) -> Image:
        return replace(self, _steps=(*self._steps, step))

    def to_json(self) -> dict[str, Any]:
        """The definition the gateway builds from (files by content hash); reads local files.

        Raises:
            InvalidError: a local file, directory, module or Dockerfile cannot be read.
        """
        return self._resolve()[0]

    def local_files(self) -> dict[str, Path]:
        """The local files the definition adds, by content hash."""
        return self._resolve()[1]

    def _resolve(self) -> tuple[dict[str, Any], dict[str, Path]]:
        files: dict[str, Path] = {}

        def entries(pairs: list[tuple[Path, str]]) -> dict[str, Any]:
            listed = []
            for local, target in pairs:
                digest = _file_digest(local)
                files[digest] = local
                mode = local.stat().st_mode & 0o777
                listed.append({"path": _absolute(target), "sha256": digest, "mode": mode})
            return {"op": "copy", "files": listed}

        base = dict(self._base)
        if base["kind"] == "dockerfile":
            base = _dockerfile_base(base["path"], base["context_dir"], files)
        steps = []
        for step in self._steps:
            pairs = _local_pairs(step)
            steps.append(dict(step) if pairs is None else entries(pairs))
        return {"base": base, "steps": steps}, files


def _local_pairs(step: dict[str, Any]) -> list[tuple[Path, str]] | None:
    """The (local file, image path) pairs of a step that adds local files; None for others."""
    op = step["op"]
    if op == "local_file":
        local, target = step["local"], str(step["path"])
        if not local.is_file():
            raise InvalidError(f"{local} is not a file")
        return [(local, target + local.name if target.endswith("/") else target)]
    if op == "local_dir":
        root, skipped = step["local"], set(step["ignore"])
        if not root.is_dir():
            raise InvalidError(f"{root} is not a directory")
        target = str(step["path"]).rstrip("/")
        return [
            (local, f"{target}/{local.relative_to(root).as_posix()}")
            for local in _files_under(root)
            if not skipped.intersection(local.relative_to(root).parts)
        ]
    if op == "local_python":
        pairs: list[tuple[Path, str]] = []
        for module in step["modules"]:
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin is None:
                raise InvalidError(f"no local module named {module!r}")
            origin = Path(spec.origin)
            if spec.submodule_search_locations:  # a package: its whole directory
                root = origin.parent
                pairs += [
                    (local, f"{PYTHON_SOURCE_DIR}/{module}/{local.relative_to(root).as_posix()}")
                    for local in _files_under(root)
                ]
            else:
                pairs.append((origin, f"{PYTHON_SOURCE_DIR}/{origin.name}"))
        return pairs
    return None


def _dockerfile_base(
    path: Path, context_dir: Path | None, files: dict[str, Path]
) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidError(f"cannot read the Dockerfile {path}: {exc}") from exc
    context = []
    if context_dir is not None:
        for local in _files_under(context_dir):
            digest = _file_digest(local)
            files[digest] = local
            context.append({"path": local.relative_to(context_dir).as_posix(), "sha256": digest})
    return {"kind": "dockerfile", "dockerfile": text, "context": context}


def _flatten(items: Iterable[str | Sequence[str]]) -> list[str]:
    flat: list[str] = []
    for item in items:
        if isinstance(item, str):
            flat.append(item)
        else:
            flat.extend(str(part) for part in item)
    for value in flat:
        if not value.strip():
            raise InvalidError("an empty name or command")
    return flat


def _absolute(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if not text.startswith("/"):
        raise InvalidError(f"paths in images are absolute: {text!r}")
    return text


def _files_under(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not _IGNORED_PARTS.intersection(path.relative_to(root).parts)
    )


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
