"""Idempotency keys: a request that creates calls, sent again with the same `Idempotency-Key`
(a client retrying after a dropped connection), gets the calls the first one made, for a day.
The same key with a different request is refused (409)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from wharf_gateway.errors import Conflict, InvalidRequest
from wharf_gateway.storage.idempotency import IdempotencyStore

IDEMPOTENCY_HEADER = "idempotency-key"
#: Sent by the Python client with its keys: how many times it sent the request before. At 0
#: the key is a fresh UUID, so it is not looked up, only recorded in the call's own commit.
#: Other clients' keys are always looked up.
ATTEMPT_HEADER = "wharf-attempt"
#: How long a key is remembered.
KEY_TTL_S = 24 * 3600.0
MAX_KEY_CHARS = 255


def check_key(value: str | None) -> str | None:
    """An `Idempotency-Key` header's value, if one was sent.

    Raises:
        InvalidRequest: empty, or longer than 255 characters.
    """
    if value is None:
        return None
    if not 0 < len(value) <= MAX_KEY_CHARS:
        raise InvalidRequest(f"an Idempotency-Key has 1 to {MAX_KEY_CHARS} characters")
    return value


def fingerprint(parts: Iterable[bytes]) -> str:
    """What makes two requests the same request (route, headers that shape it, body)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


@dataclass(slots=True)
class Claim:
    """A key being used: `existing` holds the first request's answer, else the request runs
    and sets `answer` to be remembered (or `recorded`, when the call's own commit holds it)."""

    existing: dict[str, Any] | None
    answer: dict[str, Any] | None = field(default=None)
    recorded: bool = False


class IdempotencyKeys:
    """Serialises requests of one key (so two at once cannot both create calls) and keeps
    answers in the store."""

    def __init__(self, store: IdempotencyStore) -> None:
        self._store = store
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def claim(
        self, workspace_id: str, key: str, print_: str, *, fresh: bool = False
    ) -> AsyncIterator[Claim]:
        """Use `key` for a request of fingerprint `print_` (`fresh`: the client says it never
        sent it before, so it is not looked up).

        Raises:
            Conflict: the key was used for a different request.
        """
        slot = (workspace_id, key)
        lock, users = self._locks.get(slot, (asyncio.Lock(), 0))
        self._locks[slot] = (lock, users + 1)
        try:
            async with lock:
                found = None
                if not fresh:
                    found = await self._store.idempotent_answer(
                        workspace_id, key, time.time() - KEY_TTL_S
                    )
                if found is not None and found[0] != print_:
                    raise Conflict(
                        f"the Idempotency-Key {key!r} was used for a different request; "
                        "use a new key for a new call"
                    )
                claim = Claim(None if found is None else found[1])
                yield claim
                if claim.existing is None and claim.answer is not None and not claim.recorded:
                    await self._store.remember_answer(workspace_id, key, print_, claim.answer)
        finally:
            lock, users = self._locks[slot]
            if users == 1:
                del self._locks[slot]
            else:
                self._locks[slot] = (lock, users - 1)

    async def forget_expired(self) -> None:
        await self._store.forget_answers_before(time.time() - KEY_TTL_S)
