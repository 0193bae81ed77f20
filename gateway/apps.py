"""Apps and their functions: deploys, lookups (cached for the call path), stops."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from gateway.blobs import BlobStore
from gateway.errors import NotFound
from gateway.manifest import Manifest
from gateway.models import AppRecord, AppState, FunctionRecord
from gateway.scheduler import Scheduler
from gateway.store import Store


class AppService:
    """Deploys and finds apps; function lookups are served from memory after the first."""

    def __init__(self, store: Store, blobs: BlobStore, scheduler: Scheduler) -> None:
        self._store = store
        self._blobs = blobs
        self._scheduler = scheduler
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._functions: dict[tuple[str, str, str], FunctionRecord] = {}

    async def deploy(
        self, workspace_id: str, manifest: Manifest, bundle: bytes
    ) -> tuple[AppRecord, list[FunctionRecord]]:
        """Store the bundle and a new version; calls in flight finish on the old one."""
        bundle_sha256 = await self._blobs.put(bundle)
        state = AppState.EPHEMERAL if manifest.ephemeral else AppState.DEPLOYED
        async with self._locks[workspace_id]:
            previous: list[FunctionRecord] = []
            if state is AppState.DEPLOYED:
                current = await self._store.find_app(
                    workspace_id, manifest.name, include_ephemeral=False
                )
                if current is not None:
                    previous = await self._store.functions_of(current)
            app, functions = await self._store.deploy_app(
                workspace_id,
                manifest.name,
                state,
                manifest.functions,
                (bundle_sha256, manifest.module, manifest.app_variable),
            )
            self._functions.clear()
        self._scheduler.retire({f.function_id for f in previous})
        return app, functions

    async def app(self, workspace_id: str, app_ref: str) -> AppRecord:
        """The live app named (or with id) `app_ref`.

        Raises:
            NotFound: no such live app in this workspace.
        """
        app = await self._store.find_app(workspace_id, app_ref)
        if app is None:
            raise NotFound(f"no app named {app_ref!r}")
        return app

    async def functions(self, app: AppRecord) -> list[FunctionRecord]:
        return await self._store.functions_of(app)

    async def function(self, workspace_id: str, app_ref: str, name: str) -> FunctionRecord:
        """The current version of a function.

        Raises:
            NotFound: no such app or function in this workspace.
        """
        key = (workspace_id, app_ref, name)
        cached = self._functions.get(key)
        if cached is not None:
            return cached
        app = await self.app(workspace_id, app_ref)
        for function in await self._store.functions_of(app):
            if function.name == name:
                self._functions[key] = function
                return function
        raise NotFound(f"app {app.name!r} has no function named {name!r}")

    async def stop(self, workspace_id: str, app_ref: str) -> AppRecord:
        """Stop an app: its functions take no more calls; waiting and running ones end."""
        async with self._locks[workspace_id]:
            app = await self.app(workspace_id, app_ref)
            await self._store.stop_app(app.app_id)
            self._functions.clear()
        self._scheduler.terminate_app(app.app_id, f"app {app.name!r} was stopped")
        return app
