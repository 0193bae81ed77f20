"""Workspaces, their own rate limits, and their tokens (stored as digests, never as secrets)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable
from typing import Any

from wharf_gateway.ids import new_id, new_secret
from wharf_gateway.models import TokenKind, TokenRecord
from wharf_gateway.storage.database import Records


def secret_digest(secret: str) -> str:
    """Token secrets carry 256 random bits, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


class WorkspaceStore(Records):
    """The workspaces and the tokens that act for them."""

    async def workspace_id(self, name: str) -> str | None:
        """The id of the workspace named `name` (names compare case-insensitively)."""
        row = await self._db.fetch_one("SELECT id FROM workspaces WHERE name = ?", (name.lower(),))
        return None if row is None else str(row[0])

    async def create_workspace(self, name: str) -> str:
        workspace_id = new_id("ws")
        await self._db.write(
            [
                (
                    "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                    (workspace_id, name.lower(), time.time()),
                )
            ]
        )
        return workspace_id

    async def workspace_limits(self) -> dict[str, tuple[float, float]]:
        """`{workspace_id: (rate_per_s, burst_s)}` of the workspaces with limits of their own."""
        rows = await self._db.fetch_all(
            "SELECT id, rate_limit_per_s, rate_burst_s FROM workspaces "
            "WHERE rate_limit_per_s IS NOT NULL AND rate_burst_s IS NOT NULL"
        )
        return {row[0]: (float(row[1]), float(row[2])) for row in rows}

    async def set_workspace_limits(
        self, workspace_id: str, rate_per_s: float | None, burst_s: float | None
    ) -> None:
        await self._db.write(
            [
                (
                    "UPDATE workspaces SET rate_limit_per_s = ?, rate_burst_s = ? WHERE id = ?",
                    (rate_per_s, burst_s, workspace_id),
                )
            ]
        )

    async def create_token(
        self, workspace_id: str, kind: TokenKind, expires_in_s: float | None = None
    ) -> tuple[str, str]:
        """A new token of the workspace, valid for `expires_in_s` (None: until revoked);
        returns `(token_id, secret)`, the secret only now."""
        token_id, secret = new_id("wk"), new_secret()
        now = time.time()
        expires_at = None if expires_in_s is None else now + expires_in_s
        await self._db.write(
            [
                (
                    "INSERT INTO tokens (id, workspace_id, secret_sha256, kind, created_at, "
                    "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (token_id, workspace_id, secret_digest(secret), kind.value, now, expires_at),
                )
            ]
        )
        return token_id, secret

    async def token(self, token_id: str) -> TokenRecord | None:
        row = await self._db.fetch_one(
            "SELECT t.id, t.workspace_id, w.name, t.secret_sha256, t.kind, t.revoked_at, "
            "t.expires_at FROM tokens t JOIN workspaces w ON w.id = t.workspace_id WHERE t.id = ?",
            (token_id,),
        )
        if row is None:
            return None
        return TokenRecord(
            row[0], row[1], row[2], row[3], TokenKind(row[4]), row[5] is not None, row[6]
        )

    async def tokens(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's user tokens (never their secrets, not even digests)."""
        rows = await self._db.fetch_all(
            "SELECT id, kind, created_at, revoked_at, expires_at FROM tokens "
            "WHERE workspace_id = ? AND kind != ? ORDER BY created_at",
            (workspace_id, TokenKind.CONTAINER.value),
        )
        return [
            {
                "token_id": r[0],
                "kind": r[1],
                "created_at": r[2],
                "revoked_at": r[3],
                "expires_at": r[4],
            }
            for r in rows
        ]

    def revoke_token(self, token_id: str) -> asyncio.Future[None]:
        return self._db.write(
            [
                (
                    "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                    (time.time(), token_id),
                )
            ]
        )

    async def revoke_tokens_of_kind(self, kind: TokenKind, keep: Iterable[str] = ()) -> None:
        """Revoke every token of `kind` but those in `keep`."""
        kept = sorted(keep)
        spared = f" AND id NOT IN ({', '.join('?' * len(kept))})" if kept else ""
        await self._db.write(
            [
                (
                    "UPDATE tokens SET revoked_at = ? WHERE kind = ? AND revoked_at IS NULL"
                    + spared,
                    (time.time(), kind.value, *kept),
                )
            ]
        )
