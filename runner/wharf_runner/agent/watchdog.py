"""The agent's watchdog: no function runs on for nobody once its gateway is gone.

A thread of its own does the watching, so it works even while a blocking function holds the
agent's event loop. It knows its gateway in one of two ways:

- **Parent** (local backend): the gateway started the agent; it is gone once the agent's
  parent changes (standard input closing tells the loop too, when the loop is free).
- **Lifelines** (Docker): the gateway holds a connection open to the agent (`POST /lifeline`)
  while it runs the container; it is gone once no lifeline is open. With an input running the
  agent stops at once. With nothing running it waits up to `ADOPTION_WINDOW_S` for a gateway
  that restarted on the same data to take it on (opening a new lifeline), warm, then stops.

Stopping asks the loop to end (exit hooks run when it can), and kills the process group if the
agent is still there `ORPHAN_GRACE_S` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable

#: Seconds the agent gets to stop by itself once its gateway is gone, before it is killed.
ORPHAN_GRACE_S = 4.0
#: How often the watchdog looks for its gateway.
WATCH_INTERVAL_S = 0.25
#: How long an idle agent that lost its lifelines waits to be taken on by a new gateway.
ADOPTION_WINDOW_S = 300.0


class Watchdog:
    """Stops the agent when its gateway is gone (see the module's text)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        stopped: asyncio.Event,
        is_busy: Callable[[], bool],
        parent_pid: int | None = None,
    ) -> None:
        self._loop = loop
        self._stopped = stopped
        self._is_busy = is_busy
        self._parent_pid = parent_pid
        self._arriving: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        #: When the last lifeline closed (None while one is open, or before the first).
        self._lost_since: float | None = None

    def start(self) -> None:
        threading.Thread(target=self._watch, name="wharf-watchdog", daemon=True).start()

    def hold(self, connection: socket.socket) -> None:
        """Take a lifeline: a copy of `connection`, watched for its end (the caller closes
        its own)."""
        self._arriving.put(connection.dup())

    def _watch(self) -> None:
        while not self._gateway_gone():
            self._take_arrivals()
            for key, _ in self._selector.select(WATCH_INTERVAL_S):
                self._read(key.fileobj)  # type: ignore[arg-type]
        self._stop()

    def _take_arrivals(self) -> None:
        while True:
            try:
                lifeline = self._arriving.get_nowait()
            except queue.Empty:
                return
            lifeline.setblocking(False)
            self._selector.register(lifeline, selectors.EVENT_READ)
            self._lost_since = None

    def _read(self, lifeline: socket.socket) -> None:
        try:
            if lifeline.recv(4096):
                return  # a gateway sends nothing on a lifeline; whatever comes is ignored
        except BlockingIOError:
            return
        except OSError:
            pass
        self._selector.unregister(lifeline)
        lifeline.close()
        if not self._selector.get_map():
            self._lost_since = time.monotonic()

    def _gateway_gone(self) -> bool:
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            return True
        if self._lost_since is None or not self._arriving.empty():
            return False
        return self._is_busy() or time.monotonic() - self._lost_since >= ADOPTION_WINDOW_S

    def _stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the agent is ending
            self._loop.call_soon_threadsafe(self._stopped.set)
        time.sleep(ORPHAN_GRACE_S)
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)  # the user's own children go too
        os.kill(os.getpid(), signal.SIGKILL)
