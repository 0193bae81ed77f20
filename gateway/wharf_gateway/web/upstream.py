"""A streaming HTTP/1.1 client for the gateway's hop into a container's web server.

The peer is the container's own server (Hypercorn, or the user's); responses may be framed by
`Content-Length`, chunked, or by closing the connection. Requests are sent with the caller's
`Content-Length`, or chunked when it is unknown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from wharf_gateway.errors import UpstreamError

#: Headers that belong to one connection and are never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_HEAD_LIMIT_BYTES = 64 * 1024
_CHUNK_BYTES = 64 * 1024


@dataclass(slots=True)
class ResponseHead:
    status: int
    headers: list[tuple[bytes, bytes]]
    #: `chunked`, a byte count, or None to read until the connection closes.
    length: int | str | None


def forwardable(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers without the hop-by-hop ones, nor those `Connection` names."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return [(n, v) for n, v in pairs if n.lower() not in HOP_BY_HOP and n.lower() not in named]


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A container's response headers as the caller gets them: `forwardable`, without `Date`
    (the gateway's server stamps its own; a caller would see two). The container's `Server`
    stays: the gateway sends none of its own."""
    return [(n, v) for n, v in forwardable(headers) if n.lower() != b"date"]


def _keeps_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the server keeps the connection open after this response: HTTP/1.1 unless it
    says `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`."""
    tokens = {
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
    }
    if version.upper() == b"HTTP/1.1":
        return b"close" not in tokens
    return b"keep-alive" in tokens


class UpstreamConnection:
    """One kept-alive connection to a container's web server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.reusable = True
        #: Taken from the pool (it carried a request before), so the server may have closed it.
        self.reused = False
        #: Some byte of a response came back on it.
        self.answered = False

    @classmethod
    async def open(cls, host: str, port: int) -> UpstreamConnection:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=_HEAD_LIMIT_BYTES)
        except OSError as exc:
            raise UpstreamError(f"the container refused the connection: {exc}") from exc
        return cls(reader, writer)

    async def send(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes],
        content_length: int | None,
    ) -> None:
        """Send a request, streaming its body as it comes."""
        lines = [f"{method} ".encode() + target + b" HTTP/1.1"]
        lines += [name + b": " + value for name, value in headers]
        if content_length is None:
            lines.append(b"transfer-encoding: chunked")
        try:
            self._writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
            async for chunk in body:
                if not chunk:
                    continue
                if content_length is None:
                    self._writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self._writer.write(chunk)
                await self._writer.drain()
            if content_length is None:
                self._writer.write(b"0\r\n\r\n")
            await self._writer.drain()
        except OSError as exc:
            self.reusable = False
            raise UpstreamError(f"the container closed the connection: {exc}") from exc

    async def read_head(self, method: str) -> ResponseHead:
        try:
            raw = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.reusable, self.answered = False, bool(exc.partial)
            raise UpstreamError("the container closed the connection without a response") from exc
        except (asyncio.LimitOverrunError, OSError) as exc:
            self.reusable = False
            raise UpstreamError("the container closed the connection without a response") from exc
        self.answered = True
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            self.reusable = False
            raise UpstreamError(f"the container sent a bad status line {lines[0][:80]!r}")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        if not _keeps_alive(parts[0], headers):
            self.reusable = False  # the server closes it after this response
        status = int(parts[1])
        return ResponseHead(status, headers, self._framing(method, status, headers))

    def _framing(
        self, method: str, status: int, headers: list[tuple[bytes, bytes]]
    ) -> int | str | None:
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return 0
        values = dict(headers)
        if b"chunked" in values.get(b"transfer-encoding", b"").lower():
            return "chunked"
        length = values.get(b"content-length")
        if length is not None and length.isdigit():
            return int(length)
        self.reusable = False  # the body ends where the connection does
        return None

    async def body(self, head: ResponseHead) -> AsyncIterator[bytes]:
        """The response body, chunk by chunk, as the container sends it."""
        try:
            if head.length == "chunked":
                async for chunk in self._chunks():
                    yield chunk
            elif isinstance(head.length, int):
                remaining = head.length
                while remaining:
                    chunk = await self._reader.read(min(remaining, _CHUNK_BYTES))
                    if not chunk:
                        raise UpstreamError("the container closed the connection mid-body")
                    remaining -= len(chunk)
                    yield chunk
            else:
                while chunk := await self._reader.read(_CHUNK_BYTES):
                    yield chunk
        except (asyncio.IncompleteReadError, ValueError, OSError) as exc:
            self.reusable = False
            raise UpstreamError(f"the container's response broke off: {exc}") from exc

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await self._reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers, dropped like every hop-by-hop field
                return
            chunk = await self._reader.readexactly(size)
            await self._reader.readexactly(2)
            yield chunk

    def close(self) -> None:
        self.reusable = False
        self._writer.close()


class UpstreamPool:
    """Idle kept-alive connections per container web address."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[UpstreamConnection]] = {}

    async def connection(self, host: str, port: int) -> UpstreamConnection:
        idle = self._idle.get((host, port))
        while idle:
            connection = idle.pop()
            if connection.reusable and not connection._writer.is_closing():
                connection.reused = True
                return connection
        return await UpstreamConnection.open(host, port)

    def give_back(self, host: str, port: int, connection: UpstreamConnection) -> None:
        if connection.reusable:
            self._idle.setdefault((host, port), []).append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
