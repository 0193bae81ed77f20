"""A Docker container's output, read on a thread of its own: its lines go to the backend's
events, and the agent's readiness report (a line after `READY_MARKER`) to a future."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from wharf_runner.agent.main import READY_MARKER
from wharf_runner.backends.base import ContainerEvents, LogStream
from wharf_runner.backends.docker_engine import ContainerOutput
from wharf_runner.errors import EngineError

#: Longest log line passed on; a longer one is cut into pieces.
MAX_LOG_LINE_BYTES = 64 * 1024


def pump_output(
    container_id: str,
    output: ContainerOutput,
    events: ContainerEvents,
    ready: asyncio.Future[dict[str, Any]],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Until the output ends: its lines to `events`, its readiness report to `ready` (both in
    `loop`). Runs on a thread."""
    partial = {LogStream.STDOUT: b"", LogStream.STDERR: b""}

    def emit(kind: LogStream, line: bytes) -> None:
        text = line.decode(errors="replace")
        if kind is LogStream.STDOUT and text.startswith(READY_MARKER):
            report = orjson.loads(text[len(READY_MARKER) :])
            loop.call_soon_threadsafe(resolve, ready, report)
        else:
            loop.call_soon_threadsafe(events.on_log, container_id, kind, text)

    try:
        for out, err in output:
            for kind, chunk in ((LogStream.STDOUT, out), (LogStream.STDERR, err)):
                if not chunk:
                    continue
                lines, partial[kind] = split_lines(partial[kind] + chunk)
                for line in lines:
                    emit(kind, line)
    except EngineError:
        pass  # the daemon went away: the exit waiter reports the container gone
    finally:
        output.close()
    for kind, rest in partial.items():
        if rest:
            emit(kind, rest)


def resolve(future: asyncio.Future[dict[str, Any]], report: dict[str, Any]) -> None:
    """Settle a readiness future, unless it is settled already (the first report wins)."""
    if not future.done():
        future.set_result(report)


def split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Whole lines, and the rest; a rest over MAX_LOG_LINE_BYTES (no newline in sight) is cut
    into lines of that length, so a container cannot grow the gateway's memory without bound."""
    *lines, rest = data.split(b"\n")
    while len(rest) > MAX_LOG_LINE_BYTES:
        lines.append(rest[:MAX_LOG_LINE_BYTES])
        rest = rest[MAX_LOG_LINE_BYTES:]
    return lines, rest
