"""Bearer tokens checked against a real store: every bad token is refused the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from wharf_gateway.errors import Unauthorized
from wharf_gateway.models import Principal, TokenKind
from wharf_gateway.security.auth import TokenAuthority, parse_bearer
from wharf_gateway.storage.database import Database
from wharf_gateway.storage.store import Store


@dataclass(frozen=True)
class _Setup:
    """A store with workspace `main` and one user token, and the authority over it."""

    store: Store
    authority: TokenAuthority
    workspace_id: str
    token_id: str
    secret: str

    @property
    def header(self) -> str:
        return f"Bearer {self.token_id}:{self.secret}"


def _run(tmp_path: Path, scenario: Callable[[_Setup], Awaitable[None]]) -> None:

    async def main() -> None:
        database = await Database.open(tmp_path / "wharf.db")
        try:
            store = Store(database)
            workspace_id = await store.create_workspace("main")
            token_id, secret = await store.create_token(workspace_id, TokenKind.USER)
            await scenario(_Setup(store, TokenAuthority(store), workspace_id, token_id, secret))
        finally:
            await database.close()

    asyncio.run(main())


def test_right_token_gives_the_principal_of_its_workspace(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        principal = await setup.authority.authenticate(setup.header)

        assert principal == Principal(setup.workspace_id, "main", setup.token_id)

    _run(tmp_path, scenario)


def test_scheme_is_case_insensitive(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        principal = await setup.authority.authenticate(f"bearer {setup.token_id}:{setup.secret}")

        assert principal.token_id == setup.token_id

    _run(tmp_path, scenario)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_refused(header: str | None) -> None:
    with pytest.raises(Unauthorized, match="this request needs a token"):
        parse_bearer(header)


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer wk-1", "Bearer :secret", "Bearer wk-1:"]
)
def test_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(Unauthorized, match="must be `Bearer <token_id>:<token_secret>`"):
        parse_bearer(header)


def test_header_is_split_into_token_id_and_secret() -> None:
    assert parse_bearer("Bearer  wk-1:ws-secret ") == ("wk-1", "ws-secret")


def test_missing_header_is_refused_by_the_authority(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        with pytest.raises(Unauthorized):
            await setup.authority.authenticate(None)

    _run(tmp_path, scenario)


def test_unknown_token_id_is_refused(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        with pytest.raises(Unauthorized, match="the token is not valid"):
            await setup.authority.authenticate(f"Bearer wk-unknown:{setup.secret}")

    _run(tmp_path, scenario)


def test_wrong_secret_is_refused(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        with pytest.raises(Unauthorized, match="the token is not valid"):
            await setup.authority.authenticate(f"{setup.header}x")

    _run(tmp_path, scenario)


def test_token_revoked_in_the_store_is_refused(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        await setup.store.revoke_token(setup.token_id)

        with pytest.raises(Unauthorized, match=f"the token {setup.token_id} was revoked"):
            await setup.authority.authenticate(setup.header)

    _run(tmp_path, scenario)


def test_revoked_token_is_refused_even_after_it_was_cached(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        await setup.authority.authenticate(setup.header)

        await setup.authority.revoke(setup.token_id)

        with pytest.raises(Unauthorized, match="was revoked"):
            await setup.authority.authenticate(setup.header)
        record = await setup.store.token(setup.token_id)
        assert record is not None
        assert record.revoked

    _run(tmp_path, scenario)


def test_a_revoked_token_with_a_wrong_secret_learns_nothing_more(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        await setup.store.revoke_token(setup.token_id)

        with pytest.raises(Unauthorized, match="the token is not valid"):
            await setup.authority.authenticate(f"Bearer {setup.token_id}:wrong")

    _run(tmp_path, scenario)


def test_an_expired_token_is_refused_with_its_expiry(tmp_path: Path) -> None:
    async def scenario(setup: _Setup) -> None:
        token_id, secret = await setup.store.create_token(
            setup.workspace_id, TokenKind.USER, expires_in_s=0.2
        )
        header = f"Bearer {token_id}:{secret}"
        assert (await setup.authority.authenticate(header)).workspace_id == setup.workspace_id
        record = await setup.store.token(token_id)
        assert record is not None
        assert record.expires_at is not None
        await asyncio.sleep(max(0.0, record.expires_at - time.time()) + 0.01)

        with pytest.raises(Unauthorized, match=f"the token {token_id} expired at 20"):
            await setup.authority.authenticate(header)

    _run(tmp_path, scenario)


def test_unauthorized_asks_for_a_bearer_token() -> None:
    error = Unauthorized("the token is not valid")

    assert (error.status, error.code) == (401, "unauthorized")
    assert error.headers == {"www-authenticate": 'Bearer realm="wharf"'}
