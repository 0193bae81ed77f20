"""The gateway's end of the agent channel: one kept-alive connection, one request at a time
(a batch of inputs, or a generator's input whose values stream back)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from wharf_runner.channel.envelope import (
    Input,
    Output,
    decode_output,
    decode_outputs,
    encode_input,
    encode_inputs,
)
from wharf_runner.channel.wire import STREAM_LIMIT_BYTES, Message, encode_message, read_message
from wharf_runner.errors import AgentUnreachable, ProtocolError

_BATCH_LINE = "POST /batch HTTP/1.1"
_GENERATE_REQUEST = "POST /generate HTTP/1.1"
_HEALTH_LINE = "GET /health HTTP/1.1"
_CANCEL_LINE = "POST /cancel HTTP/1.1"
_LIFELINE_LINE = "POST /lifeline HTTP/1.1"
_REQUEST_HEADERS = {"host": "agent", "content-type": "application/vnd.wharf.input"}


class AgentConnection:
    """A kept-alive HTTP/1.1 connection to one container's agent."""

    def __init__(
        self, address_host: str, port: int, container_id: str, max_body_bytes: int, secret: str
    ):
        self.container_id = container_id
        self._headers = {**_REQUEST_HEADERS, "authorization": f"Bearer {secret}"}
        self._host = address_host
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self._host, self._port, limit=STREAM_LIMIT_BYTES
            )
        return self._reader, self._writer

    async def run_batch(self, items: list[Input]) -> tuple[list[Output], float]:
        """Send several inputs in one request (the agent runs them in turn) and wait for
        their outputs: those of the first inputs, at least one, when the rest would not fit
        in one answer; and the seconds the function ran for them.

        Raises:
            AgentUnreachable: the agent refused, reset or closed the connection.
        """
        # A batch stops once its answer passes a quarter of the limit, plus its last output.
        message = await self._exchange(
            _BATCH_LINE, encode_inputs(items), max_answer_bytes=2 * self._max_body_bytes
        )
        try:
            outputs, busy_s = decode_outputs(message.body)
        except ProtocolError as exc:
            raise AgentUnreachable(self.container_id, str(exc)) from exc
        if not 0 < len(outputs) <= len(items):
            raise AgentUnreachable(self.container_id, "the agent answered a batch wrongly")
        return outputs, busy_s

    async def run_generator(
        self, item: Input, on_item: Callable[[Output], Awaitable[None]]
    ) -> Output:
        """Run a generator function's input: `on_item` gets each value's output as it comes
        (the agent waits while it does not return); returns the final output.

        Raises:
            AgentUnreachable: the agent refused, reset or closed the connection.
        """
        try:
            reader, writer = await self._connect()
            writer.write(encode_message(_GENERATE_REQUEST, self._headers, encode_input(item)))
            await writer.drain()
            while True:
                message = await read_message(reader, self._max_body_bytes)
                if message is None:
                    raise ProtocolError("the agent closed the connection mid-stream")
                status = message.start_line.split(" ", 2)[1] if " " in message.start_line else ""
                if status not in ("200", "206"):
                    raise ProtocolError(f"the agent answered {message.start_line}")
                output = decode_output(message.body)
                if status == "200":
                    return output
                await on_item(output)
        except (OSError, ProtocolError) as exc:
            raise self._lost(exc) from exc
        except asyncio.CancelledError:
            self.close()
            raise

    async def cancel_input(self, input_id: str) -> bool:
        """Ask the agent to cancel one input; False when it runs sync code the agent cannot
        interrupt (the input's container must be retired to stop it).

        Raises:
            AgentUnreachable: the agent refused, reset or closed the connection, or does not
                know how to cancel (an older agent).
        """
        message = await self._exchange(_CANCEL_LINE, input_id.encode())
        return message.body == b"cancelled"

    async def hold_lifeline(self) -> None:
        """Make this connection the container's lifeline: the agent answers nothing on it, and
        stops once its last lifeline closes (the gateway is gone; see the agent's watchdog).
        Keep it open while the container is the gateway's, and `close` it when done.

        Raises:
            AgentUnreachable: the agent refused, reset or closed the connection.
        """
        try:
            _, writer = await self._connect()
            writer.write(encode_message(_LIFELINE_LINE, self._headers, b""))
            await writer.drain()
        except OSError as exc:
            raise self._lost(exc) from exc

    async def healthy(self, timeout_s: float = 2.0) -> bool:
        """Whether the agent answers its health check within `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._exchange(_HEALTH_LINE, b"")
        except (AgentUnreachable, TimeoutError):
            return False
        return True

    async def _exchange(
        self, start_line: str, body: bytes, max_answer_bytes: int | None = None
    ) -> Message:
        """One request on the kept-alive connection, and its 200 answer.

        Raises:
            AgentUnreachable: the agent refused, reset or closed the connection, or did not
                answer 200.
        """
        try:
            reader, writer = await self._connect()
            writer.write(encode_message(start_line, self._headers, body))
            await writer.drain()
            message = await read_message(reader, max_answer_bytes or self._max_body_bytes)
        except (OSError, ProtocolError) as exc:
            raise self._lost(exc) from exc
        except asyncio.CancelledError:
            # The answer may still arrive on this connection; it must not be read as the next.
            self.close()
            raise
        if message is None:
            self.close()
            raise AgentUnreachable(self.container_id, "the agent closed the connection")
        status = message.start_line.split(" ", 2)[1] if " " in message.start_line else ""
        if status != "200":
            self.close()
            raise AgentUnreachable(self.container_id, f"the agent answered {message.start_line}")
        return message

    def _lost(self, exc: Exception) -> AgentUnreachable:
        """The connection broke: close it, and say why."""
        self.close()
        return AgentUnreachable(self.container_id, str(exc) or type(exc).__name__)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
