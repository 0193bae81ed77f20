"""Bearer-token authentication: `Authorization: Bearer <token_id>:<token_secret>`."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from wharf_gateway.errors import Unauthorized
from wharf_gateway.models import Principal, TokenKind, TokenRecord, utc_text
from wharf_gateway.security.ratelimit import FailureThrottle
from wharf_gateway.storage.workspaces import WorkspaceStore, secret_digest

#: How long a token's record is trusted from memory: a revocation made by another process (the
#: `wharf token revoke` command) takes effect within this time.
TOKEN_CACHE_S = 5.0
#: Compared against when the token id is unknown, so both paths take the same time.
_DUMMY_DIGEST = secret_digest("wharf-no-such-token")


def parse_bearer(header: str | None) -> tuple[str, str]:
    """`(token_id, secret)` from an Authorization header.

    Raises:
        Unauthorized: the header is missing or not `Bearer <id>:<secret>`.
    """
    if not header:
        raise Unauthorized("this request needs a token: Authorization: Bearer <id>:<secret>")
    scheme, _, credentials = header.partition(" ")
    token_id, _, secret = credentials.strip().partition(":")
    if scheme.lower() != "bearer" or not token_id or not secret:
        raise Unauthorized("the Authorization header must be `Bearer <token_id>:<token_secret>`")
    return token_id, secret


class TokenAuthority:
    """Checks tokens against the store, caching records (never secrets) by token id."""

    def __init__(self, store: WorkspaceStore, throttle: FailureThrottle | None = None) -> None:
        self._store = store
        #: Failed attempts per client address; None: no throttling (server-host tools).
        self.throttle = throttle
        self._cache: dict[str, tuple[TokenRecord, float]] = {}
        #: Bumped by every revocation, so a lookup that raced one is not cached.
        self._generation = 0

    async def authenticate(self, header: str | None, client: str = "") -> Principal:
        """The principal a request from the address `client` acts for.

        Raises:
            RateLimited: `client` failed too often lately (answered before any secret is read).
            Unauthorized: missing, malformed, unknown, wrong, revoked or expired token (one
                message for an unknown id and a wrong secret, so a caller learns nothing about
                which ids exist; a caller with the right secret learns it was revoked or expired).
        """
        return await self._throttled(client, lambda: self._check(*parse_bearer(header)))

    async def check(self, token_id: str, secret: str, client: str = "") -> Principal:
        """The principal of a token given as its id and secret (see `authenticate`)."""
        return await self._throttled(client, lambda: self._check(token_id, secret))

    async def _throttled(
        self, client: str, attempt: Callable[[], Awaitable[Principal]]
    ) -> Principal:
        if self.throttle is not None:
            self.throttle.admit(client)
        try:
            return await attempt()
        except Unauthorized:
            if self.throttle is not None:
                self.throttle.failed(client)
            raise

    async def _check(self, token_id: str, secret: str) -> Principal:
        cached = self._cache.get(token_id)
        record = None
        if cached is not None and time.monotonic() - cached[1] < TOKEN_CACHE_S:
            record = cached[0]
        else:
            generation = self._generation
            record = await self._store.token(token_id)
            if record is not None and generation == self._generation:
                self._cache[token_id] = (record, time.monotonic())
        expected = record.secret_sha256 if record is not None else _DUMMY_DIGEST
        matches = hmac.compare_digest(secret_digest(secret), expected)
        if record is None or not matches:
            raise Unauthorized("the token is not valid")
        # The caller holds the secret: it may learn what became of its token.
        if record.revoked:
            raise Unauthorized(f"the token {token_id} was revoked")
        if record.expires_at is not None and time.time() >= record.expires_at:
            raise Unauthorized(f"the token {token_id} expired at {utc_text(record.expires_at)}")
        return Principal(
            record.workspace_id,
            record.workspace_name,
            record.token_id,
            is_admin=record.kind is TokenKind.ADMIN,
        )

    async def revoke(self, token_id: str) -> None:
        self._generation += 1
        self._cache.pop(token_id, None)
        await self._store.revoke_token(token_id)
