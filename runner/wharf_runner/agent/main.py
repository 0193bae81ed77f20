"""The agent: the process inside each container that loads the app and runs its inputs.

| variable | type | default | what |
| --- | --- | --- | --- |
| `RUNNER_BUNDLE_PATH` | path | required | the zipped app sources |
| `RUNNER_MODULE` | str | required | the module to import from the bundle |
| `RUNNER_APP_VARIABLE` | str | required | the name of the `App` in that module |
| `RUNNER_APP_ID` | str | required | the deployed app the functions belong to |
| `RUNNER_FUNCTION` | str | none | the function this container serves (its web app, if any) |
| `RUNNER_HOST` | str | `127.0.0.1` | address to listen on |
| `RUNNER_PORT` | int | `0` (any free port) | port to listen on |
| `RUNNER_WEB_PORT` | int | `0` (any free port) | port of the web app (not of a `@web_server`) |
| `RUNNER_READY_FD` | int | none | pipe to report readiness or the startup error on, as JSON |
| `RUNNER_READY_STDOUT` | bool | `0` | report on standard output instead, after `READY_MARKER` |
| `RUNNER_EXIT_ON_STDIN_EOF` | bool | `0` | exit when standard input closes (gateway gone) |
| `RUNNER_MAX_BODY_BYTES` | int | 1 GiB | largest input accepted |
| `RUNNER_AGENT_SECRET` | str | none | inputs must carry it as `Authorization: Bearer` |
| `RUNNER_MAX_INPUTS` | int | `1` | inputs run at once; with 1, sync functions run on the loop |
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from wharf.container import App, find_app, hydrate_app

from wharf_runner.agent.executor import collect, execute, execute_stream, failure_output
from wharf_runner.agent.interrupts import Interrupts
from wharf_runner.agent.lifecycle import Served, run_exit_hooks, serve_target
from wharf_runner.agent.payloads import offload_value, with_payload
from wharf_runner.agent.watchdog import Watchdog
from wharf_runner.channel.envelope import (
    Input,
    Output,
    decode_input,
    decode_inputs,
    encode_output,
    encode_outputs,
)
from wharf_runner.channel.wire import STREAM_LIMIT_BYTES, encode_message, read_message
from wharf_runner.errors import ProtocolError

if TYPE_CHECKING:
    from wharf_runner.agent.web import WebServer

_GENERATE_LINE = "POST /generate "
_CANCEL_LINE = "POST /cancel "
_LIFELINE_LINE = "POST /lifeline "
#: The status line of each value a generator yields (the end is a plain 200).
_ITEM_STATUS = "HTTP/1.1 206 Item"
#: Exit status of an agent whose app could not be loaded.
STARTUP_FAILED_EXIT_CODE = 3
#: Starts the readiness report on standard output (where no pipe can be passed: Docker).
READY_MARKER = "\x00wharf-ready "


@dataclass(frozen=True, slots=True)
class AgentConfig:
    bundle_path: Path
    module: str
    app_variable: str
    app_id: str
    function_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    web_port: int = 0
    ready_fd: int | None = None
    ready_stdout: bool = False
    exit_on_stdin_eof: bool = False
    max_body_bytes: int = 1 << 30
    max_inputs: int = 1
    agent_secret: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AgentConfig:
        def required(name: str) -> str:
            value = environ.get(name)
            if not value:
                raise SystemExit(f"agent: {name} must be set")
            return value

        ready_fd = environ.get("RUNNER_READY_FD")
        return cls(
            bundle_path=Path(required("RUNNER_BUNDLE_PATH")),
            module=required("RUNNER_MODULE"),
            app_variable=required("RUNNER_APP_VARIABLE"),
            app_id=required("RUNNER_APP_ID"),
            function_name=environ.get("RUNNER_FUNCTION") or None,
            host=environ.get("RUNNER_HOST", "127.0.0.1"),
            port=int(environ.get("RUNNER_PORT", "0")),
            web_port=int(environ.get("RUNNER_WEB_PORT", "0")),
            ready_fd=int(ready_fd) if ready_fd else None,
            ready_stdout=environ.get("RUNNER_READY_STDOUT", "0") == "1",
            exit_on_stdin_eof=environ.get("RUNNER_EXIT_ON_STDIN_EOF", "0") == "1",
            max_body_bytes=int(environ.get("RUNNER_MAX_BODY_BYTES", str(1 << 30))),
            max_inputs=int(environ.get("RUNNER_MAX_INPUTS", "1")),
            agent_secret=environ.get("RUNNER_AGENT_SECRET", ""),
        )


def load_app(config: AgentConfig, source_dir: Path) -> App:
    """Unpack the bundle, import the module, and return its app, bound to the deployed one."""
    with zipfile.ZipFile(config.bundle_path) as archive:
        archive.extractall(source_dir)
    sys.path.insert(0, str(source_dir))
    module = __import__(config.module)
    _, app = find_app(module, config.app_variable)
    hydrate_app(app, config.app_id)
    return app


class Agent:
    """Serves the input channel for the functions (or class methods) a container runs."""

    def __init__(
        self,
        config: AgentConfig,
        functions: dict[str, Callable[..., Any]],
        interrupts: Interrupts | None = None,
        hold_lifeline: Callable[[socket.socket], None] | None = None,
    ) -> None:
        self._config = config
        self._functions = functions
        self._interrupts = interrupts or Interrupts()
        self._hold_lifeline = hold_lifeline

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while (message := await read_message(reader, self._config.max_body_bytes)) is not None:
                if not self._is_authorized(message.headers.get("authorization", "")):
                    writer.write(encode_message("HTTP/1.1 401 Unauthorized", {}, b""))
                    break
                if message.start_line.startswith(_GENERATE_LINE):
                    await self._generate(message.body, writer)
                    continue
                if message.start_line.startswith(_LIFELINE_LINE):
                    # Held by the watchdog from now on; this handler's copy closes below.
                    if self._hold_lifeline is not None:
                        self._hold_lifeline(writer.get_extra_info("socket"))
                    break
                if message.start_line.startswith(_CANCEL_LINE):
                    # Answers whether the input was stopped; "running" when it runs sync code.
                    stopped = self._interrupts.cancel(message.body.decode(errors="replace"))
                    body = b"cancelled" if stopped else b"running"
                    writer.write(encode_message("HTTP/1.1 200 OK", {}, body))
                    await writer.drain()
                    continue
                status, body = await self._respond(message.start_line, message.body)
                writer.write(encode_message(f"HTTP/1.1 {status}", {}, body))
                await writer.drain()
        except (ProtocolError, ConnectionError):
            pass  # the gateway sees the closed connection and retries elsewhere
        finally:
            writer.close()

    def _is_authorized(self, header: str) -> bool:
        expected = f"Bearer {self._config.agent_secret}"
        return not self._config.agent_secret or hmac.compare_digest(header, expected)

    async def _respond(self, start_line: str, body: bytes) -> tuple[str, bytes]:
        method, _, rest = start_line.partition(" ")
        path = rest.partition(" ")[0]
        if method == "GET" and path == "/health":
            return "200 OK", b""
        if method != "POST" or path != "/batch":
            return "404 Not Found", b""
        items = decode_inputs(body)
        if any(item.function_name not in self._functions for item in items):
            return "404 Not Found", b""
        # A batch runs its inputs one after another (it holds one of the container's slots),
        # and stops early when its answer would grow too big: the gateway sends the rest again.
        outputs: list[Output] = []
        size = 0
        started = time.perf_counter()
        for item in items:
            if outputs and size > self._config.max_body_bytes // 4:
                break
            outputs.append(await self._run(item))
            size += len(outputs[-1].pickled or b"") + len(outputs[-1].json or b"")
        return "200 OK", encode_outputs(outputs, time.perf_counter() - started)

    async def _generate(self, body: bytes, writer: asyncio.StreamWriter) -> None:
        """Run a generator function's input: each value goes out as a `206` message as it is
        yielded (waiting while the gateway is not reading), then the end as a `200`."""
        item = decode_input(body)
        function = self._functions.get(item.function_name)
        if function is None:
            writer.write(encode_message("HTTP/1.1 404 Not Found", {}, b""))
            return

        async def emit(output: Output) -> None:
            writer.write(encode_message(_ITEM_STATUS, {}, encode_output(output)))
            await writer.drain()

        async def work() -> Output:
            try:
                loaded = await with_payload(item)
            except Exception as exc:  # its arguments' blob could not be fetched
                return failure_output(exc, item)
            return await execute_stream(function, loaded, emit, inline=self._config.max_inputs == 1)

        final = await self._interrupts.run(item, function, work)
        writer.write(encode_message("HTTP/1.1 200 OK", {}, encode_output(final)))
        await writer.drain()

    async def _run(self, item: Input) -> Output:
        function = self._functions[item.function_name]
        return await self._interrupts.run(item, function, lambda: self._execute(function, item))

    async def _execute(self, function: Callable[..., Any], item: Input) -> Output:
        # One input at a time: nothing else needs the loop, so skip the hop to a thread.
        inline = self._config.max_inputs == 1
        try:
            item = await with_payload(item)
            if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
                output = await collect(function, item, inline=inline)  # a map: all its values
            else:
                output = await execute(function, item, inline=inline)
            output = await offload_value(output)
        except Exception as exc:  # the blob could not be fetched or stored
            return failure_output(exc, item)
        size = len(output.pickled or b"") + len(output.json or b"")
        if size > self._config.max_body_bytes:
            too_large = ValueError(
                f"the result is {size} bytes, over the gateway's limit of "
                f"{self._config.max_body_bytes} bytes; store it elsewhere and return a reference"
            )
            output = failure_output(too_large, item)
        return output


def _report_ready(config: AgentConfig, report: dict[str, object]) -> None:
    if config.ready_stdout:
        sys.stdout.write(READY_MARKER + orjson.dumps(report).decode() + "\n")
        sys.stdout.flush()
    if config.ready_fd is None:
        return
    os.write(config.ready_fd, orjson.dumps(report) + b"\n")
    os.close(config.ready_fd)


class _EndOfInput(asyncio.Protocol):
    def __init__(self, closed: asyncio.Event) -> None:
        self._closed = closed

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()


#: Threads for the agent's own blocking work (fetching and storing blobs) beside the inputs.
_SPARE_THREADS = 4


def _size_thread_pool(config: AgentConfig) -> None:
    """Give sync inputs a thread each: `max_inputs` of them run at once (the loop's default
    pool would hold them to `min(32, cores + 4)`)."""
    workers = config.max_inputs + _SPARE_THREADS
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wharf-input")
    )


def _stop_on_sigterm() -> asyncio.Event:
    """An event SIGTERM sets. Installed before the agent reports ready: the gateway may stop
    a container at once, and the default action would kill it without its exit hooks."""
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    return stopped


async def _until_stopped(config: AgentConfig, stopped: asyncio.Event) -> None:
    """Until `stopped` is set, or until standard input closes when the gateway owns our stdin."""
    if config.exit_on_stdin_eof:
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: _EndOfInput(stopped), sys.stdin)
    await stopped.wait()


async def serve_agent(config: AgentConfig) -> int:
    """Load the app, listen, report readiness; returns the process exit status."""
    web: WebServer | None = None
    with tempfile.TemporaryDirectory(prefix="wharf-app-") as source_dir:
        try:
            app = load_app(config, Path(source_dir))
            served = await serve_target(app, config.function_name, os.environ)
            web = await _start_web(config, served)
        except BaseException as exc:
            # Any start-up failure (import, the web app) is reported to the gateway, then exit.
            detail = "".join(traceback.format_exception(exc))
            print(detail, file=sys.stderr, flush=True)
            _report_ready(config, {"error": f"{type(exc).__name__}: {exc}", "traceback": detail})
            return STARTUP_FAILED_EXIT_CODE
        stopped = _stop_on_sigterm()
        _size_thread_pool(config)
        interrupts = Interrupts()
        watchdog = Watchdog(
            asyncio.get_running_loop(),
            stopped,
            interrupts.busy,
            parent_pid=os.getppid() if config.exit_on_stdin_eof else None,
        )
        agent = Agent(config, served.callables, interrupts, watchdog.hold)
        server = await asyncio.start_server(
            agent.handle_connection, config.host, config.port, limit=STREAM_LIMIT_BYTES
        )
        port = server.sockets[0].getsockname()[1]
        watchdog.start()
        _report_ready(config, {"port": port, "web_port": None if web is None else web.port})
        async with server:
            await _until_stopped(config, stopped)
        if web is not None:
            await web.close()
        await run_exit_hooks(served)
    return 0


async def _start_web(config: AgentConfig, served: Served) -> WebServer | None:
    """Serve the container's web function, if it has one."""
    if served.web is None:
        return None
    # Imported here: the web servers cost a container that serves no web function ~0.1 s.
    import anyio.to_thread

    from wharf_runner.agent.web import WebServer

    # Sync endpoints run on anyio's threads (40 by default): as many as the requests let in.
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, config.max_inputs)
    web = WebServer(config.host, config.web_port)
    await web.start(*served.web)
    return web
