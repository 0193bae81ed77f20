"""Idempotency keys of requests that create calls, and what each was answered."""

from __future__ import annotations

import time
from typing import Any

import orjson

from wharf_gateway.storage.database import Records


class IdempotencyStore(Records):
    """The first answer to each `(workspace, Idempotency-Key)`, for a day."""

    async def idempotent_answer(
        self, workspace_id: str, key: str, since: float
    ) -> tuple[str, dict[str, Any]] | None:
        """`(fingerprint, answer)` of the key's first request made after `since`, if any."""
        row = await self._db.fetch_one(
            "SELECT fingerprint, answer FROM idempotency_keys "
            "WHERE workspace_id = ? AND key = ? AND created_at >= ?",
            (workspace_id, key, since),
        )
        return None if row is None else (str(row[0]), orjson.loads(row[1]))

    async def remember_answer(
        self, workspace_id: str, key: str, fingerprint: str, answer: dict[str, Any]
    ) -> None:
        await self._db.write(
            [
                (
                    "INSERT OR REPLACE INTO idempotency_keys "
                    "(workspace_id, key, fingerprint, answer, created_at) VALUES (?, ?, ?, ?, ?)",
                    (workspace_id, key, fingerprint, orjson.dumps(answer), time.time()),
                )
            ]
        )

    async def forget_answers_before(self, before: float) -> None:
        await self._db.change_in_batches(
            "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys "
            "WHERE created_at < ? LIMIT ?)",
            (before,),
        )
