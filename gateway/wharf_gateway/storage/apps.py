"""Apps, the functions of each deployed version, and the web hosts (endpoints) they hold."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import orjson

from wharf_gateway.errors import Conflict, StoreConflict
from wharf_gateway.ids import new_id
from wharf_gateway.manifest.definition import FunctionDefinition
from wharf_gateway.models import AppRecord, AppState, FunctionRecord
from wharf_gateway.storage.database import Records, Statement

_APP_SELECT = "SELECT id, workspace_id, name, state, version, created_at, deployed_at FROM apps"
_FUNCTION_SELECT = (
    "SELECT f.id, f.app_id, a.name, a.workspace_id, f.version, f.name, f.bundle_sha256, "
    "f.module, f.app_variable, f.definition, f.autoscaler "
    "FROM functions f JOIN apps a ON a.id = f.app_id"
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


def _function_record(row: sqlite3.Row) -> FunctionRecord:
    definition = FunctionDefinition.from_json(orjson.loads(row[9]))
    if row[10] is not None:  # autoscaler settings changed since the deploy
        definition = definition.with_options(orjson.loads(row[10]))
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


def _next_version(
    workspace_id: str, name: str, state: AppState, current: AppRecord | None
) -> tuple[AppRecord, Statement]:
    """The app's record for this deploy (new, or `current` one version on), and its write."""
    now = time.time()
    if current is None:
        app = AppRecord(new_id("ap"), workspace_id, name, state, 1, now, now)
        return app, (
            "INSERT INTO apps (id, workspace_id, name, state, version, created_at, "
            "deployed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (app.app_id, workspace_id, name, state.value, 1, now, now),
        )
    app = AppRecord(
        current.app_id, workspace_id, name, state, current.version + 1, current.created_at, now
    )
    return app, (
        "UPDATE apps SET version = ?, deployed_at = ? WHERE id = ?",
        (app.version, now, app.app_id),
    )


def _function_insert(function: FunctionRecord) -> Statement:
    return (
        "INSERT INTO functions (id, app_id, version, name, bundle_sha256, module, "
        "app_variable, definition) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            function.function_id,
            function.app_id,
            function.version,
            function.name,
            function.bundle_sha256,
            function.module,
            function.app_variable,
            orjson.dumps(function.definition.to_json()),
        ),
    )


def _endpoint_writes(app: AppRecord, endpoints: dict[str, str]) -> list[Statement]:
    """Replace the app's endpoints by `endpoints` (`{host: function name}`)."""
    statements: list[Statement] = [("DELETE FROM endpoints WHERE app_id = ?", (app.app_id,))]
    statements += [
        (
            "INSERT INTO endpoints (host, workspace_id, app_id, function_name) VALUES (?, ?, ?, ?)",
            (host, app.workspace_id, app.app_id, function_name),
        )
        for host, function_name in endpoints.items()
    ]
    return statements


def _lease_write(app_id: str, until: float) -> Statement:
    return (
        "UPDATE apps SET lease_expires_at = ? WHERE id = ? AND state = 'ephemeral'",
        (until, app_id),
    )


class AppStore(Records):
    """The workspaces' apps, their functions by version, and their web endpoints."""

    async def deploy_app(
        self,
        workspace_id: str,
        name: str,
        state: AppState,
        functions: list[dict[str, Any]],
        source: tuple[str, str, str],
        endpoints: dict[str, str],
        current: AppRecord | None,
        lease_until: float | None = None,
    ) -> tuple[AppRecord, list[FunctionRecord]]:
        """Create the app, or the next version of `current`, with its functions, in one commit
        (an ephemeral app's lease runs until `lease_until`).

        `source` is `(bundle_sha256, module, app_variable)`; `endpoints` maps each web host of
        the app to its function and replaces the ones it had. Callers serialise deploys of one
        workspace, so the version they read as `current` cannot change meanwhile.

        Raises:
            Conflict: a host of `endpoints` is held by another app.
        """
        app, app_write = _next_version(workspace_id, name, state, current)
        records = [
            FunctionRecord(
                new_id("fu"),
                app.app_id,
                name,
                workspace_id,
                app.version,
                str(definition["name"]),
                *source,
                FunctionDefinition.from_json(definition),
            )
            for definition in functions
        ]
        statements = [app_write, *map(_function_insert, records)]
        statements += _endpoint_writes(app, endpoints)
        if lease_until is not None:
            statements.append(_lease_write(app.app_id, lease_until))
        try:
            await self._db.write(statements)
        except StoreConflict as exc:
            raise Conflict(f"a web label or domain of app {name!r} is already in use") from exc
        return app, records

    async def find_app(
        self, workspace_id: str, app_ref: str, *, include_ephemeral: bool = True
    ) -> AppRecord | None:
        """The app named `app_ref` (deployed; names compare case-insensitively) or with id
        `app_ref` (any live state)."""
        row = await self._db.fetch_one(
            f"{_APP_SELECT} WHERE workspace_id = ? AND name = ? AND state = 'deployed'",
            (workspace_id, app_ref.lower()),
        )
        if row is None and include_ephemeral:
            # By id (any live state), else an ephemeral app of that name (the newest).
            row = await self._db.fetch_one(
                f"{_APP_SELECT} WHERE workspace_id = ? AND state != 'stopped' "
                "AND (id = ? OR (name = ? AND state = 'ephemeral')) "
                "ORDER BY id = ? DESC, deployed_at DESC",
                (workspace_id, app_ref, app_ref.lower(), app_ref),
            )
        return None if row is None else _app_record(row)

    async def renew_app_lease(self, app_id: str, until: float) -> bool:
        """Move a live ephemeral app's lease on to `until`; False when there is none."""
        [changed] = await self._db.write_counting([_lease_write(app_id, until)])
        return changed == 1

    async def apps_past_their_lease(self, now: float) -> list[tuple[str, str]]:
        """`(workspace_id, app_id)` of the ephemeral apps whose client stopped renewing."""
        rows = await self._db.fetch_all(
            "SELECT workspace_id, id FROM apps WHERE state = 'ephemeral' "
            "AND (lease_expires_at IS NULL OR lease_expires_at < ?)",
            (now,),
        )
        return [(str(row[0]), str(row[1])) for row in rows]

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
        """`(workspace_id, app_id, function_name)` of the endpoint at `host`; a custom domain's
        only while it is granted to the endpoint's workspace."""
        row = await self._db.fetch_one(
            "SELECT e.workspace_id, e.app_id, e.function_name FROM endpoints e WHERE e.host = ? "
            "AND (instr(e.host, '.') = 0 OR EXISTS (SELECT 1 FROM domains d "
            "WHERE d.host = e.host AND d.workspace_id = e.workspace_id))",
            (host,),
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
