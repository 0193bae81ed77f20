"""The image containers run from: the runner base image with Wharf's own code (the agent and the
client library) on top, tagged by a hash of that code, built once per Docker host."""

from __future__ import annotations

import hashlib
import importlib
import io
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from wharf.container import PYTHON_SOURCE_DIR

if TYPE_CHECKING:
    from wharf_runner.backends.docker_engine import DockerEngine

#: The image `deploy/runner-base/` builds: Debian 12, Python 3.11 and the runtime's packages.
DEFAULT_BASE_IMAGE = "wharf-runner-base:latest"
#: Where Wharf's code lives inside containers.
RUNTIME_DIR = "/opt/wharf"
#: The packages containers need, by their folders in the repository (or beside them when installed).
_PACKAGES = ("wharf", "wharf_runner")


def _runtime_files() -> list[tuple[str, Path]]:
    roots = [Path(importlib.import_module(package).__file__ or "").parent for package in _PACKAGES]
    return sorted(
        (str(path.relative_to(root.parent)), path) for root in roots for path in root.rglob("*.py")
    )


def _context(base_image: str, files: list[tuple[str, Path]]) -> bytes:
    dockerfile = (
        f"FROM {base_image}\n"
        "USER root\n"
        f"COPY wharf {RUNTIME_DIR}\n"
        # Bytecode now: the root is read-only in containers, and compiling costs every start.
        f"RUN python3 -m compileall -q {RUNTIME_DIR}\n"
        "USER 1000:1000\n"
        # `add_local_python_source` puts modules in PYTHON_SOURCE_DIR.
        f"ENV PYTHONPATH={RUNTIME_DIR}:{PYTHON_SOURCE_DIR}\n"
        'CMD ["python3", "-m", "wharf_runner"]\n'
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add(archive, "Dockerfile", dockerfile)
        for name, path in files:
            _add(archive, f"wharf/{name}", path.read_bytes())
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def ensure_runtime_image(engine: DockerEngine, base_image: str = DEFAULT_BASE_IMAGE) -> str:
    """The tag of the runtime image on `engine`'s Docker host, built first if missing.

    Raises:
        ImageNotFound: the base image is not there (build it: deploy/runner-base).
        EngineError: the build failed.
    """
    base_id = engine.image_id(base_image)
    files = _runtime_files()
    digest = hashlib.sha256(base_id.encode())
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    tag = f"wharf-runtime:{digest.hexdigest()[:16]}"
    if not engine.has_image(tag):
        engine.build_image(_context(base_image, files), tag, labels={"wharf.managed": "1"})
    return tag
