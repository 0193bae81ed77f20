"""Read-your-writes on the store's shared reader: once a write is committed, every read started
after it sees it, however many reads run at once; and checkpoints never find the reader busy."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wharf_gateway.storage.database import Database

ROWS = 200
ROUNDS = 300
READERS = 8


async def _hammer(database: Database, stop: asyncio.Event) -> int:
    """Read a many-row table over and over (each read's rows arrive over several hops of the
    reader's thread, where other reads interleave); returns the reads made."""
    reads = 0
    while not stop.is_set():
        rows = await database.fetch_all("SELECT id, value FROM numbers")
        assert len(rows) == ROWS
        reads += 1
    return reads


async def _stale_reads(path: Path) -> tuple[int, int]:
    database = await Database.open(path)
    try:
        await database.write(
            [("CREATE TABLE numbers (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)", ())]
        )
        await database.write(
            [("INSERT INTO numbers (id, value) VALUES (?, 0)", (n,)) for n in range(ROWS)]
        )
        stop = asyncio.Event()
        hammers = [asyncio.create_task(_hammer(database, stop)) for _ in range(READERS)]
        stale = 0
        for value in range(1, ROUNDS + 1):
            await database.write([("UPDATE numbers SET value = ? WHERE id = 0", (value,))])
            row = await database.fetch_one("SELECT value FROM numbers WHERE id = 0")
            assert row is not None
            stale += row["value"] != value
        checkpoint = await database.fetch_all("PRAGMA wal_checkpoint(PASSIVE)")
        stop.set()
        reads = sum(await asyncio.gather(*hammers))
        assert reads > ROUNDS  # the reads did run alongside
        return stale, checkpoint[0][0]
    finally:
        await database.close()


def test_a_committed_write_is_seen_by_every_later_read_under_concurrent_reads(
    tmp_path: Path,
) -> None:
    # Before: a read's cursor stayed open across awaits, so reads of others joined its
    # snapshot: a call's status read after its outcome was committed said pending (or, for a
    # new call, not found), and the checkpoint failed with "database table is locked".
    stale, checkpoint_busy = asyncio.run(_stale_reads(tmp_path / "wharf.db"))
    assert stale == 0
    assert checkpoint_busy == 0
