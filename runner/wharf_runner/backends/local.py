"""The `local` backend: each container is an agent subprocess on 127.0.0.1.

For development and tests: no isolation beyond a process of its own. The agent exits when its
standard input closes, so a gateway killed with SIGKILL leaves no containers behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from wharf_runner.backends.base import (
    AdoptedContainer,
    ContainerAddress,
    ContainerEvents,
    ContainerSpec,
    ImageRecipe,
    LogStream,
)
from wharf_runner.errors import ContainerStartFailed

_LOG_LINE_LIMIT_BYTES = 1 << 20
#: What a local container inherits of the gateway's environment (never its secrets): enough to
#: find Python, its packages and certificates.
INHERITED_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "WHARF_CA_BUNDLE",
        "PIP_CERT",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
    }
)
#: Prefixes of inherited variables (coverage measures the test suite's containers too).
INHERITED_PREFIXES = ("COVERAGE_",)
#: Seconds to read what an exited container still had in its output pipes.
_LOG_DRAIN_S = 0.5


@dataclass(slots=True)
class _Process:
    process: asyncio.subprocess.Process
    pumps: list[asyncio.Task[None]]


class LocalBackend:
    """Runs containers as local processes of the same Python."""

    def __init__(
        self,
        events: ContainerEvents,
        inherited_environment: Mapping[str, str],
        python: str = sys.executable,
    ) -> None:
        self._events = events
        self._inherited = dict(inherited_environment)
        self._python = python
        self._processes: dict[str, _Process] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    def _environment(self, spec: ContainerSpec, ready_fd: int) -> dict[str, str]:
        inherited = {
            name: value
            for name, value in self._inherited.items()
            if name in INHERITED_VARIABLES or name.startswith(INHERITED_PREFIXES)
        }
        return {
            **inherited,
            **spec.environment,
            "PYTHONUNBUFFERED": "1",
            "RUNNER_BUNDLE_PATH": str(spec.bundle_path),
            "RUNNER_MODULE": spec.module,
            "RUNNER_APP_VARIABLE": spec.app_variable,
            "RUNNER_APP_ID": spec.app_id,
            "RUNNER_FUNCTION": spec.function_name,
            "RUNNER_HOST": "127.0.0.1",
            "RUNNER_PORT": "0",
            "RUNNER_READY_FD": str(ready_fd),
            "RUNNER_EXIT_ON_STDIN_EOF": "1",
            "RUNNER_MAX_INPUTS": str(spec.max_inputs),
            "RUNNER_AGENT_SECRET": spec.agent_secret,
            "RUNNER_MAX_BODY_BYTES": str(spec.max_output_bytes),
            # No isolation here: CUDA is only told which GPUs are the container's.
            "CUDA_VISIBLE_DEVICES": ",".join(spec.gpu_ids),
        }

    async def start(self, spec: ContainerSpec) -> ContainerAddress:
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                self._python,
                "-m",
                "wharf_runner",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._environment(spec, write_fd),
                pass_fds=(write_fd,),
                start_new_session=True,
                limit=_LOG_LINE_LIMIT_BYTES,
            )
        finally:
            os.close(write_fd)
        pumps = [
            asyncio.create_task(self._pump(spec.container_id, process.stdout, LogStream.STDOUT)),
            asyncio.create_task(self._pump(spec.container_id, process.stderr, LogStream.STDERR)),
        ]
        self._processes[spec.container_id] = _Process(process, pumps)
        watcher = asyncio.create_task(self._watch_exit(spec.container_id, process, pumps))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        try:
            async with asyncio.timeout(spec.startup_timeout_s):
                report = await _read_report(read_fd)
        except TimeoutError as exc:
            await self.stop(spec.container_id, grace_s=0)
            raise ContainerStartFailed(
                spec.container_id, f"not ready within {spec.startup_timeout_s} s"
            ) from exc
        if "port" not in report:
            await self.stop(spec.container_id, grace_s=0)
            raise ContainerStartFailed(spec.container_id, str(report.get("error", "exited")))
        web_port = report.get("web_port")
        return ContainerAddress(
            spec.container_id,
            "127.0.0.1",
            int(str(report["port"])),
            None if web_port is None else int(str(web_port)),
        )

    async def _pump(
        self, container_id: str, stream: asyncio.StreamReader | None, kind: LogStream
    ) -> None:
        if stream is None:
            return
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the limit: pass on what we have
                line = await stream.read(_LOG_LINE_LIMIT_BYTES)
            if not line:
                return
            self._events.on_log(container_id, kind, line.decode(errors="replace").rstrip("\n"))

    async def _watch_exit(
        self,
        container_id: str,
        process: asyncio.subprocess.Process,
        pumps: list[asyncio.Task[None]],
    ) -> None:
        await _exited(process)
        # A container ends with its main process: children it left behind go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        # Drain the last log lines, but not for as long as a forked child keeps the pipes open.
        await asyncio.wait(pumps, timeout=_LOG_DRAIN_S)
        # The pidfd can tell the exit before asyncio's child watcher has collected its status
        # (`returncode`); `wait()` returns once it has, and the pipes are closed.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_LOG_DRAIN_S):
                await process.wait()
        self._processes.pop(container_id, None)
        self._events.on_exit(container_id, process.returncode)
        await process.wait()

    async def stop(self, container_id: str, grace_s: float) -> None:
        entry = self._processes.get(container_id)
        if entry is None:
            return
        process = entry.process
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace_s):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    async def list_containers(self) -> list[str]:
        return list(self._processes)

    async def adopt(self) -> list[AdoptedContainer]:
        return []  # local containers end with the gateway that started them

    @property
    def builds_images(self) -> bool:
        return False  # containers run this machine's Python, with its packages

    async def has_image(self, tag: str) -> bool:
        return True

    async def build_image(self, recipe: ImageRecipe, on_log: Callable[[str], None]) -> None:
        return None

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(cid, grace_s=5) for cid in list(self._processes)))


async def _exited(process: asyncio.subprocess.Process) -> None:
    """Until the process exits. `Process.wait()` also waits for its pipes to close, which a
    child it forked can hold open for as long as it likes; a pidfd tells the exit itself."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        await process.wait()
        return
    loop = asyncio.get_running_loop()
    exited = asyncio.Event()
    loop.add_reader(pidfd, exited.set)
    waiter = asyncio.ensure_future(process.wait())
    signalled = asyncio.ensure_future(exited.wait())
    try:
        await asyncio.wait([waiter, signalled], return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
        waiter.cancel()
        loop.remove_reader(pidfd)
        os.close(pidfd)


async def _read_report(read_fd: int) -> dict[str, object]:
    """The agent's one-line readiness report; an error report when it died first."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LOG_LINE_LIMIT_BYTES)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    try:
        line = await reader.readline()
    finally:
        transport.close()
    if not line:
        return {"error": "the agent exited before it was ready (see the container's logs)"}
    report = orjson.loads(line)
    return report if isinstance(report, dict) else {"error": "bad readiness report"}
