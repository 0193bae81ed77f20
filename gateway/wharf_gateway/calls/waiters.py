"""Callers waiting for calls that are not in this gateway's memory (parked in the store): one
future per call, resolved when the call's outcome is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from wharf_gateway.models import CallOutcome


class Waiters:
    """The futures of waited-for calls, each kept while someone waits on it."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[asyncio.Future[CallOutcome], int]] = {}

    @contextmanager
    def waiting(self, call_id: str) -> Iterator[asyncio.Future[CallOutcome]]:
        """A future the call's outcome resolves, for as long as the block runs. Take it before
        reading the call's status, so that an outcome stored meanwhile is not missed."""
        future, users = self._waiting.get(call_id, (None, 0))
        if future is None:
            future = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = (future, users + 1)
        try:
            yield future
        finally:
            future, users = self._waiting[call_id]
            if users == 1:
                del self._waiting[call_id]
            else:
                self._waiting[call_id] = (future, users - 1)

    def resolve(self, outcome: CallOutcome) -> None:
        """The call's outcome is stored: whoever waits for it has it."""
        entry = self._waiting.get(outcome.call_id)
        if entry is not None and not entry[0].done():
            entry[0].set_result(outcome)
