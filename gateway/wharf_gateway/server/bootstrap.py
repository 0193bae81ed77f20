"""Server-host administration: the first start, new tokens and workspaces."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wharf_gateway.errors import InvalidRequest
from wharf_gateway.models import TokenKind
from wharf_gateway.server.config import Config
from wharf_gateway.storage.database import Database
from wharf_gateway.storage.workspaces import WorkspaceStore

DEFAULT_WORKSPACE = "main"


@dataclass(frozen=True, slots=True)
class NewToken:
    workspace: str
    token_id: str
    secret: str

    def shell_lines(self) -> str:
        return f"WHARF_TOKEN_ID={self.token_id}\nWHARF_TOKEN_SECRET={self.secret}"


#: Units of `parse_duration`, in seconds.
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest a token may be made to last (a token meant to last for ever needs no expiry).
MAX_TOKEN_LIFETIME_S = 10 * 365 * 86400


def parse_duration(text: object) -> float:
    """A token's lifetime in seconds, from a number of seconds or a text like `90s`, `15m`,
    `12h` or `30d`.

    Raises:
        InvalidRequest: not a positive duration, or longer than 10 years.
    """
    raw = str(text).strip().lower()
    unit = raw[-1:] if raw[-1:] in _DURATION_UNITS else "s"
    number = raw[:-1] if raw[-1:] in _DURATION_UNITS else raw
    try:
        seconds = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise InvalidRequest(f"{text!r} is not a duration: give seconds, or 90s, 15m, 12h, 30d")
    if seconds > MAX_TOKEN_LIFETIME_S:
        raise InvalidRequest(
            f"{text!r} is longer than 10 years; leave the expiry out for a token that lasts"
        )
    return seconds


def check_workspace_name(name: object) -> str:
    """A valid workspace name, lower-cased: it starts every endpoint's host label, and DNS
    labels ignore case, so `MAIN` and `main` are one name.

    Raises:
        InvalidRequest: not up to 40 letters, digits and '-', or with '--' in it.
    """
    if (
        not isinstance(name, str)
        or not name.replace("-", "").isalnum()
        or not name.isascii()
        or len(name) > 40
        or "--" in name
    ):
        raise InvalidRequest("workspace names are up to 40 ASCII letters, digits and single '-'")
    return name.lower()


async def _with_store(config: Config) -> tuple[Database, WorkspaceStore]:
    database = await Database.open(config.database_path)
    return database, WorkspaceStore(database)


async def _token_of(
    store: WorkspaceStore,
    workspace_id: str,
    workspace: str,
    kind: TokenKind = TokenKind.USER,
    expires_in_s: float | None = None,
) -> NewToken:
    token_id, secret = await store.create_token(workspace_id, kind, expires_in_s)
    return NewToken(workspace, token_id, secret)


async def _existing_workspace(store: WorkspaceStore, name: str) -> str:
    workspace_id = await store.workspace_id(name)
    if workspace_id is None:
        raise InvalidRequest(f"there is no workspace named {name!r}")
    return workspace_id


async def first_start(config: Config) -> NewToken | None:
    """Create workspace `main` and its first token on an empty data dir; None otherwise."""
    database, store = await _with_store(config)
    try:
        if await store.workspace_id(DEFAULT_WORKSPACE) is not None:
            return None
        workspace_id = await store.create_workspace(DEFAULT_WORKSPACE)
        # The operator's first token may also manage workspaces and tokens.
        return await _token_of(store, workspace_id, DEFAULT_WORKSPACE, TokenKind.ADMIN)
    finally:
        await database.close()


async def new_token(
    config: Config, workspace: str, *, admin: bool = False, expires_in_s: float | None = None
) -> NewToken:
    """A new token of an existing workspace, valid for `expires_in_s` (None: until revoked).

    Raises:
        InvalidRequest: the workspace does not exist.
    """
    database, store = await _with_store(config)
    try:
        workspace_id = await _existing_workspace(store, workspace)
        kind = TokenKind.ADMIN if admin else TokenKind.USER
        return await _token_of(store, workspace_id, workspace, kind, expires_in_s)
    finally:
        await database.close()


async def create_workspace(config: Config, name: str) -> NewToken:
    """A new workspace and its first token.

    Raises:
        InvalidRequest: the name is taken or not a valid name.
    """
    check_workspace_name(name)
    database, store = await _with_store(config)
    try:
        if await store.workspace_id(name) is not None:
            raise InvalidRequest(f"workspace {name!r} already exists")
        return await _token_of(store, await store.create_workspace(name), name)
    finally:
        await database.close()


async def list_tokens(config: Config, workspace: str) -> list[dict[str, Any]]:
    """The workspace's tokens: ids and dates, never secrets.

    Raises:
        InvalidRequest: the workspace does not exist.
    """
    database, store = await _with_store(config)
    try:
        workspace_id = await _existing_workspace(store, workspace)
        return await store.tokens(workspace_id)
    finally:
        await database.close()


async def revoke_token(config: Config, token_id: str) -> None:
    """Revoke a token; a running gateway refuses it within seconds."""
    database, store = await _with_store(config)
    try:
        if await store.token(token_id) is None:
            raise InvalidRequest(f"there is no token {token_id!r}")
        await store.revoke_token(token_id)
    finally:
        await database.close()


async def set_limits(
    config: Config, workspace: str, rate_per_s: float | None, burst_s: float | None
) -> None:
    """Give a workspace rate limits of its own (None for both: the gateway's defaults again);
    a running gateway applies them within seconds."""
    if (rate_per_s is None) != (burst_s is None):
        raise InvalidRequest("give both --rate-limit-per-s and --rate-burst-s, or neither")
    if rate_per_s is not None and burst_s is not None and min(rate_per_s, burst_s) <= 0:
        raise InvalidRequest("rate limits must be positive")
    database, store = await _with_store(config)
    try:
        workspace_id = await _existing_workspace(store, workspace)
        await store.set_workspace_limits(workspace_id, rate_per_s, burst_s)
    finally:
        await database.close()


def write_profile(path: Path, server_url: str, token: NewToken) -> bool:
    """Write a client profile file unless one exists; only its owner can read it."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        f"[{token.workspace}]\n"
        f'server_url = "{server_url}"\n'
        f'token_id = "{token.token_id}"\n'
        f'token_secret = "{token.secret}"\n'
        "active = true\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return True
