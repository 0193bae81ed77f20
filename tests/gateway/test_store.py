"""The store over a real SQLite file: migrations, workspace isolation, outcomes, expiry, tokens."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import wharf_gateway.storage.database as database_module
from wharf_gateway.errors import ConfigError, StoreConflict, StoreError
from wharf_gateway.models import AppState, CallStatus, TokenKind
from wharf_gateway.storage.calls import NewCall, StoredOutcome
from wharf_gateway.storage.database import Database, migrations
from wharf_gateway.storage.store import Store


@asynccontextmanager
async def _open_store(path: Path) -> AsyncIterator[Store]:
    database = await Database.open(path)
    try:
        yield Store(database)
    finally:
        await database.close()


async def _deployed_function(store: Store, workspace_id: str) -> str:
    _, [function] = await store.deploy_app(
        workspace_id,
        "shop",
        AppState.DEPLOYED,
        [{"name": "checkout"}],
        ("0" * 64, "m", "app"),
        {},
        None,
    )
    return function.function_id


def _new_call(call_id: str, workspace_id: str, function_id: str) -> NewCall:
    return NewCall(
        call_id=call_id,
        workspace_id=workspace_id,
        function_id=function_id,
        parent_call_id=None,
        payload_format="json",
        payload=b'{"args": []}',
        payload_sha256=None,
        wants_json=True,
        wants_pickle=False,
        created_at=time.time(),
    )


def _outcome(status: CallStatus, json: bytes | None) -> StoredOutcome:
    return StoredOutcome(status, None, None, json, None, None, None)


def test_migrations_are_applied_once_and_reopening_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"

    async def open_twice() -> None:
        async with _open_store(path) as store:
            await store.create_workspace("main")
        async with _open_store(path) as store:
            assert await store.workspace_id("main") is not None

    asyncio.run(open_twice())

    with sqlite3.connect(path) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_migrations")]
    assert versions == [version for version, _ in migrations()]


def test_call_of_one_workspace_is_invisible_to_another(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "wharf.db") as store:
            workspace_a = await store.create_workspace("a")
            workspace_b = await store.create_workspace("b")
            function_id = await _deployed_function(store, workspace_a)
            await store.insert_call(_new_call("fc-1", workspace_a, function_id))

            record = await store.call(workspace_a, "fc-1")
            assert record is not None
            assert (record.status, record.function_id) == (CallStatus.PENDING, function_id)
            assert await store.call(workspace_b, "fc-1") is None

    asyncio.run(scenario())


def test_finished_call_keeps_its_first_outcome(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "wharf.db") as store:
            workspace_id = await store.create_workspace("main")
            function_id = await _deployed_function(store, workspace_id)
            await store.insert_call(_new_call("fc-1", workspace_id, function_id))
            expires_at = time.time() + 3600

            await store.finish_call("fc-1", _outcome(CallStatus.SUCCESS, b"42"), 1, expires_at)
            await store.finish_call("fc-1", _outcome(CallStatus.CANCELLED, None), 2, expires_at)

            stored = await store.stored_outcome("fc-1")
            assert stored is not None
            outcome, expired = stored
            assert (outcome.status, outcome.json, expired) == (CallStatus.SUCCESS, b"42", False)
            record = await store.call(workspace_id, "fc-1")
            assert record is not None
            assert (record.status, record.attempt) == (CallStatus.SUCCESS, 1)

    asyncio.run(scenario())


def test_pending_call_has_no_stored_outcome_and_is_active(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "wharf.db") as store:
            workspace_id = await store.create_workspace("main")
            function_id = await _deployed_function(store, workspace_id)
            rowid = await store.insert_call(_new_call("fc-1", workspace_id, function_id))
            second = await store.insert_call(_new_call("fc-2", workspace_id, function_id))
            assert second > rowid  # rowids order calls by arrival

            assert await store.stored_outcome("fc-1") is None
            assert await store.unfinished_pools() == [(function_id, None, 2)]
            [(found_rowid, active), _] = await store.unfinished_after(function_id, None, 0, 10)
            assert found_rowid == rowid
            assert (active.record.call_id, active.record.status) == ("fc-1", CallStatus.PENDING)
            assert (active.payload, active.wants_json) == (b'{"args": []}', True)
            assert [
                row.record.call_id
                for _, row in await store.unfinished_after(function_id, None, rowid, 10)
            ] == ["fc-2"]

            await store.finish_call("fc-1", _outcome(CallStatus.SUCCESS, b"1"), 1, time.time())
            assert await store.unfinished_pools() == [(function_id, None, 1)]

    asyncio.run(scenario())


def test_outputs_past_their_expiry_are_dropped_and_marked_expired(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "wharf.db") as store:
            workspace_id = await store.create_workspace("main")
            function_id = await _deployed_function(store, workspace_id)
            for call_id, expires_at in (("fc-old", 100.0), ("fc-new", 10_000.0)):
                await store.insert_call(_new_call(call_id, workspace_id, function_id))
                await store.finish_call(
                    call_id, _outcome(CallStatus.SUCCESS, b"1"), attempt=1, expires_at=expires_at
                )

            assert await store.expire_outputs(now=500.0) == 1
            assert await store.expire_outputs(now=500.0) == 0

            old = await store.stored_outcome("fc-old")
            new = await store.stored_outcome("fc-new")
            assert old is not None
            assert new is not None
            assert (old[0].status, old[0].json, old[1]) == (CallStatus.SUCCESS, None, True)
            assert (new[0].json, new[1]) == (b"1", False)

    asyncio.run(scenario())


def test_expiry_and_forgetting_go_a_batch_at_a_time_and_free_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "MAINTENANCE_BATCH_ROWS", 7)

    async def scenario() -> None:
        async with _open_store(tmp_path / "wharf.db") as store:
            workspace_id = await store.create_workspace("main")
            function_id = await _deployed_function(store, workspace_id)
            for n in range(30):
                await store.insert_call(_new_call(f"fc-{n}", workspace_id, function_id))
                await store.finish_call(
                    f"fc-{n}", _outcome(CallStatus.SUCCESS, b"1"), 1, expires_at=100.0 + n
                )
            # All that expired, over several commits of 7 rows at most.
            assert await store.expire_outputs(now=200.0) == 30
            # Records go a retention later: those whose results expired before 115 now.
            assert await store.forget_expired_calls(before=115.0) == 15
            assert await store.call(workspace_id, "fc-14") is None
            assert await store.call(workspace_id, "fc-15") is not None
            assert await store.forget_expired_calls(before=115.0) == 0

    asyncio.run(scenario())


def test_writes_queued_together_all_commit(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "wharf.db") as store:
            names = [f"team-{index}" for index in range(20)]
            created = await asyncio.gather(*(store.create_workspace(name) for name in names))

            found = [await store.workspace_id(name) for name in names]
            assert found == created

    asyncio.run(scenario())


def test_failing_write_in_a_batch_is_rolled_back_alone(tmp_path: Path) -> None:
    insert = "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, 0)"

    async def scenario() -> None:
        database = await Database.open(tmp_path / "wharf.db")
        try:
            first = database.write([(insert, ("ws-1", "one"))])
            clash = database.write([(insert, ("ws-2", "two")), (insert, ("ws-3", "one"))])
            last = database.write([(insert, ("ws-4", "four"))])
            await first
            with pytest.raises(StoreConflict):
                await clash
            await last

            rows = await database.fetch_all("SELECT id FROM workspaces ORDER BY id")
            assert [row[0] for row in rows] == ["ws-1", "ws-4"]
        finally:
            await database.close()

    asyncio.run(scenario())


def test_sqlite_errors_reach_callers_as_store_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = await Database.open(tmp_path / "wharf.db")
        try:
            with pytest.raises(StoreError, match="no such table"):
                await database.fetch_all("SELECT id FROM no_such_table")
            with pytest.raises(StoreError, match="no such column"):
                await database.fetch_one("SELECT no_such_column FROM workspaces", report=True)
        finally:
            await database.close()

    asyncio.run(scenario())


def test_token_is_stored_as_the_sha256_of_its_secret_never_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"

    async def scenario() -> str:
        async with _open_store(path) as store:
            workspace_id = await store.create_workspace("main")
            token_id, secret = await store.create_token(workspace_id, TokenKind.USER)

            record = await store.token(token_id)
            assert record is not None
            assert record.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
            assert (record.workspace_id, record.workspace_name) == (workspace_id, "main")
            assert (record.kind, record.revoked) == (TokenKind.USER, False)
            assert await store.token("wk-unknown") is None
            return secret

    secret = asyncio.run(scenario())

    assert all(secret.encode() not in file.read_bytes() for file in tmp_path.iterdir())
    with sqlite3.connect(path) as connection:
        stored = [str(value) for row in connection.execute("SELECT * FROM tokens") for value in row]
    assert secret not in stored


def test_revoked_token_reads_as_revoked(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "wharf.db") as store:
            workspace_id = await store.create_workspace("main")
            user_id, _ = await store.create_token(workspace_id, TokenKind.USER)
            container_id, _ = await store.create_token(workspace_id, TokenKind.CONTAINER)

            await store.revoke_tokens_of_kind(TokenKind.CONTAINER)

            user, container = await store.token(user_id), await store.token(container_id)
            assert user is not None
            assert container is not None
            assert (user.revoked, container.revoked) == (False, True)

    asyncio.run(scenario())


def test_reads_see_every_commit_across_wal_checkpoints(tmp_path: Path) -> None:
    from wharf_gateway.storage.database import CHECKPOINT_EVERY_COMMITS

    async def scenario() -> None:
        database = await Database.open(tmp_path / "wharf.db")
        try:
            await database.write([("CREATE TABLE t (n INTEGER)", ())])
            for n in range(CHECKPOINT_EVERY_COMMITS * 2 + 5):
                await database.write([("INSERT INTO t (n) VALUES (?)", (n,))])
                # Every commit is visible to the next read, checkpoints or not.
                row = await database.fetch_one("SELECT max(n) FROM t")
                assert row is not None
                assert row[0] == n
        finally:
            await database.close()

    asyncio.run(scenario())


def test_names_become_lower_case_where_that_collides_with_nothing(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"
    with sqlite3.connect(path) as connection:  # a database an older gateway made
        connection.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        for version, script in migrations():
            if version < 9:
                connection.executescript(script)
                connection.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
        connection.executemany(
            "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, 0)",
            [("ws-1", "Team"), ("ws-2", "main"), ("ws-3", "MAIN")],
        )
        connection.execute("INSERT INTO apps VALUES ('ap-1', 'ws-1', 'MyApp', 'deployed', 1, 0, 0)")

    async def scenario() -> None:
        async with _open_store(path) as store:
            assert await store.workspace_id("TEAM") == "ws-1"
            assert await store.workspace_id("main") == "ws-2"  # `MAIN` keeps its case: taken
            app = await store.find_app("ws-1", "myapp")
            assert app is not None
            assert app.name == "myapp"

    asyncio.run(scenario())


def _open_fails(path: Path) -> str:
    async def scenario() -> None:
        database = await Database.open(path)
        await database.close()

    with pytest.raises(ConfigError) as raised:
        asyncio.run(scenario())
    return str(raised.value)


def test_a_file_that_is_not_a_database_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"
    path.write_bytes(b"these are not the pages of a database" * 200)
    message = _open_fails(path)
    assert str(path) in message
    assert "not a usable database" in message
    assert path.read_bytes().startswith(b"these are not")  # never reset


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    message = _open_fails(path)
    assert f"{path} is a database of another program (tables: invoices)" in message
    with sqlite3.connect(path) as other:
        tables = [row[0] for row in other.execute("SELECT name FROM sqlite_master")]
    assert tables == ["invoices"]


def test_a_database_of_a_newer_wharf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wharf.db"

    async def scenario() -> None:
        database = await Database.open(path)
        await database.close()

    asyncio.run(scenario())
    with sqlite3.connect(path) as newer:
        newer.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
    assert "was written by a newer Wharf (schema 9999" in _open_fails(path)
