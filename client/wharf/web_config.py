"""How a function is exposed over HTTP: `WebKind` and `WebConfig`.

Part of the contract between the SDK and the runner: the deploy manifest carries a `WebConfig`
as JSON (`to_json`), and the agent inside each container serves a web function by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class WebKind(StrEnum):
    """How a web function serves requests."""

    #: One function called per request, its parameters from the query string or JSON body.
    FUNCTION = "function"
    #: The function returns an ASGI app (FastAPI, Starlette, ...).
    ASGI = "asgi"
    #: The function returns a WSGI app (Flask, Django, ...).
    WSGI = "wsgi"
    #: The function starts a server of its own on a port of the container.
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class WebConfig:
    """How a function is exposed over HTTP, as recorded in the deploy manifest."""

    kind: WebKind
    method: str = "GET"
    label: str | None = None
    wait_for_response: bool = True
    custom_domains: tuple[str, ...] = ()
    docs: bool = False
    requires_proxy_auth: bool = False
    port: int | None = None
    startup_timeout_s: float = 5.0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "method": self.method,
            "label": self.label,
            "wait_for_response": self.wait_for_response,
            "custom_domains": list(self.custom_domains),
            "docs": self.docs,
            "requires_proxy_auth": self.requires_proxy_auth,
            "port": self.port,
            "startup_timeout_s": self.startup_timeout_s,
        }


__all__ = ["WebConfig", "WebKind"]
