"""What both container backends promise (`ContainerBackend`), run against each: `local` (agent
processes) and `docker` (real Docker containers from the runner base image).

Where they legitimately differ, the test says so: a local container's GPUs are only named to CUDA
(`CUDA_VISIBLE_DEVICES`), a Docker container's are a device request (refused by a host with no
GPU driver); and only Docker containers outlive their backend, to be taken on by the next one.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from wharf_runner import (
    AgentConnection,
    AgentUnreachable,
    ContainerAddress,
    ContainerBackend,
    ContainerSpec,
    ContainerStartFailed,
    Input,
    LocalBackend,
    LogStream,
    OutputStatus,
    PayloadFormat,
)

from tests.helpers import docker_problem, scaled, unique_name

CONTRACT_APP = """
import os
import sys

import wharf as modal

app = modal.App("contract")


@app.function()
def environment(name: str) -> str | None:
    return os.environ.get(name)


@app.function()
def shout(text: str) -> str:
    print(text, flush=True)
    print(text.upper(), file=sys.stderr, flush=True)
    return text


@app.function()
def leave(exit_code: int) -> None:
    os._exit(exit_code)
"""
BROKEN_APP = "raise RuntimeError('this app cannot load')\n"


@dataclass
class RecordedEvents:
    """The backend's events, kept; a test waits on them with a deadline."""

    lines: list[tuple[str, LogStream, str]] = field(default_factory=list)
    exits: dict[str, int | None] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_log(self, container_id: str, stream: LogStream, line: str) -> None:
        self.lines.append((container_id, stream, line))
        self._changed.set()

    def on_exit(self, container_id: str, exit_code: int | None, reason: str | None = None) -> None:
        self.exits[container_id] = exit_code
        self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout_s: float = 20) -> None:
        async with asyncio.timeout(scaled(timeout_s)):
            while True:
                self._changed.clear()
                if condition():
                    return
                await self._changed.wait()


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind = str(request.param)
    if kind == "docker" and (problem := docker_problem()) is not None:
        pytest.skip(problem)
    return kind


@asynccontextmanager
async def opened_backend(
    kind: str, events: RecordedEvents, owner: str
) -> AsyncIterator[ContainerBackend]:
    """A backend of `kind`, closed (its containers stopped) when the block ends."""
    backend: ContainerBackend
    if kind == "docker":
        from wharf_runner.backends.docker import DockerBackend

        backend = await asyncio.to_thread(DockerBackend, events, owner=owner)
    else:
        backend = LocalBackend(events, os.environ)
    try:
        yield backend
    finally:
        await backend.close()


def contract_spec(tmp_path: Path, source: str = CONTRACT_APP, **fields: Any) -> ContainerSpec:
    module = f"contract_{uuid.uuid4().hex[:8]}"
    bundle = tmp_path / f"{module}.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr(f"{module}.py", source)
    return ContainerSpec(
        container_id=unique_name("ct-contract"),
        app_id="ap-contract",
        function_name="shout",
        bundle_path=bundle,
        module=module,
        app_variable="app",
        agent_secret=uuid.uuid4().hex,
        startup_timeout_s=scaled(20),
        **fields,
    )


async def call(spec: ContainerSpec, address: ContainerAddress, function: str, *args: Any) -> Any:
    """Run `function(*args)` in the container, through its agent; the value it returned."""
    agent = AgentConnection(
        address.host, address.port, spec.container_id, 1 << 20, spec.agent_secret
    )
    payload = orjson.dumps({"args": list(args), "kwargs": {}})
    item = Input(
        uuid.uuid4().hex, "fc-contract", function, PayloadFormat.JSON, payload, True, False
    )
    try:
        async with asyncio.timeout(scaled(20)):
            (output,), _ = await agent.run_batch([item])
    finally:
        agent.close()
    assert output.status is OutputStatus.SUCCESS, output.error
    assert output.json is not None
    return orjson.loads(output.json)


