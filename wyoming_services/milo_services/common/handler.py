"""Base class for a service's per-connection Wyoming handler.

It replaces `AsyncEventHandler.run()` so that every service gets the same behaviour on bad
input: the hardened `read_event()`, an `error` event that says what was wrong, and closing
only the offending connection while the server keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import ClassVar

from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info, SelectProgram
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler

from .protocol import EventLimits, ProtocolError, ReadTimeouts, read_event

_LOGGER = logging.getLogger(__name__)


class EventError(Exception):
    """A well-framed event the service can't accept (unknown type, wrong order, bad fields)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class ServiceHandler(AsyncEventHandler):
    """Answers `describe`, `ping` and `select-program`; subclasses handle the rest.

    Subclasses implement `handle_request()` and end it with
    `return await super().handle_request(event)` so unknown events are refused uniformly.
    Raise `EventError` for requests that can't be served; the client gets an `error` event
    with its code and the connection is closed.
    """

    limits: ClassVar[EventLimits] = EventLimits()

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, info: Info
    ) -> None:
        super().__init__(reader, writer)
        self.info = info
        self.peer = writer.get_extra_info("peername") or "local client"
        self._handling = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """True while a request is being answered; shutdown waits for it (a little)."""
        return self._handling

    async def stop(self) -> None:
        """Stop after the request in progress, or at once when idle (server shutdown)."""
        self._stopping = True
        if not self.busy and self._task is not None:
            self._task.cancel()

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.info.event())
            return True
        if Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
            return True
        if SelectProgram.is_type(event.type):
            self._check_program(SelectProgram.from_event(event).name)
            return True
        return await self.handle_request(event)

    async def handle_request(self, event: Event) -> bool:
        """Handle a service-specific event; return False to close the connection."""
        raise EventError("unknown-event", f"unsupported event type {event.type!r}")

    def _check_program(self, name: str) -> None:
        programs = [*self.info.asr, *self.info.tts, *self.info.handle]
        if name not in {program.name for program in programs}:
            raise EventError("unknown-program", f"this server has no program named {name!r}")

    async def run(self, timeouts: ReadTimeouts | None = None) -> None:
        """Serve the connection until it closes; `timeouts` (from the server) bound how long
        a started event and an idle connection may take."""
        self._task = asyncio.current_task()
        try:
            while not self._stopping:
                event = await read_event(self.reader, self.limits, timeouts, lambda: self.busy)
                if event is None:
                    break
                _LOGGER.debug("%s -> %s", self.peer, event.type)
                self._handling = True
                try:
                    if not await self._dispatch(event):
                        break
                finally:
                    self._handling = False
        except (ProtocolError, EventError) as err:
            _LOGGER.warning("Closing connection from %s: %s (%s)", self.peer, err.text, err.code)
            await self._send_error(err.code, err.text)
        except ConnectionError:
            _LOGGER.debug("Client %s went away", self.peer)
        finally:
            await self.disconnect()
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()

    async def _dispatch(self, event: Event) -> bool:
        try:
            return await self.handle_event(event)
        except (EventError, ConnectionError):
            raise
        except (KeyError, TypeError, ValueError) as err:
            # The wyoming event classes raise these for missing or mistyped fields.
            _LOGGER.debug("Malformed %s event", event.type, exc_info=True)
            raise EventError("bad-event", f"malformed {event.type!r} event: {err!r}") from err
        except Exception as err:
            _LOGGER.exception("Failed to handle %s from %s", event.type, self.peer)
            raise EventError("internal-error", f"{type(err).__name__}: {err}") from err

    async def _send_error(self, code: str, text: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.write_event(Error(text=text, code=code).event())
