"""Starting containers and talking to the agent inside them. The gateway uses only `__all__`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wharf.parameters import PARAMETERS_ENV, PARAMETERS_FORMAT_ENV

from wharf_runner.backends.base import (
    AdoptedContainer,
    ContainerAddress,
    ContainerBackend,
    ContainerEvents,
    ContainerSpec,
    ImageRecipe,
    LogStream,
)
from wharf_runner.backends.local import LocalBackend
from wharf_runner.channel.connection import AgentConnection
from wharf_runner.channel.envelope import ErrorInfo, Input, Output, OutputStatus, PayloadFormat
from wharf_runner.channel.wire import decode_frame, encode_frame, split_frame_parts
from wharf_runner.errors import (
    AgentUnreachable,
    ContainerStartFailed,
    ImageBuildFailed,
    ProtocolError,
    RunnerError,
)

if TYPE_CHECKING:
    from wharf_runner.agent.web import serve_uvicorn
    from wharf_runner.backends.docker_fleet import docker_fleet

__all__ = [
    "PARAMETERS_ENV",
    "PARAMETERS_FORMAT_ENV",
    "AdoptedContainer",
    "AgentConnection",
    "AgentUnreachable",
    "ContainerAddress",
    "ContainerBackend",
    "ContainerEvents",
    "ContainerSpec",
    "ContainerStartFailed",
    "ErrorInfo",
    "ImageBuildFailed",
    "ImageRecipe",
    "Input",
    "LocalBackend",
    "LogStream",
    "Output",
    "OutputStatus",
    "PayloadFormat",
    "ProtocolError",
    "RunnerError",
    "decode_frame",
    "docker_fleet",
    "encode_frame",
    "serve_uvicorn",
    "split_frame_parts",
]


def __getattr__(name: str) -> Any:
    # The web servers and the Docker SDK load only where used (the gateway), not in every
    # container's agent; the Docker SDK not with the local backend either.
    if name == "serve_uvicorn":
        from wharf_runner.agent.web import serve_uvicorn

        return serve_uvicorn
    if name == "docker_fleet":
        from wharf_runner.backends.docker_fleet import docker_fleet

        return docker_fleet
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