def test_a_started_containers_agent_answers_and_it_is_listed_until_stopped(
    backend_kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events = RecordedEvents()
        async with opened_backend(backend_kind, events, unique_name("contract")) as backend:
            spec = contract_spec(tmp_path)
            address = await backend.start(spec)

            assert address.container_id == spec.container_id
            assert await call(spec, address, "shout", "hi") == "hi"
            assert spec.container_id in await backend.list_containers()

            await backend.stop(spec.container_id, grace_s=scaled(5))
            await events.until(lambda: spec.container_id in events.exits)
            assert spec.container_id not in await backend.list_containers()

    asyncio.run(scenario())


def test_log_lines_arrive_through_the_log_callback_by_stream(
    backend_kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events = RecordedEvents()
        async with opened_backend(backend_kind, events, unique_name("contract")) as backend:
            spec = contract_spec(tmp_path)
            address = await backend.start(spec)
            await call(spec, address, "shout", "logged")

            expected = {
                (spec.container_id, LogStream.STDOUT, "logged"),
                (spec.container_id, LogStream.STDERR, "LOGGED"),
            }
            await events.until(lambda: expected <= set(events.lines))

    asyncio.run(scenario())


def test_a_stopped_container_reports_its_exit_with_the_agents_exit_code(
    backend_kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events = RecordedEvents()
        async with opened_backend(backend_kind, events, unique_name("contract")) as backend:
            spec = contract_spec(tmp_path)
            await backend.start(spec)
            await backend.stop(spec.container_id, grace_s=scaled(5))
            await events.until(lambda: spec.container_id in events.exits)

            # The agent ends cleanly on SIGTERM, in a process or behind Docker's init, even
            # when stopped as soon as it is ready.
            assert events.exits[spec.container_id] == 0

    asyncio.run(scenario())


def test_an_agent_that_exits_on_its_own_reports_its_exit_code(
    backend_kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events = RecordedEvents()
        async with opened_backend(backend_kind, events, unique_name("contract")) as backend:
            spec = contract_spec(tmp_path)
            address = await backend.start(spec)
            with pytest.raises(AgentUnreachable):
                await call(spec, address, "leave", 7)
            await events.until(lambda: spec.container_id in events.exits)

            assert events.exits[spec.container_id] == 7
            assert spec.container_id not in await backend.list_containers()

    asyncio.run(scenario())


def test_an_app_that_cannot_load_fails_the_start_with_its_error(
    backend_kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        events = RecordedEvents()
        async with opened_backend(backend_kind, events, unique_name("contract")) as backend:
            spec = contract_spec(tmp_path, BROKEN_APP)
            with pytest.raises(ContainerStartFailed, match="this app cannot load"):
                await backend.start(spec)
            await events.until(lambda: spec.container_id in events.exits)

            assert spec.container_id not in await backend.list_containers()

    asyncio.run(scenario())


def test_a_containers_gpus_reach_it(backend_kind: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        events = RecordedEvents()
        async with opened_backend(backend_kind, events, unique_name("contract")) as backend:
            spec = contract_spec(tmp_path, gpu_ids=("3", "5"))
            if backend_kind == "local":
                # No isolation: CUDA is told which of the host's GPUs are the container's.
                address = await backend.start(spec)
                assert await call(spec, address, "environment", "CUDA_VISIBLE_DEVICES") == "3,5"
                return
            # Docker gets a device request: a host without a GPU driver refuses the start (a
            # host with one gives the container those devices only).
            with pytest.raises(ContainerStartFailed, match="gpu"):
                await backend.start(spec)
            assert spec.container_id not in await backend.list_containers()

    if backend_kind == "docker" and _docker_has_gpus():
        pytest.skip("this Docker host has a GPU driver: the refusal cannot be seen")
    asyncio.run(scenario())


def test_only_docker_containers_are_taken_on_by_the_next_backend(
    backend_kind: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        owner = unique_name("contract")
        first_events, next_events = RecordedEvents(), RecordedEvents()
        async with opened_backend(backend_kind, first_events, owner) as first:
            spec = contract_spec(tmp_path)
            await first.start(spec)
            async with opened_backend(backend_kind, next_events, owner) as following:
                adopted = await following.adopt()
                if backend_kind == "local":
                    # Local containers end with the gateway that started them.
                    assert adopted == []
                    return
                (container,) = adopted
                assert container.container_id == spec.container_id
                assert await call(spec, container.address, "shout", "again") == "again"
                assert spec.container_id in await following.list_containers()

    asyncio.run(scenario())


def _docker_has_gpus() -> bool:
    import docker

    client = docker.from_env()
    try:
        return "nvidia" in client.info().get("Runtimes", {})
    finally:
        client.close()
