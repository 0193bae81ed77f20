"""Starting containers and talking to the agent inside them. The gateway uses only `__all__`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from client._cls import PARAMETERS_ENV, PARAMETERS_FORMAT_ENV
from runner.backend import (
    AdoptedContainer,
    ContainerAddress,
    ContainerBackend,
    ContainerEvents,
    ContainerSpec,
    ImageRecipe,
    LogStream,
)
from runner.connection import AgentConnection
from runner.envelope import ErrorInfo, Input, Output, OutputStatus, PayloadFormat
from runner.errors import (
    AgentUnreachable,
    ContainerStartFailed,
    ImageBuildFailed,
    ProtocolError,
    RunnerError,
)
from runner.local import LocalBackend
from runner.wire import decode_frame, encode_frame, split_frame_parts

if TYPE_CHECKING:
    from runner.web import serve_uvicorn

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
    "encode_frame",
    "serve_uvicorn",
    "split_frame_parts",
]


def __getattr__(name: str) -> Any:
    # The web servers load only where used (the gateway), not in every container's agent.
    if name == "serve_uvicorn":
        from runner.web import serve_uvicorn

        return serve_uvicorn
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
