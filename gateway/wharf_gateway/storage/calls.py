"""Calls' records: a call as submitted, its outcome (or that it expired), and the calls in
flight to run again at start-up. Payloads and outputs are inline bytes or a blob's SHA-256."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from wharf_gateway.models import WEB_PAYLOAD_FORMAT, CallRecord, CallStatus
from wharf_gateway.storage.database import Records, Statement


@dataclass(frozen=True, slots=True)
class NewCall:
    """A call to insert, its payload already split into inline bytes or a blob hash."""

    call_id: str
    workspace_id: str
    function_id: str
    parent_call_id: str | None
    payload_format: str
    payload: bytes | None
    payload_sha256: str | None
    wants_json: bool
    wants_pickle: bool
    created_at: float
    #: The call's method and pool, as JSON (see `scheduling.tasks.Variant`); None for plain calls.
    variant: bytes | None = None
    #: Bytes of the arguments as sent (kept after the payload is dropped); None: not known.
    payload_bytes: int | None = None
    #: `(Idempotency-Key, request fingerprint)` to record with the call, in its commit.
    idempotency: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """An outcome to write, payloads already split into inline bytes or blob hashes."""

    status: CallStatus
    pickled: bytes | None
    pickled_sha256: str | None
    json: bytes | None
    json_sha256: str | None
    json_error: str | None
    error: dict[str, Any] | None
    #: For web requests kept as calls, `json` holds the response head and `pickled` its body.
    is_web: bool = False


@dataclass(frozen=True, slots=True)
class UnfinishedCall:
    """A call found pending or running at start-up, with what it needs to run again."""

    record: CallRecord
    payload_format: str
    payload: bytes | None
    payload_sha256: str | None
    wants_json: bool
    wants_pickle: bool
    variant: bytes | None = None


_CALL_COLUMNS = (
    "id, workspace_id, function_id, status, attempt, created_at, finished_at, parent_call_id"
)


def _call_record(row: Any) -> CallRecord:
    return CallRecord(
        call_id=row[0],
        workspace_id=row[1],
        function_id=row[2],
        status=CallStatus(row[3]),
        attempt=row[4],
        created_at=row[5],
        finished_at=row[6],
        parent_call_id=row[7],
    )


def _idempotency_write(call: NewCall) -> list[Statement]:
    if call.idempotency is None:
        return []
    key, fingerprint = call.idempotency
    return [
        (
            "INSERT OR REPLACE INTO idempotency_keys "
            "(workspace_id, key, fingerprint, answer, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                call.workspace_id,
                key,
                fingerprint,
                orjson.dumps({"call_id": call.call_id}),
                call.created_at,
            ),
        )
    ]


class CallStore(Records):
    """The calls of every workspace, read by workspace."""

    def insert_call(self, call: NewCall) -> asyncio.Future[int]:
        """Store a new call; resolves with its rowid once committed (rowids order calls by
        arrival)."""
        return self._db.insert(
            [
                (
                    "INSERT INTO calls (id, workspace_id, function_id, parent_call_id, status, "
                    "attempt, payload_format, payload, payload_sha256, wants_json, wants_pickle, "
                    "created_at, variant, payload_bytes) "
                    "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        call.call_id,
                        call.workspace_id,
                        call.function_id,
                        call.parent_call_id,
                        call.payload_format,
                        call.payload,
                        call.payload_sha256,
                        call.wants_json,
                        call.wants_pickle,
                        call.created_at,
                        call.variant,
                        call.payload_bytes,
                    ),
                ),
                *_idempotency_write(call),
            ]
        )

    def finish_call(
        self, call_id: str, outcome: StoredOutcome, attempt: int, expires_at: float
    ) -> asyncio.Future[None]:
        """Record the final outcome; a call that already has one keeps it."""
        return self._db.write(
            [
                (
                    "UPDATE calls SET status = ?, attempt = ?, finished_at = ?, expires_at = ?, "
                    "output_pickled = ?, "
                    "output_pickled_sha256 = ?, output_json = ?, output_json_sha256 = ?, "
                    "json_error = ?, error = ?, payload = NULL "
                    "WHERE id = ? AND status IN ('pending', 'running')",
                    (
                        outcome.status.value,
                        attempt,
                        time.time(),
                        expires_at,
                        outcome.pickled,
                        outcome.pickled_sha256,
                        outcome.json,
                        outcome.json_sha256,
                        outcome.json_error,
                        None if outcome.error is None else orjson.dumps(outcome.error),
                        call_id,
                    ),
                )
            ]
        )

    async def call(self, workspace_id: str, call_id: str) -> CallRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE id = ? AND workspace_id = ?",
            (call_id, workspace_id),
        )
        return None if row is None else _call_record(row)

    async def call_tree(
        self, workspace_id: str, call_id: str, limit: int
    ) -> list[tuple[str, str | None, str, str]]:
        """A call and the calls made from it, at any depth (within its workspace), as
        `(call id, parent call id, function name, status)`; the call first, then up to
        `limit` more (one past it, to tell a cut tree)."""
        return [
            (row[0], row[1], row[2], row[3])
            for row in await self._db.fetch_all(
                "WITH RECURSIVE tree(id, depth) AS ("
                "  SELECT id, 0 FROM calls WHERE id = ? AND workspace_id = ?"
                "  UNION ALL SELECT c.id, t.depth + 1 FROM calls c JOIN tree t"
                "  ON c.parent_call_id = t.id AND c.workspace_id = ? LIMIT ?"
                ") SELECT c.id, c.parent_call_id, f.name, c.status FROM tree t"
                " JOIN calls c ON c.id = t.id JOIN functions f ON f.id = c.function_id"
                " ORDER BY t.depth, c.created_at",
                (call_id, workspace_id, workspace_id, limit + 2),
            )
        ]

    async def stored_outcome(self, call_id: str) -> tuple[StoredOutcome, bool] | None:
        """The outcome of a finished call and whether it has expired."""
        row = await self._db.fetch_one(
            "SELECT status, output_pickled, output_pickled_sha256, output_json, "
            "output_json_sha256, json_error, error, expired, payload_format FROM calls "
            "WHERE id = ?",
            (call_id,),
        )
        if row is None or not CallStatus(row[0]).is_final:
            return None
        error = None if row[6] is None else orjson.loads(row[6])
        is_web = row[8] == WEB_PAYLOAD_FORMAT
        outcome = StoredOutcome(
            CallStatus(row[0]), row[1], row[2], row[3], row[4], row[5], error, is_web
        )
        return outcome, bool(row[7])

    async def call_variant(self, call_id: str) -> bytes | None:
        """The variant a call was made with, as stored (None: the function's own pool)."""
        row = await self._db.fetch_one("SELECT variant FROM calls WHERE id = ?", (call_id,))
        return None if row is None else row[0]

    async def unfinished_pools(self) -> list[tuple[str, bytes | None, int]]:
        """`(function id, variant, count)` of the calls pending or running, by pool."""
        rows = await self._db.fetch_all(
            "SELECT function_id, variant, count(*) FROM calls "
            "WHERE status IN ('pending', 'running') GROUP BY function_id, variant"
        )
        return [(str(row[0]), row[1], int(row[2])) for row in rows]

    async def unfinished_after(
        self, function_id: str, variant: bytes | None, after_rowid: int, limit: int
    ) -> list[tuple[int, UnfinishedCall]]:
        """Up to `limit` calls of one pool, pending or running, with rowids after
        `after_rowid`, in order of arrival; each with its rowid."""
        rows = await self._db.fetch_all(
            f"SELECT rowid, {_CALL_COLUMNS}, payload_format, payload, payload_sha256, "
            "wants_json, wants_pickle, variant FROM calls INDEXED BY calls_unfinished "
            "WHERE function_id = ? AND variant IS ? AND status IN ('pending', 'running') "
            "AND rowid > ? ORDER BY rowid LIMIT ?",
            (function_id, variant, after_rowid, limit),
        )
        return [(int(row[0]), _unfinished(row[1:])) for row in rows]

    async def expire_outputs(self, now: float) -> int:
        """Drop the outputs of calls past their retention; their ids answer 410 from now on."""
        return await self._db.change_in_batches(
            "UPDATE calls SET expired = 1, output_pickled = NULL, output_json = NULL, "
            "output_pickled_sha256 = NULL, output_json_sha256 = NULL, error = NULL, "
            "payload = NULL, payload_sha256 = NULL WHERE rowid IN (SELECT rowid FROM calls "
            "WHERE expired = 0 AND expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)",
            (now,),
        )

    async def forget_expired_calls(self, before: float) -> int:
        """Delete the records of calls whose results expired before `before`: their ids
        answer 404 from now on, and their rows' space is used again."""
        return await self._db.change_in_batches(
            "DELETE FROM calls WHERE rowid IN (SELECT rowid FROM calls "
            "WHERE expired = 1 AND expires_at < ? LIMIT ?)",
            (before,),
        )


def _unfinished(row: Any) -> UnfinishedCall:
    return UnfinishedCall(
        _call_record(row), row[8], row[9], row[10], bool(row[11]), bool(row[12]), row[13]
    )
