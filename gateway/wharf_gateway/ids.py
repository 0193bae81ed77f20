"""Ids: a type prefix plus 128 random bits, so they can be neither guessed nor confused."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """`prefix-` followed by 128 random bits in hex (e.g. `fc-3f2a...`)."""
    return f"{prefix}-{secrets.token_hex(16)}"


def new_secret() -> str:
    """A token secret: 256 random bits, URL-safe."""
    return f"ws-{secrets.token_urlsafe(32)}"
