"""The app bundle: the app's own source files, zipped reproducibly."""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

#: Our own packages are installed in every container; user bundles never carry them. (A user's
#: own `client.py` or `runner.py` is the user's: it travels like any other module.)
_PLATFORM_PACKAGES = frozenset({"wharf", "wharf_gateway", "wharf_runner"})
_SKIPPED_PARTS = frozenset({"site-packages", "dist-packages", ".venv", "venv", "__pycache__"})
_FIXED_TIMESTAMP = (2020, 1, 1, 0, 0, 0)


def local_source_files(entry_file: Path) -> list[Path]:
    """The entry file plus every imported module that lives beside it (local packages too)."""
    root = entry_file.parent.resolve()
    files = {entry_file.resolve()}
    for module_name, module in list(sys.modules.items()):
        if module_name.partition(".")[0] in _PLATFORM_PACKAGES:
            continue
        filename = getattr(module, "__file__", None)
        if not filename or not filename.endswith(".py"):
            continue
        path = Path(filename).resolve()
        if path.is_relative_to(root) and not _SKIPPED_PARTS.intersection(
            path.relative_to(root).parts
        ):
            files.add(path)
    return sorted(files)


#: Where the files that images add travel in the bundle, by content hash.
IMAGE_FILES_DIR = ".wharf-image-files"


def build_bundle(entry_file: Path, image_files: Mapping[str, Path] | None = None) -> bytes:
    """A zip of the app's source files (and the files its images add, by content hash),
    byte-identical for identical sources."""
    root = entry_file.parent.resolve()
    entries = [(path.relative_to(root).as_posix(), path) for path in local_source_files(entry_file)]
    entries += [
        (f"{IMAGE_FILES_DIR}/{sha}", path) for sha, path in sorted((image_files or {}).items())
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in entries:
            info = zipfile.ZipInfo(name, _FIXED_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
