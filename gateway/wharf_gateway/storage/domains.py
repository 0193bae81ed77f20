"""Custom domains and the workspaces they are granted to."""

from __future__ import annotations

import time

from wharf_gateway.models import DomainGrant
from wharf_gateway.storage.database import Records

_GRANT_COLUMNS = (
    "d.host, w.name, d.granted_at FROM domains d JOIN workspaces w ON w.id = d.workspace_id"
)


class DomainStore(Records):
    """Which workspace may serve each custom domain."""

    async def grant_domain(self, host: str, workspace_id: str) -> bool:
        """Grant `host` to the workspace (again, if it holds it already); False when another
        workspace holds it (nothing changes then)."""
        counts = await self._db.write_counting(
            [
                (
                    "INSERT INTO domains (host, workspace_id, granted_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (host) DO UPDATE SET granted_at = excluded.granted_at "
                    "WHERE domains.workspace_id = excluded.workspace_id",
                    (host, workspace_id, time.time()),
                )
            ]
        )
        return counts[0] == 1

    async def domain_holder(self, host: str) -> str | None:
        """The id of the workspace `host` is granted to, if any."""
        row = await self._db.fetch_one("SELECT workspace_id FROM domains WHERE host = ?", (host,))
        return None if row is None else str(row[0])

    async def revoke_domain(self, host: str) -> bool:
        """Take a domain back; its endpoint stops serving at once. Returns whether it was held."""
        held = await self.domain_holder(host) is not None
        await self._db.write(
            [
                ("DELETE FROM domains WHERE host = ?", (host,)),
                ("DELETE FROM endpoints WHERE host = ?", (host,)),
            ]
        )
        return held

    async def domain_grants(self, workspace_id: str | None = None) -> list[DomainGrant]:
        """The grants of one workspace, or of all (`None`), by host."""
        if workspace_id is None:
            rows = await self._db.fetch_all(f"SELECT {_GRANT_COLUMNS} ORDER BY d.host")
        else:
            rows = await self._db.fetch_all(
                f"SELECT {_GRANT_COLUMNS} WHERE d.workspace_id = ? ORDER BY d.host", (workspace_id,)
            )
        return [DomainGrant(str(row[0]), str(row[1]), float(row[2])) for row in rows]
