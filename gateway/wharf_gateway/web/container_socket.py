"""The container's side of a relayed WebSocket: an asyncio protocol around the sans-I/O client of
`websockets`.

It holds no task while the connection is idle (a gateway may hold thousands): frames from the
container are parsed as they arrive, whole messages are handed to the caller by a short-lived task,
and the container's socket is not read while one is on its way (so a slow caller holds at most one
message, of at most 2 MiB, in the gateway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]

#: Close code when the container side fails.
INTERNAL_ERROR = 1011
#: How long the container has to answer the handshake.
HANDSHAKE_TIMEOUT_S = 10.0
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class ContainerSocket(asyncio.Protocol):
    """One WebSocket connection to a container, whose messages go to the caller's `send`."""

    def __init__(self, protocol: ClientProtocol, send: Send) -> None:
        self._ws = protocol
        self._send = send
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self._handshake: asyncio.Future[None] = loop.create_future()
        self._writable: asyncio.Future[None] | None = None
        self._outbox: list[Message] = []  # a list: lighter than a deque, and rarely long
        self._fragments: list[bytes] = []
        self._text = False
        self._delivering: asyncio.Task[None] | None = None
        self._started = False
        self._caller_gone = False
        #: Whether the connection ended without a close frame from the container (it went away).
        self.went_away = False

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        target: str,
        *,
        subprotocols: list[str] | None,
        headers: list[tuple[str, str]],
        max_message_bytes: int,
        send: Send,
    ) -> ContainerSocket:
        """Connect and complete the handshake.

        Raises:
            InvalidStatus: the container refused the handshake.
            InvalidHandshake, OSError, TimeoutError: no WebSocket could be opened.
        """
        protocol = ClientProtocol(
            parse_uri(f"ws://{host}:{port}{target}"),
            subprotocols=[Subprotocol(name) for name in subprotocols] if subprotocols else None,
            max_size=max_message_bytes,
        )
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
            _, socket = await loop.create_connection(lambda: cls(protocol, send), host, port)
            try:
                request = protocol.connect()
                request.headers.update(headers)
                protocol.send_request(request)
                socket._flush()
                await socket._handshake
            except BaseException:
                socket.abort()
                raise
        return socket

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    def start(self) -> None:
        """The caller is connected: from now on, hand it the container's messages."""
        self._started = True
        self._deliver()

    async def send(self, message: Message) -> None:
        """Pass one of the caller's messages on, waiting while the container reads slowly."""
        try:
            if message.get("bytes") is not None:
                self._ws.send_binary(message["bytes"])
            elif message.get("text") is not None:
                self._ws.send_text(message["text"].encode())
        except InvalidState:
            return  # the container has closed; its close is on the way to the caller
        self._flush()
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def close(self, code: int, reason: str) -> None:
        """The caller went away (or the relay ends): close the container side with its code."""
        self._caller_gone = True
        if self._delivering is not None:
            self._delivering.cancel()
        if self._ws.state is State.OPEN:
            # 1005/1006 may not be sent on the wire; the caller just went away.
            self._ws.send_close(code if code not in (1005, 1006) else 1000, reason)
            self._flush()
        if self._transport is None:
            return
        if self._writable is not None:  # the container is not reading: drop what waits for it
            self._transport.abort()
        else:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        self._after_receive()

    def eof_received(self) -> None:
        self._ws.receive_eof()
        self._after_receive()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(
                ConnectionResetError("the container closed during the handshake")
            )
            return
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._ws.close_rcvd is None and not self._caller_gone:
            self.went_away = True
        handshaken = self._handshake.done() and not self._handshake.cancelled()
        if handshaken and self._handshake.exception() is None:
            self._outbox.append(self._close_message())
            self._deliver()

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # inside

    def _after_receive(self) -> None:
        self._flush()
        for event in self._ws.events_received():
            if isinstance(event, Response):
                self._handshaken()
            elif isinstance(event, Frame) and event.opcode in _DATA:
                if event.opcode is not Opcode.CONT:
                    self._text = event.opcode is Opcode.TEXT
                self._fragments.append(bytes(event.data))
                if event.fin:
                    self._message_done()
        if self._ws.close_expected() and self._transport is not None:
            self._transport.close()  # close frames were exchanged: nothing more will come
        self._deliver()

    def _handshaken(self) -> None:
        if self._handshake.done():
            return
        if self._ws.handshake_exc is not None:
            self._handshake.set_exception(self._ws.handshake_exc)
        else:
            self._handshake.set_result(None)

    def _message_done(self) -> None:
        data = b"".join(self._fragments)
        self._fragments.clear()
        if self._text:
            self._outbox.append({"type": "websocket.send", "text": data.decode()})
        else:
            self._outbox.append({"type": "websocket.send", "bytes": data})

    def _close_message(self) -> Message:
        code = self._ws.close_rcvd.code if self._ws.close_rcvd is not None else None
        reason = self._ws.close_rcvd.reason if self._ws.close_rcvd is not None else ""
        if code is None or code == 1006:  # no close frame: the container went away
            return {
                "type": "websocket.close",
                "code": INTERNAL_ERROR,
                "reason": "the container went away",
            }
        if code == 1005:  # a close frame without a code
            code = 1000
        return {"type": "websocket.close", "code": code, "reason": reason}

    def _flush(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        for data in self._ws.data_to_send():
            if data:
                self._transport.write(data)
            else:  # the protocol's end of stream
                self._transport.close()

    def _deliver(self) -> None:
        """Start handing queued messages to the caller, not reading the container meanwhile."""
        if not self._outbox or not self._started or self._caller_gone:
            return
        if self._delivering is None:
            if self._transport is not None and not self._transport.is_closing():
                self._transport.pause_reading()
            self._delivering = asyncio.get_running_loop().create_task(self._hand_over())

    async def _hand_over(self) -> None:
        try:
            while self._outbox:
                await self._send(self._outbox.pop(0))
        except OSError:
            self._outbox.clear()  # the caller is gone; its handler closes this side
        finally:
            self._delivering = None
            if self._transport is not None and not self._transport.is_closing():
                self._transport.resume_reading()
