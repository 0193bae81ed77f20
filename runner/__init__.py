"""Starting containers and talking to the agent inside them. The gateway uses only `__all__`."""

from __future__ import annotations

from runner.backend import (
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
from runner.web import serve_uvicorn

__all__ = [
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
    "serve_uvicorn",
]
