"""All SQL of the gateway. Everything else asks this module, by workspace, in plain values."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from wharf_gateway.errors import Conflict
from wharf_gateway.ids import new_id, new_secret
from wharf_gateway.models import (
    WEB_PAYLOAD_FORMAT,
    AppRecord,
    AppState,
    CallRecord,
    CallStatus,
    FunctionRecord,
    SecretRecord,
    TokenKind,
    TokenRecord,
)
from wharf_gateway.storage.database import Database, Statement, StoreConflict

logger = logging.getLogger(__name__)


def secret_digest(secret: str) -> str:
    """Token secrets carry 256 random bits, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


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
    #: The call's method and pool, as JSON (see `gateway.tasks.Variant`); None for plain calls.
    variant: bytes | None = None
    #: Bytes of the arguments as sent (kept after the payload is dropped); None: not known.
    payload_bytes: int | None = None


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
class ActiveCall:
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
_FUNCTION_SELECT = (
    "SELECT f.id, f.app_id, a.name, a.workspace_id, f.version, f.name, f.bundle_sha256, "
    "f.module, f.app_variable, f.definition, f.autoscaler "
    "FROM functions f JOIN apps a ON a.id = f.app_id"
)


def _call_record(row: sqlite3.Row) -> CallRecord:
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


def _function_record(row: sqlite3.Row) -> FunctionRecord:
    definition = orjson.loads(row[9])
    if row[10] is not None:  # autoscaler settings changed since the deploy
        definition["options"] = {**definition.get("options", {}), **orjson.loads(row[10])}
    return FunctionRecord(
        function_id=row[0],
        app_id=row[1],
        app_name=row[2],
        workspace_id=row[3],
        version=row[4],
        name=row[5],
        bundle_sha256=row[6],
        module=row[7],
        app_variable=row[8],
        definition=definition,
    )


def _app_record(row: sqlite3.Row) -> AppRecord:
    return AppRecord(
        app_id=row[0],
        workspace_id=row[1],
        name=row[2],
        state=AppState(row[3]),
        version=row[4],
        created_at=row[5],
        deployed_at=row[6],
    )


