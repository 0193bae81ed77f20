"""Runner errors. The platform failed; a user's exception is an `Output`, never one of these.

RunnerError
├── ProtocolError           the agent channel carried something malformed
├── AgentUnreachable        the agent refused, reset or closed a connection
├── ContainerStartFailed    a container did not come up (with the agent's reason)
│   └── HostUnreachable     its runner host did not answer (another host may)
├── ImageBuildFailed        an image could not be built (the build log says why)
└── EngineError             the container engine (Docker) refused a request
    ├── EngineUnreachable   the engine did not answer
    └── ImageNotFound       an image is not on the engine's host

Inside a container the agent answers these itself; they never leave it:

ArgumentsError              an input's arguments could not be decoded (the input's failure)
Unprocessable               a web request does not fit the endpoint's parameters (422)
InputInterrupted            the gateway cancelled an input (the output nobody reads)
"""

from __future__ import annotations


class RunnerError(Exception):
    """Base class of every runner failure."""


class ProtocolError(RunnerError):
    """The agent channel carried a malformed message."""


class AgentUnreachable(RunnerError):
    """The agent of a container could not be reached or went away mid-input."""

    def __init__(self, container_id: str, reason: str) -> None:
        super().__init__(f"container {container_id} could not be reached: {reason}")
        self.container_id = container_id
        self.reason = reason


class ContainerStartFailed(RunnerError):
    """A container failed to start; `reason` carries what its agent reported."""

    def __init__(self, container_id: str, reason: str) -> None:
        super().__init__(f"container {container_id} failed to start: {reason}")
        self.container_id = container_id
        self.reason = reason


class ImageBuildFailed(RunnerError):
    """An image could not be built."""


class HostUnreachable(ContainerStartFailed):
    """The runner host of a container did not answer."""


class EngineError(RunnerError):
    """The container engine (Docker) refused a request; `reason` is what it said."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"the container engine could not {operation}: {reason}")
        self.operation = operation
        self.reason = reason


class EngineUnreachable(EngineError):
    """The container engine did not answer (its host is down, or its socket is gone)."""


class ImageNotFound(EngineError):
    """An image is not on the engine's host."""

    def __init__(self, image: str) -> None:
        super().__init__(f"find the image {image}", "it is not there")
        self.image = image


class ArgumentsError(Exception):
    """The arguments of an input could not be decoded."""


class Unprocessable(Exception):
    """A web request's query or body does not fit the endpoint's parameters; `detail` is the
    FastAPI-shaped error the 422 response carries."""

    def __init__(self, location: str, name: str, message: str) -> None:
        super().__init__(message)
        self.detail = {"loc": [location, name], "msg": message, "type": "value_error"}


class InputInterrupted(Exception):
    """The gateway cancelled an input while it ran (or before it started)."""
