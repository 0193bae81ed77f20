"""Apps and their functions: deploys, lookups (cached for the call path), stops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

from wharf_gateway.errors import Conflict, Forbidden, NotFound
from wharf_gateway.manifest.classes import class_shape
from wharf_gateway.manifest.labels import host_label
from wharf_gateway.manifest.schema import Manifest
from wharf_gateway.models import AppRecord, AppState, FunctionRecord, Principal
from wharf_gateway.scheduling.scheduler import Scheduler
from wharf_gateway.storage.blobs import BlobStore
from wharf_gateway.storage.store import Store

logger = logging.getLogger(__name__)

#: Hosts remembered between deploys (including unknown ones, so floods of them stay cheap).
_MAX_CACHED_HOSTS = 10_000


def assign_hosts(workspace: str, manifest: Manifest, *, dev: bool) -> dict[str, str]:
    """Each web host of the app (label and custom domains) and its function; records the label
    in the function's web configuration.

    Raises:
        Conflict: two functions of the app would get the same label.
    """
    hosts: dict[str, str] = {}
    for definition in manifest.functions:
        web = definition.get("web")
        if web is None:
            continue
        label = host_label(workspace, manifest.name, definition["name"], web["label"], dev=dev)
        web["host"] = label
        for host in (label, *web["custom_domains"]):
            if host in hosts:
                raise Conflict(f"functions {hosts[host]!r} and {definition['name']!r} share {host}")
            hosts[host] = definition["name"]
    return hosts


class AppService:
    """Deploys and finds apps; function lookups are served from memory after the first."""

    def __init__(
        self, store: Store, blobs: BlobStore, scheduler: Scheduler, lease_s: float = 30.0
    ) -> None:
        self._store = store
        #: How long an ephemeral app lives past its client's last renewal.
        self.lease_s = lease_s
        self._blobs = blobs
        self._scheduler = scheduler
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._functions: dict[tuple[str, str, str], FunctionRecord] = {}
        self._endpoints: dict[str, FunctionRecord | None] = {}
        #: Bumped by every deploy and stop, so lookups racing one are not cached.
        self._generation = 0

    async def deploy(
        self, principal: Principal, manifest: Manifest, bundle: bytes
    ) -> tuple[AppRecord, list[FunctionRecord]]:
        """Store the bundle and a new version; calls in flight finish on the old one.

        Raises:
            Conflict: a web label or custom domain is held by another app.
            Forbidden: a custom domain is not granted to the workspace (nothing changes then).
        """
        workspace_id = principal.workspace_id
        endpoints = assign_hosts(principal.workspace_name, manifest, dev=manifest.ephemeral)
        await self._check_domains_granted(principal, endpoints)
        bundle_sha256 = await self._blobs.put(bundle)
        state = AppState.EPHEMERAL if manifest.ephemeral else AppState.DEPLOYED
        async with self._locks[workspace_id]:
            current = await self._current(workspace_id, manifest)
            previous = [] if current is None else await self._store.functions_of(current)
            await self._check_hosts_free(endpoints, previous)
            app, functions = await self._store.deploy_app(
                workspace_id,
                manifest.name,
                state,
                manifest.functions,
                (bundle_sha256, manifest.module, manifest.app_variable),
                endpoints,
                current,
                lease_until=time.time() + self.lease_s if manifest.ephemeral else None,
            )
            self._forget_lookups()
        self._scheduler.retire({f.function_id for f in previous})
        self._scheduler.prepare(functions)
        return app, functions

    async def _current(self, workspace_id: str, manifest: Manifest) -> AppRecord | None:
        """The app a deploy makes a new version of: the deployed app of that name, or the
        ephemeral app being served (`wharf serve` redeploys it on every change)."""
        if manifest.app_id is None:
            if manifest.ephemeral:
                return None
            return await self._store.find_app(workspace_id, manifest.name, include_ephemeral=False)
        current = await self._store.find_app(workspace_id, manifest.app_id)
        if current is None or current.state is not AppState.EPHEMERAL:
            raise NotFound(f"no running ephemeral app with id {manifest.app_id!r}")
        return current

    def _forget_lookups(self) -> None:
        self._generation += 1
        self._functions.clear()
        self._endpoints.clear()

    async def _check_domains_granted(self, principal: Principal, endpoints: dict[str, str]) -> None:
        for host in sorted(endpoints):
            if "." in host and await self._store.domain_holder(host) != principal.workspace_id:
                raise Forbidden(
                    f"the custom domain {host} is not granted to workspace "
                    f"{principal.workspace_name!r}; an admin grants it with: "
                    f"wharf domain add {host} --workspace {principal.workspace_name}"
                )

    async def grant_domain(self, host: str, workspace_id: str) -> bool:
        """Grant a custom domain (see `DomainStore.grant_domain`); lookups follow at once."""
        granted = await self._store.grant_domain(host, workspace_id)
        self._forget_lookups()
        return granted

    async def revoke_domain(self, host: str) -> bool:
        """Take a custom domain back: its endpoint stops serving at once."""
        held = await self._store.revoke_domain(host)
        self._forget_lookups()
        return held

    async def _check_hosts_free(
        self, endpoints: dict[str, str], previous: list[FunctionRecord]
    ) -> None:
        own_app = previous[0].app_id if previous else None
        owners = await self._store.endpoint_owners(list(endpoints)) if endpoints else {}
        taken = sorted(host for host, app_id in owners.items() if app_id != own_app)
        if taken:
            raise Conflict(f"already used by another app: {', '.join(taken)}")

    async def endpoint(self, host: str) -> FunctionRecord | None:
        """The current function served at a web host (a host label or a custom domain)."""
        if host in self._endpoints:
            return self._endpoints[host]
        generation = self._generation
        found = await self._store.endpoint(host)
        function = None
        if found is not None:
            workspace_id, app_id, name = found
            function = await self.function(workspace_id, app_id, name)
        if generation == self._generation and len(self._endpoints) < _MAX_CACHED_HOSTS:
            self._endpoints[host] = function
        return function

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
        generation = self._generation
        app = await self.app(workspace_id, app_ref)
        for function in await self._store.functions_of(app):
            if function.name == name:
                # A deploy or stop that ran meanwhile may have made this answer stale.
                if generation == self._generation:
                    self._functions[key] = function
                return function
        raise NotFound(f"app {app.name!r} has no function named {name!r}")

    async def target(
        self, workspace_id: str, app_ref: str, name: str
    ) -> tuple[FunctionRecord, str | None]:
        """What a call of `name` runs: a function, or a class and one of its methods
        (`Class.method`).

        Raises:
            NotFound: no such app, function, class or method in this workspace.
        """
        try:
            return await self.function(workspace_id, app_ref, name), None
        except NotFound:
            class_name, dot, method = name.rpartition(".")
            if not dot:
                raise
            record = await self.function(workspace_id, app_ref, class_name)
            shape = class_shape(record)
            if shape is None or method not in shape.methods:
                known = ", ".join(sorted(shape.methods)) if shape else ""
                raise NotFound(
                    f"{class_name} has no method {method!r}"
                    + (f" (it has: {known})" if known else "")
                ) from None
            return record, method

    async def set_autoscaler(
        self, function: FunctionRecord, settings: dict[str, Any]
    ) -> FunctionRecord:
        """Change a deployed function's autoscaler settings until its app's next deploy."""
        async with self._locks[function.workspace_id]:
            app = await self.app(function.workspace_id, function.app_id)
            if app.version != function.version:
                raise Conflict(f"{app.name!r} was deployed again meanwhile; try again")
            await self._store.set_autoscaler(function.function_id, settings)
            self._forget_lookups()
            updated = await self._store.function_by_id(function.function_id)
        if updated is None:
            raise NotFound(f"function {function.name!r} is gone")
        self._scheduler.update_options(updated)
        return updated

    async def renew_lease(self, workspace_id: str, app_ref: str) -> AppRecord:
        """Keep an ephemeral app alive `lease_s` more seconds (its client still runs).

        Raises:
            NotFound: no such live ephemeral app in this workspace.
        """
        app = await self.app(workspace_id, app_ref)
        if app.state is not AppState.EPHEMERAL or not await self._store.renew_app_lease(
            app.app_id, time.time() + self.lease_s
        ):
            raise NotFound(f"{app_ref!r} is not a running ephemeral app")
        return app

    async def stop_expired(self) -> int:
        """Stop the ephemeral apps whose clients stopped renewing their leases."""
        expired = await self._store.apps_past_their_lease(time.time())
        for workspace_id, app_id in expired:
            app = await self.stop(workspace_id, app_id)
            logger.info("stopped ephemeral app %s (%s): its client is gone", app.name, app_id)
        return len(expired)

    async def stop(self, workspace_id: str, app_ref: str) -> AppRecord:
        """Stop an app: its functions take no more calls; waiting and running ones end."""
        async with self._locks[workspace_id]:
            app = await self.app(workspace_id, app_ref)
            await self._store.stop_app(app.app_id)
            self._forget_lookups()
        self._scheduler.terminate_app(app.app_id, f"app {app.name!r} was stopped")
        return app
