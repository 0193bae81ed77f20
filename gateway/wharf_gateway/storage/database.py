"""The SQLite database: opening it, numbered migrations, and grouped commits.

Writes go through one writer connection; everything queued while a commit runs goes into the next
one, so a burst of calls costs one commit, not one each. A small batch commits right on the event
loop (about 20 us, far less than a hop to a thread and back); a large one runs on the writer's own
thread. Reads use an aiosqlite connection, on a thread of its own; in WAL mode they never wait for
the writer and see what has been committed. WAL checkpoints, which fsync and can take
milliseconds, run on the reader's thread too, so commits never wait for them.

Each read is one job on its reader's thread: the query runs, its rows are fetched and its
statement is done before any other read starts. A cursor left open across an await would hold
the reader's snapshot: every read interleaved with it would miss what was committed since (a
call just finished reads as pending), and a checkpoint would fail with "table is locked".
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from wharf_gateway.errors import ConfigError, StoreConflict, StoreError, StoreFull

logger = logging.getLogger(__name__)

#: Batches up to this many statements commit on the event loop; larger ones on the writer thread.
INLINE_BATCH_STATEMENTS = 32
#: Rows one commit of maintenance (expiry, clean-up) changes at most.
MAINTENANCE_BATCH_ROWS = 2000
#: Commits between two WAL checkpoints (run on the reader's thread, never inside a commit).
CHECKPOINT_EVERY_COMMITS = 500
#: A WAL larger than this is checkpointed and truncated, between two commits (its size is
#: looked at after each): under steady load, passive checkpoints rarely find a moment with no
#: reader in the WAL to start it over.
WAL_TRUNCATE_BYTES = 16 * 2**20
#: Commits after a truncation a reader held off before the next try.
TRUNCATE_RETRY_COMMITS = 50
#: How long a truncating checkpoint waits for readers (commits wait meanwhile) before it gives
#: up until the next try.
TRUNCATE_WAIT_MS = 1000

_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"
_BUSY_TIMEOUT = "PRAGMA busy_timeout=10000"
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # With WAL, NORMAL loses no committed transaction on a process crash, only on power loss.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    _BUSY_TIMEOUT,
    # The WAL is cut back to this when it starts over (it only grows between checkpoints).
    "PRAGMA journal_size_limit=67108864",
)

Statement = tuple[str, Sequence[Any]]


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts shipped in `storage/migrations`, in order."""
    folder = resources.files("wharf_gateway.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def _connect(path: Path) -> sqlite3.Connection:
    # Created readable by its owner only (SQLite gives the -wal and -shm files the same mode).
    path.touch(mode=0o600, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        for pragma in _PRAGMAS:
            connection.execute(pragma)
        # Checkpoints run between commits (`Database`), never inside one on the event loop.
        connection.execute("PRAGMA wal_autocheckpoint=0")
    except BaseException:
        connection.close()
        raise
    return connection


async def _open_reader(path: Path) -> aiosqlite.Connection:
    reader = await aiosqlite.connect(path, isolation_level=None)
    reader.row_factory = sqlite3.Row
    for pragma in _PRAGMAS[2:]:
        await reader.execute_fetchall(pragma)
    return reader


def _check_ours(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a database another program made, or a newer Wharf: migrating it would mix our
    tables into someone else's data (or undo what a newer version did).

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    if tables and "schema_migrations" not in tables:
        raise ConfigError(
            f"{path} is a database of another program (tables: {', '.join(sorted(tables)[:5])}); "
            "move it away, or give --data-dir a folder of Wharf's own"
        )
    if not tables:
        return
    newest = max((version for version, _ in migrations()), default=0)
    (applied,) = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()
    if applied is not None and applied > newest:
        raise ConfigError(
            f"{path} was written by a newer Wharf (schema {applied}; this one knows up to "
            f"{newest}): run that version, or restore a backup made for this one"
        )


def migrate(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_at REAL NOT NULL)"
    )
    applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    for version, script in migrations():
        if version in applied:
            continue
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Comments may hold semicolons of their own, so they go before the script is split.
            code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
            for statement in code.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version, time.time()),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


def _translate(error: sqlite3.Error) -> StoreError:
    kind: type[StoreError] = StoreError
    if isinstance(error, sqlite3.IntegrityError):
        kind = StoreConflict
    elif getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        kind = StoreFull
    translated = kind(str(error))
    translated.__cause__ = error
    return translated


@dataclass(slots=True)
class _Job:
    statements: list[Statement]
    #: Resolves with None once committed, or with `first_rowid` when `returns_rowid`.
    done: asyncio.Future[Any]
    rowcounts: list[int] = field(default_factory=list)
    #: Maintenance that may touch many rows: always committed on the writer thread.
    heavy: bool = False
    returns_rowid: bool = False
    #: The rowid the first statement (an insert) gave its row.
    first_rowid: int = 0


def _run_batch(connection: sqlite3.Connection, jobs: list[_Job]) -> list[sqlite3.Error | None]:
    """Run every job's statements in one transaction; a failing job is rolled back alone."""
    results: list[sqlite3.Error | None] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for job in jobs:
            connection.execute("SAVEPOINT job")
            try:
                cursors = [connection.execute(sql, params) for sql, params in job.statements]
                job.rowcounts = [cursor.rowcount for cursor in cursors]
                job.first_rowid = (cursors[0].lastrowid or 0) if cursors else 0
            except sqlite3.Error as exc:
                connection.execute("ROLLBACK TO job")
                results.append(exc)
            else:
                results.append(None)
            connection.execute("RELEASE job")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return results


class Database:
    """One SQLite file: a grouped-commit writer, an async reader for what calls need, and one
    for reports (the dashboard's lists and histories), so a slow report never makes a call wait
    for its read."""

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        reader: aiosqlite.Connection,
        reports: aiosqlite.Connection,
    ) -> None:
        self._wal_path = path.with_name(path.name + "-wal")
        self._writer = writer
        self._reader = reader
        self._reports = reports
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wharf-db-writer")
        self._queue: list[_Job] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._checkpoint: asyncio.Task[Any] | None = None
        self._next_truncate = 0
        self._task = asyncio.create_task(self._write_forever(), name="wharf-db-writer")

    @classmethod
    async def open(cls, path: Path) -> Database:
        """The database in the file at `path`, created and brought to the newest migration.

        Raises:
            ConfigError: the file is not a database, is corrupt, or is another program's (or a
                newer Wharf's); the message names it. Nothing in it is changed.
            StoreError: it cannot be opened, or a migration failed.
        """
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            writer = await asyncio.to_thread(_connect, path)
            try:
                await asyncio.to_thread(_check_ours, writer, path)
                await asyncio.to_thread(migrate, writer)
                readers = [await _open_reader(path) for _ in range(2)]
            except BaseException:
                writer.close()
                raise
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) in (
                sqlite3.SQLITE_NOTADB,
                sqlite3.SQLITE_CORRUPT,
            ):
                raise ConfigError(
                    f"{path} is not a usable database ({exc}); it was never reset: move it "
                    "away (or restore a backup), or give --data-dir another folder"
                ) from exc
            raise _translate(exc) from exc
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        return cls(path, writer, *readers)

    def write(self, statements: list[Statement], *, heavy: bool = False) -> asyncio.Future[None]:
        """Queue statements to commit together (atomically) in the next batch.

        The future resolves once they are committed, or raises `StoreError`. `heavy` marks
        maintenance that may touch many rows, which must not hold up the event loop.
        """
        job = _Job(statements, asyncio.get_running_loop().create_future(), heavy=heavy)
        self._queue.append(job)
        self._wake.set()
        return job.done

    def insert(self, statements: list[Statement]) -> asyncio.Future[int]:
        """Like `write`; the future resolves with the rowid the first statement (an insert)
        gave its row. Rowids grow in commit order: they order rows by arrival."""
        job = _Job(statements, asyncio.get_running_loop().create_future(), returns_rowid=True)
        self._queue.append(job)
        self._wake.set()
        return job.done

    async def write_counting(
        self, statements: list[Statement], *, heavy: bool = False
    ) -> list[int]:
        """Like `write`, then the number of rows each statement changed."""
        job = _Job(statements, asyncio.get_running_loop().create_future(), heavy=heavy)
        self._queue.append(job)
        self._wake.set()
        await job.done
        return job.rowcounts

    async def change_in_batches(self, sql: str, params: Sequence[Any]) -> int:
        """Run maintenance that may touch many rows a batch at a time, each batch its own
        commit, so that calls committing meanwhile never wait long; the rows changed in all.
        `sql` ends with `LIMIT ?` (in a subquery choosing the rows), which gets the batch size."""
        changed = 0
        while True:
            (count,) = await self.write_counting(
                [(sql, (*params, MAINTENANCE_BATCH_ROWS))], heavy=True
            )
            changed += count
            if count < MAINTENANCE_BATCH_ROWS:
                return changed

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        commits = 0
        while not (self._closing and not self._queue):
            await self._wake.wait()
            self._wake.clear()
            jobs, self._queue = self._queue, []
            if not jobs:
                continue
            try:
                small = sum(len(job.statements) for job in jobs) <= INLINE_BATCH_STATEMENTS
                if small and not any(job.heavy for job in jobs):
                    results = _run_batch(self._writer, jobs)
                else:
                    results = await loop.run_in_executor(
                        self._executor, _run_batch, self._writer, jobs
                    )
            except sqlite3.Error as exc:
                results = [exc] * len(jobs)
            commits += 1
            for job, error in zip(jobs, results, strict=True):
                if job.done.done():
                    continue
                if error is None:
                    job.done.set_result(job.first_rowid if job.returns_rowid else None)
                else:
                    job.done.set_exception(_translate(error))
            await self._keep_wal_small(commits)

    async def _keep_wal_small(self, commits: int) -> None:
        """After a commit: a passive checkpoint every so many commits, and a truncation once
        the WAL is past `WAL_TRUNCATE_BYTES` (a look at its size costs a stat; a burst of
        large commits grows it fast)."""
        if commits % CHECKPOINT_EVERY_COMMITS == 0:
            self._checkpoint_soon()
        if self._wal_bytes() > WAL_TRUNCATE_BYTES and commits >= self._next_truncate:
            # On the writer's thread: commits queue up meanwhile, and go in one batch. A try
            # that a reader held off is made again some commits later.
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(self._executor, self._truncate_wal):
                self._next_truncate = commits + TRUNCATE_RETRY_COMMITS

    def _wal_bytes(self) -> int:
        try:
            return self._wal_path.stat().st_size
        except OSError:
            return 0

    def _truncate_wal(self) -> bool:
        """Checkpoint the whole WAL into the database and cut it to nothing; False when a reader
        held on past `TRUNCATE_WAIT_MS` (the next try comes a few hundred commits later)."""
        self._writer.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
        try:
            busy, _, _ = self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            logger.warning("truncating the WAL failed: %s", exc)
            return False
        finally:
            self._writer.execute(_BUSY_TIMEOUT)
        if busy:
            logger.info("the WAL is %d MiB, and a reader is in it", self._wal_bytes() >> 20)
        return not busy

    def _checkpoint_soon(self) -> None:
        if self._checkpoint is None or self._checkpoint.done():
            # Read to its end and closed: an open cursor would hold the reader's snapshot, and
            # every later read would miss what was committed since.
            self._checkpoint = asyncio.create_task(self.fetch_all(_CHECKPOINT))

    async def fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, report: bool = False
    ) -> list[sqlite3.Row]:
        """The rows of a query, read on the reports' connection with `report`.

        Raises:
            StoreError: the query failed.
        """
        try:
            reader = self._reports if report else self._reader
            return list(await reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    async def fetch_one(
        self, sql: str, params: Sequence[Any] = (), *, report: bool = False
    ) -> sqlite3.Row | None:
        """The first row of a query, if any (see `fetch_all`); the query should select few
        rows, as all of them are read (in the same job, so that none is left half read)."""
        rows = await self.fetch_all(sql, params, report=report)
        return rows[0] if rows else None

    async def close(self) -> None:
        """Commit what is queued, then close both connections."""
        self._closing = True
        self._wake.set()
        await self._task
        if self._checkpoint is not None:
            await self._checkpoint
        await self._reader.close()
        await self._reports.close()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._truncate_wal)
        await asyncio.to_thread(self._writer.close)
        self._executor.shutdown(wait=True)


class Records:
    """One kind of the gateway's records (calls, apps, tokens...), over one `Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database
