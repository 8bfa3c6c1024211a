"""The device's log lines for clients that subscribe (HA's "subscribe to logs" option,
`esphome logs`), at the level each client asked for."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .messages import pb

if TYPE_CHECKING:
    from .connection import ClientConnection
    from .server import APIServer

_LEVELS = (
    (logging.ERROR, pb.LOG_LEVEL_ERROR),
    (logging.WARNING, pb.LOG_LEVEL_WARN),
    (logging.INFO, pb.LOG_LEVEL_INFO),
    (logging.DEBUG, pb.LOG_LEVEL_DEBUG),
)


def _wire_level(levelno: int) -> pb.LogLevel.ValueType:
    for python_level, wire in _LEVELS:
        if levelno >= python_level:
            return wire
    return pb.LOG_LEVEL_VERBOSE


class LogForwarder(logging.Handler):
    """A logging handler that sends records to subscribed API clients."""

    def __init__(self, server: APIServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.DEBUG)
        self.server = server
        self.loop = loop
        self.levels: dict[ClientConnection, pb.LogLevel.ValueType] = {}
        self._sending = False
        self.setFormatter(logging.Formatter("[%(levelname).1s][%(name)s]: %(message)s"))
        server.add_message_handler(pb.SubscribeLogsRequest, self._subscribe)
        server.add_client_listener(self._client_changed)

    def _client_changed(self, client: ClientConnection, connected: bool) -> None:
        if not connected:
            self.levels.pop(client, None)

    def _subscribe(self, client: ClientConnection, msg: pb.SubscribeLogsRequest) -> None:
        self.levels[client] = msg.level or pb.LOG_LEVEL_DEBUG

    def emit(self, record: logging.LogRecord) -> None:
        """Send one log record to the clients that subscribed at its level."""
        if not self.levels:
            return
        level = _wire_level(record.levelno)
        message = self.format(record).encode(errors="replace")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._send(level, message)
        else:  # a record from another thread
            self.loop.call_soon_threadsafe(self._send, level, message)

    def _send(self, level: pb.LogLevel.ValueType, message: bytes) -> None:
        if self._sending:  # a log line written while sending one: drop, never recurse
            return
        self._sending = True
        try:
            for client, wanted in list(self.levels.items()):
                if level <= wanted:
                    client.send(pb.SubscribeLogsResponse(level=level, message=message))
        finally:
            self._sending = False
