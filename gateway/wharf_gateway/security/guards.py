"""The front door's protections against slow and abusive clients, below the ASGI app.

Under uvicorn (plain HTTP), the gateway's own protocol classes add to uvicorn's:
- a request's head must arrive within `head_timeout_s` of its first byte (or of the connection's
  opening) and be at most 64 KiB: else 408 or 431, and the connection is closed;
- a request body from which nothing arrives for `body_timeout_s`, while the gateway is ready to
  read it, closes the connection;
- at most `max_connections` connections (WebSockets included) are open at once: a connection
  past that gets 503 and is closed at once, so the ones already open are not slowed;
- a WebSocket message may come in at most `MAX_FRAGMENTS` frames (1009 past that), and a client
  that sends pings but does not read its pongs is dropped once 1 MiB of them wait.

Under Hypercorn (TLS), h11's own 16 KiB head limit and the keep-alive timeout bound a slow head,
and permessage-deflate is declined: wsproto would inflate a compressed frame without a bound. Under
uvicorn it is never offered. Either way a compressed frame is a protocol error (1002).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from hypercorn.protocol import ws_stream
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame
from wsproto.extensions import PerMessageDeflate

#: Largest request head (request line and headers).
MAX_HEAD_BYTES = 64 * 1024
#: Most frames one WebSocket message may come in.
MAX_FRAGMENTS = 1024
#: Most bytes of pongs (or other replies) a WebSocket client may leave unread.
MAX_UNREAD_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ClientLimits:
    head_timeout_s: float = 20.0
    body_timeout_s: float = 60.0
    max_connections: int = 10_000


def _response(status: bytes, message: str, *extra: bytes) -> bytes:
    body = message.encode()
    head = [b"HTTP/1.1 " + status, b"content-type: text/plain; charset=utf-8", *extra]
    head += [b"content-length: " + str(len(body)).encode(), b"connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


_TOO_MANY = _response(b"503 Service Unavailable", "too many connections\n", b"retry-after: 1")
_SLOW_HEAD = _response(b"408 Request Timeout", "the request's head came too slowly\n")
_BIG_HEAD = _response(
    b"431 Request Header Fields Too Large", f"the request's head is over {MAX_HEAD_BYTES} bytes\n"
)


class _Gate:
    """What the protocol classes of one server share: its limits and its open connections."""

    def __init__(self, limits: ClientLimits) -> None:
        self.limits = limits
        self.open = 0


class _GuardedWebSocket(WebSocketsSansIOProtocol):
    gate: ClassVar[_Gate]

    def handle_cont(self, event: Frame) -> None:
        if self.close_sent:
            return
        if len(self.frames) >= MAX_FRAGMENTS:
            self.conn.fail(1009, f"a message came in over {MAX_FRAGMENTS} frames")
            self.handle_parser_exception()
            return
        super().handle_cont(event)

    def handle_parser_exception(self) -> None:
        """Close after a protocol error, without resetting the connection: uvicorn closes at
        once, and a client still sending then gets a reset instead of the close frame. This one
        half-closes and reads on until the client closes too (or `close_timeout` passes)."""
        close = self.conn.close_sent
        if self.close_sent or close is None:
            return  # already closing (uvicorn calls this again for every later read)
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": close.code, "reason": close.reason}
        )
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def handle_ping(self) -> None:
        if self.transport.get_write_buffer_size() > MAX_UNREAD_BYTES:
            self.transport.abort()  # pings keep coming while the pongs go unread
            return
        super().handle_ping()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.open -= 1
        super().connection_lost(exc)


class _GuardedHttp(HttpToolsProtocol):
    gate: ClassVar[_Gate]
    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _counted = False
    _upgraded = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.gate.open >= self.gate.limits.max_connections:
            transport.write(_TOO_MANY)
            transport.close()
            return
        self.gate.open += 1
        self._counted = True
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._counted and not self._upgraded:
            self.gate.open -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        reading_head = self._head_timer is not None
        if reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        still_reading_head = reading_head and self._head_timer is not None
        if still_reading_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(_BIG_HEAD)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._cancel_timers()
        self._head_bytes = 0
        super().on_headers_complete()
        if not self.parser.should_upgrade():
            self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        self._cancel_timers()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()
        self._upgraded = True  # the WebSocket protocol counts the connection from here
        super().handle_websocket_upgrade()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(
            self.gate.limits.head_timeout_s, self._head_too_slow
        )

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.gate.limits.body_timeout_s, self._body_stalled)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._head_bytes:
            self._refuse(_SLOW_HEAD)
        else:  # an idle connection that never asked for anything
            self.transport.close()

    def _body_stalled(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            self._arm_body_timer()  # the gateway is not reading: not the client's delay
            return
        self.transport.close()

    def _refuse(self, response: bytes) -> None:
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


def uvicorn_protocols(limits: ClientLimits) -> tuple[type[Any], type[Any]]:
    """uvicorn's HTTP and WebSocket protocol classes with `limits`, sharing one connection count."""
    gate = _Gate(limits)
    return (
        type("GuardedHttp", (_GuardedHttp,), {"gate": gate}),
        type("GuardedWebSocket", (_GuardedWebSocket,), {"gate": gate}),
    )


class _DeclinedDeflate(PerMessageDeflate):
    def accept(self, offer: str) -> bool:
        return False


def decline_websocket_compression() -> None:
    """Make Hypercorn turn down permessage-deflate (it offers it to every client otherwise)."""
    ws_stream.PerMessageDeflate = _DeclinedDeflate  # type: ignore[attr-defined]
