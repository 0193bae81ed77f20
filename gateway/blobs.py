"""Content-addressed files under the data dir: app bundles and payloads too big for a row."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from gateway.config import INLINE_PAYLOAD_BYTES


class BlobStore:
    """Files named by the SHA-256 of their content; written once, atomically."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        return self._root / sha256[:2] / sha256

    def _put_sync(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_of(sha256)
        if path.exists():
            return sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(file.name, path)
        return sha256

    async def put(self, data: bytes) -> str:
        """Store `data`; returns its SHA-256 (hex), which names it from now on."""
        return await asyncio.to_thread(self._put_sync, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path_of(sha256).read_bytes)

    async def offload(self, data: bytes | None) -> tuple[bytes | None, str | None]:
        """`(inline, None)` for small data, `(None, sha256)` once large data is stored."""
        if data is None or len(data) <= INLINE_PAYLOAD_BYTES:
            return data, None
        return None, await self.put(data)

    async def load(self, inline: bytes | None, sha256: str | None) -> bytes | None:
        """The inverse of `offload`."""
        if sha256 is not None:
            return await self.get(sha256)
        return inline
