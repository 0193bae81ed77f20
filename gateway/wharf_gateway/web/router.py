"""The front door's first decision: is a request for the API, for a web endpoint, or for a host
this gateway does not serve?

`{host_label}.{domain}` (any port) and `/web/{host_label}/...` on the gateway's own names go to
endpoints; the gateway's own names (`PublicAddress.is_own`) go to the API otherwise. Any other
host is a custom domain: served by the endpoint it is granted to, else answered 404 here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wharf.error_codes import ErrorCode

from wharf_gateway.responses import render_error
from wharf_gateway.security.hosts import PublicAddress, hostname
from wharf_gateway.server.state import GatewayState
from wharf_gateway.web.proxy import WEB_PATH_PREFIX, send_response, serve_endpoint
from wharf_gateway.web.websocket import serve_websocket

#: Pages of the `/web/{label}/` form share the gateway's own origin with the dashboard: browsers
#: get them sandboxed into an opaque origin of their own, so that their scripts can reach neither
#: the dashboard's session storage nor its windows, nor register a service worker over its paths.
PATH_FORM_POLICY = b"sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
#: Largest request head (all header names and values) the gateway takes.
MAX_HEADER_BYTES = 64 * 1024


def _header_bytes(scope: dict[str, Any]) -> int:
    return sum(len(name) + len(value) for name, value in scope["headers"])


def host_name(scope: dict[str, Any]) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            return hostname(value.decode("latin-1"))
    return ""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes: the endpoint's host, the path prefix it is under, and whether the
    host is a label (so certainly an endpoint) or may be a custom domain."""

    host: str
    root_path: str
    is_label: bool


def endpoint_target(host: str, path: str, address: PublicAddress) -> Target | None:
    """The endpoint a request may be for, or None for the API."""
    suffix = f".{address.domain_host}"
    if host.endswith(suffix) and "." not in host[: -len(suffix)]:
        return Target(host[: -len(suffix)], "", is_label=True)
    if host and not address.is_own(host):
        return Target(host, "", is_label=False)  # a custom domain, granted or not
    if path.startswith(WEB_PATH_PREFIX):
        label = path[len(WEB_PATH_PREFIX) :].split("/", 1)[0]
        if label:
            return Target(label, f"{WEB_PATH_PREFIX}{label}", is_label=True)
    return None


def _sandboxed(send: Any) -> Any:
    """`send`, with every response sandboxed by `PATH_FORM_POLICY` (and not allowed to widen a
    service worker's scope)."""

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() != b"service-worker-allowed"
            ]
            headers.append((b"content-security-policy", PATH_FORM_POLICY))
            message = {**message, "headers": headers}
        await send(message)

    return sending


class FrontDoor:
    """The ASGI app Hypercorn runs: endpoints are proxied, everything else is the API."""

    def __init__(self, api: Any, address: PublicAddress) -> None:
        self._api = api
        self._address = address

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _header_bytes(scope) > MAX_HEADER_BYTES:
            await send_response(
                send,
                render_error(
                    431,
                    ErrorCode.HEADERS_TOO_LARGE,
                    f"the request's headers are over {MAX_HEADER_BYTES} bytes",
                ),
            )
            return
        if scope["type"] == "websocket":
            target = endpoint_target(host_name(scope), scope["path"], self._address)
            if target is not None:
                state = cast(GatewayState, scope["state"])
                await serve_websocket(scope, receive, send, state, target.host, target.root_path)
                return
        if scope["type"] == "http":
            target = endpoint_target(host_name(scope), scope["path"], self._address)
            if target is not None:
                state = cast(GatewayState, scope["state"])
                if target.root_path:
                    send = _sandboxed(send)
                # A host nobody was granted gets the endpoint's 404, never the API.
                await serve_endpoint(scope, receive, send, state, target.host, target.root_path)
                return
        await self._api(scope, receive, send)
