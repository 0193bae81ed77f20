"""The rows about blobs: which workspace may read which blob (it sent or produced its bytes),
and which blobs any record still names. The files themselves are `blobs.BlobStore`'s."""

from __future__ import annotations

import time

from wharf_gateway.storage.database import Records

#: Every file something still names: workspaces' blobs, calls' payloads and outputs, bundles.
_NAMED_BLOBS = """
    SELECT sha256 FROM blob_refs
    UNION SELECT payload_sha256 FROM calls WHERE payload_sha256 IS NOT NULL
    UNION SELECT output_pickled_sha256 FROM calls WHERE output_pickled_sha256 IS NOT NULL
    UNION SELECT output_json_sha256 FROM calls WHERE output_json_sha256 IS NOT NULL
    UNION SELECT bundle_sha256 FROM functions
"""


class BlobRefs(Records):
    """Workspaces' rights to read blobs, each kept until it goes unused for the retention."""

    async def grant(self, workspace_id: str, sha256: str, size: int) -> None:
        """Let the workspace read the blob, from now until it goes unused for the retention."""
        await self._db.write(
            [
                (
                    "INSERT INTO blob_refs (workspace_id, sha256, size, used_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id, sha256) "
                    "DO UPDATE SET used_at = excluded.used_at",
                    (workspace_id, sha256, size, time.time()),
                )
            ]
        )

    async def size(self, workspace_id: str, sha256: str) -> int | None:
        """The blob's size if the workspace may read it; else None."""
        row = await self._db.fetch_one(
            "SELECT size FROM blob_refs WHERE workspace_id = ? AND sha256 = ?",
            (workspace_id, sha256),
        )
        return None if row is None else int(row["size"])

    async def forget_unused(self, unused_since: float) -> None:
        """Drop the workspaces' rights to blobs unused since `unused_since`."""
        await self._db.write(
            [("DELETE FROM blob_refs WHERE used_at < ?", (unused_since,))], heavy=True
        )

    async def named(self) -> set[str]:
        """The SHA-256 of every blob a workspace, a call or a function still names (read on
        the reports' connection: it scans whole tables)."""
        rows = await self._db.fetch_all(_NAMED_BLOBS, report=True)
        return {str(row[0]) for row in rows}
