"""Credentials for user code inside containers, so it can call other functions."""

from __future__ import annotations

from pathlib import Path

from wharf_gateway.models import TokenKind
from wharf_gateway.security.auth import TokenAuthority
from wharf_gateway.storage.workspaces import WorkspaceStore


class ContainerCredentials:
    """Mints a token per container (revoked when it stops) and the client variables to use it."""

    def __init__(
        self,
        store: WorkspaceStore,
        authority: TokenAuthority,
        internal_url: str,
        ca_bundle: Path | None = None,
    ) -> None:
        self._store = store
        self._authority = authority
        self._internal_url = internal_url
        self._ca_bundle = ca_bundle

    async def mint(self, workspace_id: str) -> tuple[dict[str, str], str]:
        """`(environment, token_id)` for a new container of the workspace."""
        token_id, secret = await self._store.create_token(workspace_id, TokenKind.CONTAINER)
        environment = {
            "WHARF_SERVER_URL": self._internal_url,
            "WHARF_TOKEN_ID": token_id,
            "WHARF_TOKEN_SECRET": secret,
        }
        if self._ca_bundle is not None:
            # Over HTTPS, user code must trust the gateway's certificate to call it back.
            environment["WHARF_CA_BUNDLE"] = str(self._ca_bundle)
        return environment, token_id

    async def revoke(self, token_id: str) -> None:
        await self._authority.revoke(token_id)
