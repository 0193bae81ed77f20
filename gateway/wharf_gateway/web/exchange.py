"""One web request's trip into a container: hold a slot of the function, send the request, read
the response head, stream the body, and give everything back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from wharf_gateway.errors import UpstreamError
from wharf_gateway.models import FunctionRecord
from wharf_gateway.scheduling.leases import WebLease
from wharf_gateway.scheduling.variants import web_variant
from wharf_gateway.server.state import GatewayState
from wharf_gateway.web.upstream import ResponseHead, UpstreamConnection, forwardable

#: Header telling the container's web app the path prefix it is mounted under.
ROOT_PATH_HEADER = b"x-wharf-root-path"

Scope = dict[str, Any]


def upstream_headers(
    scope: Scope, root_path: str, *, trust_forwarded: bool = False
) -> list[tuple[bytes, bytes]]:
    """The caller's headers for the container: hop-by-hop ones dropped, `X-Forwarded-For` and
    `-Proto` set by the gateway. A caller's own are kept in front only with `trust_forwarded`
    (the gateway sits behind a proxy of the operator's); otherwise they are dropped."""
    incoming = dict(scope["headers"])
    headers = [
        (name, value)
        for name, value in forwardable(scope["headers"])
        if not name.startswith(b"x-forwarded-") and name != ROOT_PATH_HEADER
    ]
    client = scope.get("client")
    chain = (
        [incoming[b"x-forwarded-for"]] if trust_forwarded and b"x-forwarded-for" in incoming else []
    )
    if client:
        chain.append(str(client[0]).encode())
    if chain:
        headers.append((b"x-forwarded-for", b", ".join(chain)))
    scheme = str(scope.get("scheme", "http")).encode()
    if trust_forwarded:
        scheme = incoming.get(b"x-forwarded-proto", scheme)
    headers.append((b"x-forwarded-proto", scheme))
    if root_path:
        headers.append((ROOT_PATH_HEADER, root_path.encode()))
    return headers


def upstream_target(scope: Scope, root_path: str) -> bytes:
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    if root_path:
        path = path[len(root_path.encode()) :] or b"/"
    query: bytes = scope.get("query_string", b"")
    return path + (b"?" + query if query else b"")


async def _chunks(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class Exchange:
    """A request in flight to one container of `function`."""

    def __init__(self, state: GatewayState, function: FunctionRecord) -> None:
        self._state = state
        self._function = function
        self._lease: WebLease | None = None
        self._connection: UpstreamConnection | None = None
        self._address: tuple[str, int] | None = None
        self._body_done = False

    @property
    def timed_out(self) -> bool:
        """The function's timeout ended the request (its container was stopped)."""
        return self._lease is not None and self._lease.timed_out

    async def open(
        self,
        scope: Scope,
        root_path: str,
        body: AsyncIterator[bytes] | list[bytes],
        length: int | None,
    ) -> ResponseHead:
        """Hold a container, send the request (streaming `body`; a list is a body read whole),
        and read the response head.

        Raises:
            WebUnavailable: no container could take it.
            UpstreamError: the container refused, reset or sent nonsense.
        """
        self._lease, address = await self._state["scheduler"].lease(
            self._function, web_variant(self._function, scope.get("query_string", b""))
        )
        self._address = (address.host, int(address.web_port or 0))
        self._connection = await self._state["upstreams"].connection(*self._address)
        try:
            return await self._send(self._connection, scope, root_path, body, length)
        except UpstreamError:
            if not (self._connection.reused and not self._connection.answered):
                raise
            if not isinstance(body, list):
                raise  # a streamed body is spent: it cannot go again
            # A kept-alive connection its server had closed meanwhile (an HTTP/1.0 server, or
            # one that closes after an error): nothing came back, so it goes once more, fresh.
            self._connection.close()
            self._connection = await UpstreamConnection.open(*self._address)
            return await self._send(self._connection, scope, root_path, body, length)

    async def _send(
        self,
        connection: UpstreamConnection,
        scope: Scope,
        root_path: str,
        body: AsyncIterator[bytes] | list[bytes],
        length: int | None,
    ) -> ResponseHead:
        await connection.send(
            scope["method"],
            upstream_target(scope, root_path),
            upstream_headers(
                scope, root_path, trust_forwarded=self._state["config"].trust_forwarded_headers
            ),
            _chunks(body) if isinstance(body, list) else body,
            length,
        )
        return await connection.read_head(scope["method"])

    async def body(self, head: ResponseHead) -> AsyncIterator[bytes]:
        """The response body as the container sends it."""
        if self._connection is None:
            return
        async for chunk in self._connection.body(head):
            yield chunk
        self._body_done = True

    def close(self, *, healthy: bool) -> None:
        """Give the connection back (if it can carry another request) and the container slot."""
        if self._connection is not None and self._address is not None:
            if self._body_done:
                self._state["upstreams"].give_back(*self._address, self._connection)
            else:
                self._connection.close()
        if self._lease is not None:
            self._state["scheduler"].release(self._lease, healthy=healthy)
