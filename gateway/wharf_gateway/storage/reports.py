"""What the dashboard reads: a workspace's recent calls, one call's details, a function's last
hour, and log lines. Nothing here is on the path of a call: every query runs on the database's
reports connection, and each one's cost is bounded (a listing looks through at most
`SCAN_CALLS` calls; a function's history is computed at most every `HISTORY_TTL_S`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import orjson

from wharf_gateway.models import CallDetails, CallStatus, CallSummary, StoredResult
from wharf_gateway.storage.database import Database

#: Most calls one listing looks through, newest first from its cursor: a filter that matches
#: few calls still answers in bounded time, and the next page goes on from where it stopped.
SCAN_CALLS = 20_000
#: Largest JSON result the details of a call carry.
PREVIEW_BYTES = 64 * 1024
#: How long a function's history is reused (it changes by the minute).
HISTORY_TTL_S = 15.0

_SUMMARY_SELECT = (
    "SELECT c.id, f.app_id, a.name, f.name, c.status, c.created_at, c.finished_at, "
    "c.payload_format{extra} FROM {calls} c JOIN functions f ON f.id = c.function_id "
    "JOIN apps a ON a.id = f.app_id"
)
#: Bucket, calls started in it, and the p50 and p99 (nearest rank) of the durations of those that
#: ran to an outcome of their own (success or failure; not cancelled or terminated ones).
_HISTORY_SELECT = """
SELECT bucket, MAX(started),
       MAX(CASE WHEN rank = (finished * 50 + 99) / 100 THEN duration_s END),
       MAX(CASE WHEN rank = (finished * 99 + 99) / 100 THEN duration_s END)
FROM (
    SELECT bucket, duration_s, COUNT(*) OVER buckets AS started,
           COUNT(duration_s) OVER buckets AS finished,
           ROW_NUMBER() OVER (buckets ORDER BY duration_s IS NULL, duration_s) AS rank
    FROM (
        SELECT CAST((created_at - ?) / ? AS INTEGER) AS bucket,
               CASE WHEN status IN ('success', 'failure') THEN finished_at - created_at END
                   AS duration_s
        FROM calls
        WHERE function_id IN (SELECT id FROM functions WHERE app_id = ? AND name = ?)
          AND created_at >= ?
    )
    WINDOW buckets AS (PARTITION BY bucket)
)
GROUP BY bucket ORDER BY bucket
"""
_LOG_FIELDS = ("id", "function", "container_id", "stream", "line", "created_at")

#: `(bucket, calls, p50 s, p99 s)`
HistoryRow = tuple[int, int, float | None, float | None]


@dataclass(frozen=True, slots=True)
class CallQuery:
    """Which of a workspace's calls to list, newest first."""

    workspace_id: str
    limit: int
    #: Only calls of this app; None: of every app.
    app_id: str | None = None
    function_name: str | None = None
    #: Only calls stored with one of these statuses; empty: any.
    statuses: tuple[CallStatus, ...] = ()
    #: Only calls listed after `(created_at, call_id)`, where the page before ended.
    before: tuple[float, str] | None = None


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which log lines of an app to read, oldest first."""

    app_id: str
    after_id: int
    limit: int
    function_name: str | None = None
    #: Only lines holding this text (ASCII letters in either case).
    contains: str | None = None


def _call_summary(row: sqlite3.Row) -> CallSummary:
    return CallSummary(row[0], row[1], row[2], row[3], CallStatus(row[4]), row[5], row[6], row[7])


def _summary_filter(query: CallQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (or nothing) picking the query's calls among those scanned, and its
    parameters."""
    where: list[str] = []
    params: list[Any] = []
    if query.app_id is not None:
        where.append("f.app_id = ?")
        params.append(query.app_id)
    if query.function_name is not None:
        where.append("f.name = ?")
        params.append(query.function_name)
    if query.statuses:
        where.append(f"c.status IN ({', '.join('?' * len(query.statuses))})")
        params += [status.value for status in query.statuses]
    return ("WHERE " + " AND ".join(where) if where else ""), params


