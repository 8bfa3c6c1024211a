"""Listening, zeroconf announcements and clean shutdown, shared by every service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
import contextlib
from dataclasses import dataclass, field
import logging
from pathlib import Path
import signal
import socket
from urllib.parse import ParseResult, urlparse

from wyoming.error import Error
from wyoming.event import async_write_event
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .handler import ServiceHandler
from .protocol import MAX_LINE_BYTES, ReadTimeouts

_LOGGER = logging.getLogger(__name__)

HandlerFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], ServiceHandler]

WYOMING_SERVICE_TYPE = "_wyoming._tcp.local."

# How long running requests may take to finish once shutdown starts.
_STOP_GRACE_SECONDS = 5.0
# Home Assistant opens one connection per request; a few satellites talking at once need a
# handful. The cap bounds what idle or hostile connections can hold (buffers, slots).
DEFAULT_MAX_CONNECTIONS = 32


@dataclass(frozen=True)
class ServerLimits:
    """Connections served at once (more are refused with `too-many-connections`) and the
    read timeouts each gets (`--max-connections`, `--read-timeout`, `--idle-timeout`)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    timeouts: ReadTimeouts = field(default_factory=ReadTimeouts)


def parse_uri(uri: str) -> ParseResult:
    """A tcp://HOST:PORT or unix://PATH URI, parsed; ValueError saying what is wrong."""
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        try:
            port = parsed.port
        except ValueError:
            port = None
        if parsed.hostname is None or port is None:
            raise ValueError(f"{uri!r}: a tcp:// URI needs a host and a port")
    elif parsed.scheme == "unix":
        if not parsed.path:
            raise ValueError(f"{uri!r}: a unix:// URI needs a socket path")
    else:
        raise ValueError(f"{uri!r}: only tcp:// and unix:// URIs are supported")
    return parsed


class ServiceServer:
    """A Wyoming server on tcp://HOST:PORT (PORT may be 0) or unix://PATH.

    Unlike `wyoming.server.AsyncServer` it exposes the bound port and waits for (then
    cancels) open connections on `stop()`, which is what tests and SIGTERM need.
    """

    def __init__(
        self, uri: str, handler_factory: HandlerFactory, limits: ServerLimits | None = None
    ) -> None:
        parsed = parse_uri(uri)
        self.host: str | None = parsed.hostname if parsed.scheme == "tcp" else None
        self.uri = uri
        self._parsed = parsed
        self._factory = handler_factory
        self.limits = limits or ServerLimits()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], ServiceHandler] = {}

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server is not listening on TCP")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Start listening; returns once the socket is bound."""
        if self.host is not None:
            self._server = await asyncio.start_server(
                self._on_connect, self.host, self._parsed.port, limit=MAX_LINE_BYTES
            )
        else:
            path = Path(self._parsed.path)
            await asyncio.to_thread(path.unlink, missing_ok=True)  # a stale socket file
            self._server = await asyncio.start_unix_server(
                self._on_connect, path, limit=MAX_LINE_BYTES
            )
        _LOGGER.info("Listening on %s", self.uri)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.limits.max_connections:
            await _refuse(writer, self.limits.max_connections)
            return
        handler = self._factory(reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = handler
        try:
            await handler.run(self.limits.timeouts)
        finally:
            self._connections.pop(task, None)

    async def stop(self) -> None:
        """Stop accepting, let requests in progress finish for a moment, then cancel the rest."""
        if self._server is None:
            return
        self._server.close()
        for handler in list(self._connections.values()):
            await handler.stop()
        tasks = list(self._connections)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=_STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.host is None:
            await asyncio.to_thread(Path(self._parsed.path).unlink, missing_ok=True)
        self._server = None
        _LOGGER.info("Stopped %s", self.uri)


async def _refuse(writer: asyncio.StreamWriter, limit: int) -> None:
    peer = writer.get_extra_info("peername") or "local client"
    _LOGGER.warning("Refusing a connection from %s: %d connections already open", peer, limit)
    text = f"the server already has {limit} connections open; try again later"
    with contextlib.suppress(ConnectionError):
        await async_write_event(Error(text=text, code="too-many-connections").event(), writer)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@dataclass(frozen=True)
class Announcement:
    """One mDNS service record to publish while the server runs."""

    name: str
    port: int
    service_type: str = WYOMING_SERVICE_TYPE
    properties: dict[str, str] = field(default_factory=dict)


def announcement_address(host: str | None) -> str:
    """The IPv4 address to announce: the bound one, or the LAN address for 0.0.0.0."""
    if host and host not in ("0.0.0.0", "::", ""):
        return socket.gethostbyname(host)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("224.0.0.251", 5353))  # no packet is sent; picks the LAN interface
        return str(probe.getsockname()[0])


@contextlib.asynccontextmanager
async def announced(announcements: Sequence[Announcement], host: str | None) -> AsyncIterator[None]:
    """Publish the records for the duration of the block; a failure is logged, not fatal."""
    if not announcements:
        yield
        return
    address = socket.inet_aton(announcement_address(host))
    infos = [
        AsyncServiceInfo(
            item.service_type,
            f"{item.name}.{item.service_type}",
            addresses=[address],
            port=item.port,
            properties=item.properties,
        )
        for item in announcements
    ]
    zeroconf = AsyncZeroconf()
    try:
        for info in infos:
            await zeroconf.async_register_service(info, allow_name_change=True)
            _LOGGER.info("Announced %s on port %s", info.name, info.port)
    except Exception:
        _LOGGER.exception("Zeroconf announcement failed; the service runs without it")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await zeroconf.async_unregister_all_services()
        await zeroconf.async_close()


async def run_service(
    server: ServiceServer,
    *,
    zeroconf_name: str | None = None,
    extra_announcements: Sequence[Announcement] = (),
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly (exit status 0).

    `zeroconf_name` (from `--zeroconf`) announces `_wyoming._tcp` on the bound port;
    `extra_announcements` are published alongside (milo-llm's `_milo-llm._tcp` record).
    """
    if zeroconf_name is not None and server.host is None:
        raise ValueError("--zeroconf needs a tcp:// URI")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # not on Windows event loops
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    announcements = list(extra_announcements)
    if zeroconf_name is not None:
        announcements.insert(0, Announcement(name=zeroconf_name, port=server.port))
    try:
        async with announced(announcements, server.host):
            _LOGGER.info("Ready")
            await stop.wait()
            _LOGGER.info("Shutting down")
    finally:
        await server.stop()
