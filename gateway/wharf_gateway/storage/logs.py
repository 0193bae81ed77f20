"""Log lines printed in containers, as they are written; the dashboard reads them in `reports`."""

from __future__ import annotations

import asyncio
import logging

from wharf_gateway.storage.database import Records

logger = logging.getLogger(__name__)

#: `(app_id, function, container_id, stream, line, time)`
LogRow = tuple[str, str, str, str, str, float]


def _report_lost_logs(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.error("log lines could not be stored: %s", done.exception())


class LogStore(Records):
    """The apps' log lines, kept as long as calls' results are."""

    def append_logs(self, rows: list[LogRow]) -> asyncio.Future[None]:
        """Queue `(app_id, function, container_id, stream, line, time)` rows; resolves once
        they are committed (nobody needs to wait for it)."""
        done = self._db.write(
            [
                (
                    "INSERT INTO logs (app_id, function_name, container_id, stream, line, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    row,
                )
                for row in rows
            ]
        )
        done.add_done_callback(_report_lost_logs)
        return done

    async def drop_logs_before(self, cutoff: float) -> None:
        """Logs are kept as long as results are."""
        # Oldest first, by id (lines are stored in order): each batch reads only what it drops.
        await self._db.change_in_batches(
            "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE created_at < ? "
            "ORDER BY id LIMIT ?)",
            (cutoff,),
        )
