"""The gateway's records in one object, for the services that use several kinds of them.

Each kind has a module of its own (`workspaces`, `secrets`, `apps`, `calls`, `logs`,
`domains`, `idempotency`); a caller that needs one kind only may take that part's class
instead. All of them share one `Database`.
"""

from __future__ import annotations

from wharf_gateway.storage.apps import AppStore
from wharf_gateway.storage.calls import CallStore
from wharf_gateway.storage.domains import DomainStore
from wharf_gateway.storage.idempotency import IdempotencyStore
from wharf_gateway.storage.logs import LogStore
from wharf_gateway.storage.secrets import SecretStore
from wharf_gateway.storage.workspaces import WorkspaceStore


class Store(
    WorkspaceStore, SecretStore, AppStore, CallStore, LogStore, DomainStore, IdempotencyStore
):
    """Every kind of the gateway's records, over one `Database`."""
