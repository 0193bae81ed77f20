"""The app bundle: the app's own source files, zipped reproducibly."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

#: Our own packages are installed in every container; user bundles never carry them.
_PLATFORM_PACKAGES = frozenset({"client", "runner", "gateway"})
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


def build_bundle(entry_file: Path) -> bytes:
    """A zip of the app's source files, byte-identical for identical sources."""
    root = entry_file.parent.resolve()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in local_source_files(entry_file):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), _FIXED_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