class Reports:
    """The dashboard's reads of one database."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._histories: dict[tuple[str, str, float], tuple[float, list[HistoryRow]]] = {}

    async def recent_calls(
        self, query: CallQuery
    ) -> tuple[list[CallSummary], tuple[float, str] | None]:
        """Calls of the workspace matching `query`, newest first, among the `SCAN_CALLS` calls
        before its cursor; and where the next page starts (None: there are no more calls)."""
        scan = "workspace_id = ?"
        scan_params: list[Any] = [query.workspace_id]
        if query.before is not None:
            scan += " AND (created_at, id) < (?, ?)"
            scan_params += query.before
        newest = (
            "(SELECT id, function_id, status, created_at, finished_at, payload_format FROM calls "
            f"WHERE {scan} ORDER BY created_at DESC, id DESC LIMIT {SCAN_CALLS})"
        )
        where, params = _summary_filter(query)
        rows = await self._db.fetch_all(
            f"{_SUMMARY_SELECT.format(extra='', calls=newest)} {where} "
            "ORDER BY c.created_at DESC, c.id DESC LIMIT ?",
            (*scan_params, *params, query.limit),
            report=True,
        )
        calls = [_call_summary(row) for row in rows]
        if len(calls) == query.limit:
            return calls, (calls[-1].created_at, calls[-1].call_id)
        # Fewer than asked: the scan may have stopped short of the workspace's oldest call.
        edge = await self._db.fetch_one(
            f"SELECT created_at, id FROM calls WHERE {scan} "
            "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
            (*scan_params, SCAN_CALLS - 1),
            report=True,
        )
        return calls, None if edge is None else (float(edge[0]), str(edge[1]))

    async def call_details(self, workspace_id: str, call_id: str) -> CallDetails | None:
        """A call of the workspace with the sizes of its input and output, and its error."""
        extra = (
            ", c.attempt, c.parent_call_id, c.payload_bytes, c.variant, length(c.output_json), "
            "c.output_json_sha256, length(c.output_pickled), c.output_pickled_sha256, "
            "CASE WHEN length(c.output_json) <= ? THEN c.output_json END, c.json_error, "
            "c.error, c.expired"
        )
        row = await self._db.fetch_one(
            f"{_SUMMARY_SELECT.format(extra=extra, calls='calls')} "
            "WHERE c.id = ? AND c.workspace_id = ?",
            (PREVIEW_BYTES, call_id, workspace_id),
            report=True,
        )
        if row is None:
            return None
        error = None if row[18] is None else orjson.loads(row[18])
        result = StoredResult(
            row[12], row[13], row[14], row[15], row[16], row[17], error, bool(row[19])
        )
        return CallDetails(_call_summary(row), row[8], row[9], row[10], row[11], result)

    async def call_history(
        self, app_id: str, function_name: str, start: float, bucket_s: float
    ) -> list[HistoryRow]:
        """`(bucket, calls, p50 s, p99 s)` of the calls of an app's function (every version)
        made since `start`, in buckets of `bucket_s` (0 is the first); buckets without calls
        are left out. Computed from the calls' records, at most every `HISTORY_TTL_S`."""
        now = time.monotonic()
        key = (app_id, function_name, start)
        kept = self._histories.get(key)
        if kept is not None and now - kept[0] < HISTORY_TTL_S:
            return kept[1]
        rows = await self._db.fetch_all(
            _HISTORY_SELECT, (start, bucket_s, app_id, function_name, start), report=True
        )
        history = [(row[0], row[1], row[2], row[3]) for row in rows]
        for stale in [k for k, (made, _) in self._histories.items() if now - made >= HISTORY_TTL_S]:
            del self._histories[stale]
        self._histories[key] = (now, history)
        return history

    async def log_tail_start(self, app_id: str, function_name: str | None, lines: int) -> int:
        """The id to read after for the last `lines` lines of the app (or of one function)."""
        where, params = "app_id = ?", [app_id]
        if function_name is not None:
            where += " AND function_name = ?"
            params.append(function_name)
        row = await self._db.fetch_one(
            f"SELECT id FROM logs WHERE {where} ORDER BY id DESC LIMIT 1 OFFSET ?",
            (*params, lines - 1),
            report=True,
        )
        return 0 if row is None else int(row[0]) - 1

    async def logs(self, query: LogQuery) -> tuple[list[dict[str, Any]], int]:
        """An app's log lines matching `query`, oldest first, and the id to read on after: the
        last line's when `limit` lines came, else the newest stored (so lines a filter passed
        over are not read again)."""
        newest = await self._db.fetch_one("SELECT max(id) FROM logs", report=True)
        horizon = max(query.after_id, (newest[0] if newest is not None else None) or 0)
        where, params = "app_id = ? AND id > ? AND id <= ?", [query.app_id, query.after_id, horizon]
        if query.function_name is not None:
            where += " AND function_name = ?"
            params.append(query.function_name)
        if query.contains:
            where += " AND instr(lower(line), lower(?)) > 0"
            params.append(query.contains)
        rows = await self._db.fetch_all(
            "SELECT id, function_name, container_id, stream, line, created_at FROM logs "
            f"WHERE {where} ORDER BY id LIMIT ?",
            (*params, query.limit),
            report=True,
        )
        lines = [dict(zip(_LOG_FIELDS, row, strict=True)) for row in rows]
        return lines, lines[-1]["id"] if len(lines) == query.limit else horizon
