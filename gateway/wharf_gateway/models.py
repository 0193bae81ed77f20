"""The values the gateway's modules pass each other: records of the store and call outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from wharf_gateway.manifest.definition import FunctionDefinition, FunctionOptions


class CallStatus(StrEnum):
    """Where a call is in its life; the last four are final."""

    #: Accepted and waiting for a container.
    PENDING = "pending"
    #: An input of it runs in a container.
    RUNNING = "running"
    #: The function returned a value.
    SUCCESS = "success"
    #: The function raised, timed out, or its container could not start.
    FAILURE = "failure"
    #: Cancelled by a caller before it finished.
    CANCELLED = "cancelled"
    #: Ended by the platform: its containers kept dying, or its app was stopped.
    TERMINATED = "terminated"

    @property
    def is_final(self) -> bool:
        return self not in (CallStatus.PENDING, CallStatus.RUNNING)


class AppState(StrEnum):
    """An app's state."""

    #: Deployed with `wharf deploy`; found by name.
    DEPLOYED = "deployed"
    #: Running for a `wharf run` session; found by id only.
    EPHEMERAL = "ephemeral"
    #: Stopped; its functions take no calls.
    STOPPED = "stopped"


class TokenKind(StrEnum):
    """Who holds a token."""

    #: A person or their programs.
    USER = "user"
    #: The operator's: also manages workspaces and the tokens of every workspace (the first
    #: token of `main`, or `wharf token new --admin`).
    ADMIN = "admin"
    #: A container, so user code can call other functions; revoked when the container stops.
    CONTAINER = "container"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for."""

    workspace_id: str
    workspace_name: str
    token_id: str
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class DomainGrant:
    """A custom domain an admin granted to a workspace."""

    host: str
    workspace_name: str
    granted_at: float

    def to_json(self) -> dict[str, object]:
        return {"host": self.host, "workspace": self.workspace_name, "granted_at": self.granted_at}


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_id: str
    workspace_id: str
    workspace_name: str
    secret_sha256: str
    kind: TokenKind
    revoked: bool
    #: Unix time after which the token is refused; None: never.
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class AppRecord:
    app_id: str
    workspace_id: str
    name: str
    state: AppState
    version: int
    created_at: float
    deployed_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "name": self.name,
            "state": self.state.value,
            "version": self.version,
            "created_at": self.created_at,
            "deployed_at": self.deployed_at,
        }


@dataclass(frozen=True, slots=True)
class FunctionRecord:
    """One function of one deployed version of an app."""

    function_id: str
    app_id: str
    app_name: str
    workspace_id: str
    version: int
    name: str
    bundle_sha256: str
    module: str
    app_variable: str
    #: The function's manifest entry (params, options, flags), as validated at deploy.
    definition: FunctionDefinition

    @property
    def options(self) -> FunctionOptions:
        return self.definition.options

    @property
    def is_generator(self) -> bool:
        return self.definition.is_generator


#: The payload format recorded for web requests kept as calls (their body is not kept).
WEB_PAYLOAD_FORMAT = "web"


@dataclass(frozen=True, slots=True)
class WebResponse:
    """An endpoint's HTTP response, kept for its result URL."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def head_json(self) -> bytes:
        headers = [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in self.headers
        ]
        return orjson.dumps({"status": self.status, "headers": headers})

    @classmethod
    def from_stored(cls, head: bytes, body: bytes) -> WebResponse:
        decoded = orjson.loads(head)
        headers = [
            (str(n).encode("latin-1"), str(v).encode("latin-1")) for n, v in decoded["headers"]
        ]
        return cls(int(decoded["status"]), headers, body)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How a finished call ended, as stored; payloads are None where not produced."""

    call_id: str
    status: CallStatus
    pickled: bytes | None = None
    json: bytes | None = None
    json_error: str | None = None
    #: `{"code", "message"}` plus `type` and `traceback` for user failures.
    error: dict[str, Any] | None = None
    expired: bool = False
    #: For a web request kept as a call: the endpoint's response.
    web: WebResponse | None = None
    #: The value is a stored blob, named by its SHA-256 (and `pickled`/`json` are None).
    pickled_blob: str | None = None
    json_blob: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call as the store holds it."""

    call_id: str
    workspace_id: str
    function_id: str
    status: CallStatus
    attempt: int
    created_at: float
    finished_at: float | None
    parent_call_id: str | None


@dataclass(frozen=True, slots=True)
class CallSummary:
    """A call as lists show it: what ran, where it stands, when."""

    call_id: str
    app_id: str
    app_name: str
    function_name: str
    status: CallStatus
    created_at: float
    finished_at: float | None
    #: How its input came: `json`, `pickle`, or `web` (a web request kept as a call).
    payload_format: str


@dataclass(frozen=True, slots=True)
class StoredResult:
    """What a call's output is like (its sizes, its error), without the output itself."""

    #: Length of the JSON form (or a web response's head) when stored inline.
    json_bytes: int | None
    json_sha256: str | None
    #: Length of the pickled form (or a web response's body) when stored inline.
    pickle_bytes: int | None
    pickle_sha256: str | None
    #: The JSON form itself, when it is stored inline and small enough to show.
    json_preview: bytes | None
    json_error: str | None
    error: dict[str, Any] | None
    expired: bool


@dataclass(frozen=True, slots=True)
class CallDetails:
    """Everything kept about one call but its input and output themselves."""

    summary: CallSummary
    attempt: int
    parent_call_id: str | None
    #: Bytes of the arguments as sent; None for web requests and calls older than the column.
    payload_bytes: int | None
    #: The call's method and pool as JSON (see `gateway.tasks.Variant`); None for plain calls.
    variant: bytes | None
    result: StoredResult


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """A secret as the store holds it: its values only sealed (see `gateway.secrets`)."""

    workspace_id: str
    name: str
    keys: tuple[str, ...]
    sealed: bytes
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        """What the API shows of a secret: never its values."""
        return {
            "name": self.name,
            "keys": list(self.keys),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def utc_text(timestamp: float) -> str:
    """A stored time as ISO 8601 UTC, whatever the stored value (one out of the calendar's
    range reads as such rather than failing a listing)."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"{timestamp:g} (out of the calendar's range)"
