"""One client connection: framing, the connection handshake, message dispatch.

Every connection owns a framer (plaintext or Noise). Messages are handled in order;
handlers that may take long (commands, actions, camera snapshots) run as tasks so pings
keep flowing. Anything the peer gets wrong — a bad frame, a failed handshake, an unknown
message type, a payload that won't parse, a message before hello — closes this
connection only, with a log line that says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
import logging
from typing import Any

from .frames import FrameError, HandshakeRejectedError, NoiseFramer, PlaintextFramer
from .messages import Message, UnknownMessageError, decode, message_type, pb

_LOGGER = logging.getLogger(__name__)

READ_CHUNK = 65536
# A client gets this long from connecting to its hello (the Noise handshake included),
# however it trickles bytes or pings: idle strangers cannot hold a slot for long.
HELLO_TIMEOUT_S = 10.0
# Quiet this long: ping the client; quiet twice as long: it is gone. HA pings every 20 s.
KEEPALIVE_S = 60.0
# A client that stops reading must not make the satellite buffer without bound.
MAX_WRITE_BUFFER = 4 * 1024 * 1024
_ALLOWED_BEFORE_HELLO = (pb.HelloRequest, pb.PingRequest, pb.DisconnectRequest)

# Called with messages of the one type it was registered for (the router picks it by the
# message's class), so a handler's own parameter type is narrower than Message.
MessageHandler = Callable[["ClientConnection", Any], None]
# Finds the handler for a received message (the server's table), None to ignore it.
Router = Callable[[Message], MessageHandler | None]


class ClientConnection:
    """A connected client (usually Home Assistant)."""

    def __init__(
        self,
        route: Router,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        framer: PlaintextFramer | NoiseFramer,
    ) -> None:
        self._route = route
        self._reader = reader
        self._writer = writer
        self._framer = framer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.client_info = ""
        self._said_hello = False
        self._wants_states = False
        self._wants_ha_actions = False
        self.closed = asyncio.Event()
        self.connected_at = asyncio.get_running_loop().time()
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<client {self.client_info or '?'} at {self.peer}>"

    # -- what the client asked for ------------------------------------------------------

    @property
    def said_hello(self) -> bool:
        """Whether the client has said hello; nothing but a ping may come first."""
        return self._said_hello

    @property
    def wants_states(self) -> bool:
        """It subscribed to entity states."""
        return self._wants_states

    @property
    def wants_ha_actions(self) -> bool:
        """It subscribed to Home Assistant actions and events."""
        return self._wants_ha_actions

    def hello(self, client_info: str) -> bool:
        """Record the client's hello; False if it had already said it."""
        if self._said_hello:
            return False
        self.client_info = client_info[:64]
        self._said_hello = True
        return True

    def subscribe_states(self) -> None:
        """The client wants entity states from now on."""
        self._wants_states = True

    def subscribe_ha_actions(self) -> None:
        """The client wants HA actions and esphome.* events from now on."""
        self._wants_ha_actions = True

    # -- sending ------------------------------------------------------------------------

    def send(self, *msgs: Message) -> None:
        """Queue messages for the client; silently dropped once the connection closed."""
        if self.closed.is_set():
            return
        try:
            data = b"".join(
                self._framer.encode(message_type(m), m.SerializeToString()) for m in msgs
            )
        except (FrameError, ValueError) as err:
            _LOGGER.warning("%r: cannot send %s: %s", self, [type(m).__name__ for m in msgs], err)
            return
        self._writer.write(data)
        if self._writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            _LOGGER.warning("%r stopped reading; closing the connection", self)
            self.close()

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Run a handler as a task tied to this connection; its errors are logged."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{what} for {self!r}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, what))

    def _task_done(self, task: asyncio.Task[None], what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            # Only close() cancels these: say what the leaving client did not get.
            _LOGGER.warning("%r: %s cancelled, the client disconnected", self, what)
        elif (err := task.exception()) is not None:
            _LOGGER.error("%r: %s failed: %s", self, what, err, exc_info=err)

    def close(self) -> None:
        """Close the connection and cancel its handlers' tasks; safe to call twice."""
        if self.closed.is_set():
            return
        self.closed.set()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            self._writer.close()

    # -- receiving ----------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the client until it leaves or breaks the protocol."""
        try:
            await self._read_loop()
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("%r: connection lost: %s", self, err)
        except HandshakeRejectedError as err:
            _LOGGER.warning("%s: refused: %s", self.peer, err)
            with contextlib.suppress(Exception):
                for reply in [*self._framer.handshake_replies(), err.reply]:
                    self._writer.write(reply)
                await self._writer.drain()
        except (FrameError, UnknownMessageError) as err:
            _LOGGER.warning("%r: protocol error, closing: %s", self, err)
        finally:
            self.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        hello_deadline = self.connected_at + HELLO_TIMEOUT_S
        quiet_rounds = 0
        while not self.closed.is_set():
            wait_s = KEEPALIVE_S
            if not self.said_hello:
                wait_s = hello_deadline - loop.time()
                if wait_s <= 0:
                    _LOGGER.info("%s: no hello within %.0f s, closing", self.peer, HELLO_TIMEOUT_S)
                    return
            try:
                data = await asyncio.wait_for(self._reader.read(READ_CHUNK), wait_s)
            except TimeoutError:
                if not self.said_hello:
                    continue  # the deadline check above closes it
                quiet_rounds += 1
                if quiet_rounds >= 2:
                    _LOGGER.info("%r: no sign of life for %.0f s, closing", self, 2 * KEEPALIVE_S)
                    return
                self.send(pb.PingRequest())
                continue
            if not data:
                return
            quiet_rounds = 0
            messages = self._framer.feed(data)
            for reply in self._framer.handshake_replies():
                self._writer.write(reply)
            for msg_type, payload in messages:
                self._dispatch(decode(msg_type, payload))
                if self.closed.is_set():
                    return
            await self._writer.drain()

    def _dispatch(self, msg: Message) -> None:
        if not self.said_hello and not isinstance(msg, _ALLOWED_BEFORE_HELLO):
            raise UnknownMessageError(f"{type(msg).__name__} before HelloRequest")
        handler = self._route(msg)
        if handler is None:
            _LOGGER.debug("%r: ignoring %s", self, type(msg).__name__)
            return
        handler(self, msg)