def _report_lost_logs(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.error("log lines could not be stored: %s", done.exception())


_APP_SELECT = "SELECT id, workspace_id, name, state, version, created_at, deployed_at FROM apps"
_SEALED_SELECT = "SELECT workspace_id, name, keys, sealed, created_at, updated_at FROM secrets"


def _secret_record(row: sqlite3.Row) -> SecretRecord:
    return SecretRecord(row[0], row[1], tuple(orjson.loads(row[2])), bytes(row[3]), row[4], row[5])


class Store:
    """The gateway's records, over one `Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # Workspaces and tokens.

    async def workspace_id(self, name: str) -> str | None:
        row = await self._db.fetch_one("SELECT id FROM workspaces WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    async def create_workspace(self, name: str) -> str:
        workspace_id = new_id("ws")
        await self._db.write(
            [
                (
                    "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                    (workspace_id, name, time.time()),
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

    # Secrets.

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

    # Apps and functions.

    async def deploy_app(
        self,
        workspace_id: str,
        name: str,
        state: AppState,
        functions: list[dict[str, Any]],
        source: tuple[str, str, str],
        endpoints: dict[str, str],
        current: AppRecord | None,
    ) -> tuple[AppRecord, list[FunctionRecord]]:
        """Create the app, or the next version of `current`, with its functions, in one commit.

        `source` is `(bundle_sha256, module, app_variable)`; `endpoints` maps each web host of
        the app to its function and replaces the ones it had. Callers serialise deploys of one
        workspace, so the version they read as `current` cannot change meanwhile.
        """
        now = time.time()
        if current is None:
            app = AppRecord(new_id("ap"), workspace_id, name, state, 1, now, now)
            statements: list[Statement] = [
                (
                    "INSERT INTO apps (id, workspace_id, name, state, version, created_at, "
                    "deployed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (app.app_id, workspace_id, name, state.value, 1, now, now),
                )
            ]
        else:
            app = AppRecord(
                current.app_id,
                workspace_id,
                name,
                state,
                current.version + 1,
                current.created_at,
                now,
            )
            statements = [
                (
                    "UPDATE apps SET version = ?, deployed_at = ? WHERE id = ?",
                    (app.version, now, app.app_id),
                )
            ]
        records = [
            FunctionRecord(
                new_id("fu"),
                app.app_id,
                name,
                workspace_id,
                app.version,
                str(definition["name"]),
                *source,
                definition,
            )
            for definition in functions
        ]
        statements += [
            (
                "INSERT INTO functions (id, app_id, version, name, bundle_sha256, module, "
                "app_variable, definition) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f.function_id,
                    f.app_id,
                    f.version,
                    f.name,
                    f.bundle_sha256,
                    f.module,
                    f.app_variable,
                    orjson.dumps(f.definition),
                ),
            )
            for f in records
        ]
        statements.append(("DELETE FROM endpoints WHERE app_id = ?", (app.app_id,)))
        statements += [
            (
                "INSERT INTO endpoints (host, workspace_id, app_id, function_name) "
                "VALUES (?, ?, ?, ?)",
                (host, workspace_id, app.app_id, function_name),
            )
            for host, function_name in endpoints.items()
        ]
        try:
            await self._db.write(statements)
        except StoreConflict as exc:
            raise Conflict(f"a web label or domain of app {name!r} is already in use") from exc
        return app, records

    async def find_app(
        self, workspace_id: str, app_ref: str, *, include_ephemeral: bool = True
    ) -> AppRecord | None:
        """The app named `app_ref` (deployed) or with id `app_ref` (any live state)."""
        row = await self._db.fetch_one(
            f"{_APP_SELECT} WHERE workspace_id = ? AND name = ? AND state = 'deployed'",
            (workspace_id, app_ref),
        )
        if row is None and include_ephemeral:
            row = await self._db.fetch_one(
                f"{_APP_SELECT} WHERE workspace_id = ? AND id = ? AND state != 'stopped'",
                (workspace_id, app_ref),
            )
        return None if row is None else _app_record(row)

    async def list_apps(self, workspace_id: str) -> list[AppRecord]:
        rows = await self._db.fetch_all(
            f"{_APP_SELECT} WHERE workspace_id = ? ORDER BY deployed_at DESC", (workspace_id,)
        )
        return [_app_record(row) for row in rows]

    async def stop_app(self, app_id: str) -> None:
        await self._db.write(
            [
                ("UPDATE apps SET state = 'stopped' WHERE id = ?", (app_id,)),
                ("DELETE FROM endpoints WHERE app_id = ?", (app_id,)),
            ]
        )

    async def endpoint_owners(self, hosts: list[str]) -> dict[str, str]:
        """The app id that holds each of `hosts` now (hosts nobody holds are left out)."""
        marks = ", ".join("?" for _ in hosts)
        rows = await self._db.fetch_all(
            f"SELECT host, app_id FROM endpoints WHERE host IN ({marks})", hosts
        )
        return {row[0]: row[1] for row in rows}

    async def endpoint(self, host: str) -> tuple[str, str, str] | None:
        """`(workspace_id, app_id, function_name)` of the endpoint at `host`."""
        row = await self._db.fetch_one(
            "SELECT workspace_id, app_id, function_name FROM endpoints WHERE host = ?", (host,)
        )
        return None if row is None else (row[0], row[1], row[2])

    async def functions_of(self, app: AppRecord) -> list[FunctionRecord]:
        rows = await self._db.fetch_all(
            f"{_FUNCTION_SELECT} WHERE f.app_id = ? AND f.version = ? ORDER BY f.name",
            (app.app_id, app.version),
        )
        return [_function_record(row) for row in rows]

    async def current_functions(self) -> list[FunctionRecord]:
        """The current version of every function of every live app."""
        rows = await self._db.fetch_all(
            f"{_FUNCTION_SELECT} WHERE f.version = a.version AND a.state != 'stopped'"
        )
        return [_function_record(row) for row in rows]

    def set_autoscaler(self, function_id: str, settings: dict[str, Any]) -> asyncio.Future[None]:
        """Merge autoscaler settings into the function's (kept until its app's next deploy)."""
        return self._db.write(
            [
                (
                    "UPDATE functions SET autoscaler = json_patch(coalesce(autoscaler, '{}'), ?) "
                    "WHERE id = ?",
                    (orjson.dumps(settings).decode(), function_id),
                )
            ]
        )

    async def function_by_id(self, function_id: str) -> FunctionRecord | None:
        row = await self._db.fetch_one(f"{_FUNCTION_SELECT} WHERE f.id = ?", (function_id,))
        return None if row is None else _function_record(row)

    # Calls.

    def insert_call(self, call: NewCall) -> asyncio.Future[None]:
        return self._db.write(
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
                )
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

    async def active_calls(self) -> list[ActiveCall]:
        rows = await self._db.fetch_all(
            f"SELECT {_CALL_COLUMNS}, payload_format, payload, payload_sha256, wants_json, "
            "wants_pickle, variant FROM calls WHERE status IN ('pending', 'running') "
            "ORDER BY created_at"
        )
        return [
            ActiveCall(
                _call_record(row), row[8], row[9], row[10], bool(row[11]), bool(row[12]), row[13]
            )
            for row in rows
        ]

    async def expire_outputs(self, now: float) -> int:
        """Drop the outputs of calls past their retention; their ids answer 410 from now on."""
        counts = await self._db.write_counting(
            [
                (
                    "UPDATE calls SET expired = 1, output_pickled = NULL, output_json = NULL, "
                    "output_pickled_sha256 = NULL, output_json_sha256 = NULL, error = NULL, "
                    "payload = NULL, payload_sha256 = NULL "
                    "WHERE expired = 0 AND expires_at IS NOT NULL AND expires_at <= ?",
                    (now,),
                )
            ],
            heavy=True,
        )
        return counts[0]

    # Logs.

    def append_logs(
        self, rows: list[tuple[str, str, str, str, str, float]]
    ) -> asyncio.Future[None]:
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
        await self._db.write([("DELETE FROM logs WHERE created_at < ?", (cutoff,))], heavy=True)
