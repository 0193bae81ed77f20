"""Read-your-writes on the store's shared reader: once a write is committed, every read started
after it sees it, however many reads run at once; checkpoints never find the reader busy; and the
WAL stays bounded under steady writes and reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import wharf_gateway.storage.database as database_module
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


async def _largest_wal(path: Path, commits: int) -> int:
    """Commit `commits` batches of 1 KiB rows while readers keep the WAL busy; the WAL's
    largest size, in bytes."""
    database = await Database.open(path)
    wal = path.with_name(path.name + "-wal")
    largest = 0
    try:
        await database.write([("CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB)", ())])
        stop = asyncio.Event()

        async def read() -> None:
            while not stop.is_set():
                await database.fetch_all("SELECT id FROM rows ORDER BY id DESC LIMIT 20")

        readers = [asyncio.create_task(read()) for _ in range(READERS)]
        for n in range(commits):
            await database.write(
                [
                    ("INSERT INTO rows (data) VALUES (?)", (bytes(1024),)),
                    ("DELETE FROM rows WHERE id < ?", (n - 100,)),
                ]
            )
            largest = max(largest, wal.stat().st_size)
        stop.set()
        await asyncio.gather(*readers)
    finally:
        await database.close()
    return largest


def test_the_wal_stays_bounded_under_steady_writes_and_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: passive checkpoints seldom found the WAL free of readers, so it never started
    # over; after about 400k calls it was 3.5 GB.
    monkeypatch.setattr(database_module, "WAL_TRUNCATE_BYTES", 2**20)
    largest = asyncio.run(_largest_wal(tmp_path / "wharf.db", 6000))
    # 1 MiB, and what the commits add while a reader holds a try off; without the
    # truncation, this run leaves a WAL of about 100 MiB.
    assert largest < 8 * 2**20
