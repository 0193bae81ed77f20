"""The blob store: content-addressed files under the data dir, for app bundles and payloads too
big for a row.

A payload over `INLINE_PAYLOAD_BYTES` is a blob: stored once by its SHA-256, streamed in and out
in chunks (never whole in the gateway's memory), and readable only by the workspaces that sent
or produced its bytes. This module holds the files; who may read them, and what still names
them, are rows kept by `blob_refs.BlobRefs`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from wharf_gateway.errors import InvalidRequest, PayloadTooLarge
from wharf_gateway.server.config import INLINE_PAYLOAD_BYTES
from wharf_gateway.storage.blob_refs import BlobRefs
from wharf_gateway.storage.database import Database

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Bytes gathered before they are hashed and written, off the event loop.
_WRITE_CHUNK_BYTES = 4 * 1024 * 1024


def check_sha256(sha256: str) -> str:
    """`sha256` if it names a blob (64 lower-case hex digits).

    Raises:
        InvalidRequest: it does not.
    """
    if not _SHA256.match(sha256):
        raise InvalidRequest(
            f"{sha256[:80]!r} is not a blob id: a blob is named by the SHA-256 of its bytes, "
            "64 lower-case hex digits"
        )
    return sha256


def blob_too_large(limit_bytes: int, size: int | None = None) -> PayloadTooLarge:
    what = "the blob" if size is None else f"the blob of {size:,} bytes"
    return PayloadTooLarge(
        limit_bytes,
        f"{what} is over this gateway's limit of {limit_bytes:,} bytes for an argument or "
        "result (--max-blob-mb)",
    )


class BlobStore:
    """Files named by the SHA-256 of their content; written once, atomically."""

    def __init__(self, root: Path, database: Database) -> None:
        self._root = root
        self._refs = BlobRefs(database)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)  # its owner's alone

    def path_of(self, sha256: str) -> Path:
        """Where the file named `sha256` is (a name that is not a SHA-256 is a ValueError: it
        could lead out of the blob folder)."""
        if not _SHA256.match(sha256):
            raise ValueError(f"{sha256[:80]!r} is not a blob name")
        return self._root / sha256[:2] / sha256

    def _put_sync(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_of(sha256)
        if path.exists():
            os.utime(path)  # stored again now: not garbage for another retention
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

    async def offload(
        self, data: bytes | None, workspace_id: str | None = None
    ) -> tuple[bytes | None, str | None]:
        """`(inline, None)` for small data, `(None, sha256)` once large data is stored (and,
        given a workspace, readable by it)."""
        if data is None or len(data) <= INLINE_PAYLOAD_BYTES:
            return data, None
        sha256 = await self.put(data)
        if workspace_id is not None:
            await self.grant(workspace_id, sha256, len(data))
        return None, sha256

    async def load(self, inline: bytes | None, sha256: str | None) -> bytes | None:
        """The inverse of `offload`."""
        if sha256 is not None:
            return await self.get(sha256)
        return inline

    # Blobs sent over the API.

    async def receive(
        self, workspace_id: str, sha256: str, chunks: AsyncIterator[bytes], limit_bytes: int
    ) -> int:
        """Store a blob streamed in as `chunks`, checking that its bytes hash to `sha256`, and
        let the workspace read it; returns its size.

        Raises:
            InvalidRequest: the bytes do not hash to `sha256`.
            PayloadTooLarge: they pass `limit_bytes`.
        """
        path = self.path_of(check_sha256(sha256))
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        file = await asyncio.to_thread(_new_temporary, path.parent)
        digest = hashlib.sha256()
        size = 0
        try:
            pending: list[bytes] = []
            pending_bytes = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > limit_bytes:
                    raise blob_too_large(limit_bytes)
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= _WRITE_CHUNK_BYTES:
                    await asyncio.to_thread(_write_hashed, file, digest, pending)
                    pending, pending_bytes = [], 0
            await asyncio.to_thread(_write_hashed, file, digest, pending)
            await asyncio.to_thread(_finish, file)
            if digest.hexdigest() != sha256:
                raise InvalidRequest(
                    f"the bytes sent hash to {digest.hexdigest()}, not to {sha256}: "
                    "a blob must be sent to the URL named by its SHA-256"
                )
            await asyncio.to_thread(os.replace, file.name, path)
        finally:
            file.close()
            await asyncio.to_thread(_unlink_if_there, file.name)
        await self.grant(workspace_id, sha256, size)
        return size

    async def grant(self, workspace_id: str, sha256: str, size: int) -> None:
        """Let the workspace read the blob (it sent or produced its bytes), from now until
        it goes unused for the retention."""
        await self._refs.grant(workspace_id, sha256, size)

    async def size_of(self, workspace_id: str, sha256: str) -> int | None:
        """The blob's size if the workspace may read it and it is stored; else None."""
        size = await self._refs.size(workspace_id, sha256)
        if size is None or not await asyncio.to_thread(self.path_of(sha256).is_file):
            return None
        return size

    async def claim(self, workspace_id: str, sha256: str) -> int | None:
        """`size_of`, for a blob about to be used (named by a call, or found already sent):
        it is kept for another retention from now."""
        size = await self.size_of(workspace_id, sha256)
        if size is not None:
            await self.grant(workspace_id, sha256, size)
            await asyncio.to_thread(os.utime, self.path_of(sha256))
        return size

    async def collect_garbage(self, unused_since: float) -> int:
        """Forget workspaces' blobs unused since `unused_since`, then delete the files older
        than that which nothing names any more (no workspace, call or function); returns how
        many files were deleted."""
        await self._refs.forget_unused(unused_since)
        named = await self._refs.named()
        return await asyncio.to_thread(self._delete_unnamed, named, unused_since)

    def _delete_unnamed(self, named: set[str], older_than: float) -> int:
        deleted = 0
        for path in self._root.glob("*/*"):
            # Unnamed files include what a crash left half-written.
            if path.name in named:
                continue
            try:
                if path.stat().st_mtime < older_than:
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
        return deleted


def _new_temporary(folder: Path) -> IO[bytes]:
    return tempfile.NamedTemporaryFile(mode="w+b", dir=folder, delete=False)


def _write_hashed(file: IO[bytes], digest: hashlib._Hash, chunks: list[bytes]) -> None:
    for chunk in chunks:
        digest.update(chunk)
        file.write(chunk)


def _finish(file: IO[bytes]) -> None:
    file.flush()
    os.fsync(file.fileno())


def _unlink_if_there(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
