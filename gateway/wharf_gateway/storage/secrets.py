"""Workspaces' secrets as stored: names, key names and sealed values (sealing is `security`'s)."""

from __future__ import annotations

import sqlite3

import orjson

from wharf_gateway.errors import Conflict
from wharf_gateway.models import SecretRecord
from wharf_gateway.storage.database import Records, Statement

_SEALED_SELECT = "SELECT workspace_id, name, keys, sealed, created_at, updated_at FROM secrets"


def _secret_record(row: sqlite3.Row) -> SecretRecord:
    return SecretRecord(row[0], row[1], tuple(orjson.loads(row[2])), bytes(row[3]), row[4], row[5])


class SecretStore(Records):
    """The workspaces' sealed secrets: named ones, and inline ones made for a deploy."""

    async def put_secret(
        self, record: SecretRecord, *, overwrite: bool, inline: bool = False
    ) -> bool:
        """Store a secret; returns whether it is new. With `overwrite`, one of the same name is
        replaced (keeping its creation time); inline ones are never replaced (same name, same
        values).

        Raises:
            Conflict: one of the same name exists and `overwrite` is false (not for inline ones).
        """
        keys = orjson.dumps(list(record.keys)).decode()
        statements: list[Statement] = [
            (
                "INSERT INTO secrets (workspace_id, name, inline, keys, sealed, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (workspace_id, name) DO NOTHING",
                (
                    record.workspace_id,
                    record.name,
                    inline,
                    keys,
                    record.sealed,
                    record.created_at,
                    record.updated_at,
                ),
            )
        ]
        if overwrite:
            statements.append(
                (
                    "UPDATE secrets SET keys = ?, sealed = ?, updated_at = ? "
                    "WHERE workspace_id = ? AND name = ? AND inline = 0",
                    (keys, record.sealed, record.updated_at, record.workspace_id, record.name),
                )
            )
        created = (await self._db.write_counting(statements))[0] == 1
        if not created and not overwrite and not inline:
            raise Conflict(
                f"secret {record.name!r} already exists; replace it with overwrite (--force)"
            )
        return created

    async def secret(self, workspace_id: str, name: str) -> SecretRecord | None:
        """A secret of the workspace by name, inline ones included."""
        row = await self._db.fetch_one(
            f"{_SEALED_SELECT} WHERE workspace_id = ? AND name = ?", (workspace_id, name)
        )
        return None if row is None else _secret_record(row)

    async def secrets(self, workspace_id: str) -> list[SecretRecord]:
        """The workspace's named secrets (not the inline ones), by name."""
        rows = await self._db.fetch_all(
            f"{_SEALED_SELECT} WHERE workspace_id = ? AND inline = 0 ORDER BY name",
            (workspace_id,),
        )
        return [_secret_record(row) for row in rows]

    async def delete_secret(self, workspace_id: str, name: str) -> bool:
        """Delete a named secret; returns whether there was one."""
        counts = await self._db.write_counting(
            [
                (
                    "DELETE FROM secrets WHERE workspace_id = ? AND name = ? AND inline = 0",
                    (workspace_id, name),
                )
            ]
        )
        return counts[0] == 1
