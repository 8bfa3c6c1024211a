"""Reading Wyoming events without trusting the peer.

The `wyoming` library's `async_read_event` allocates whatever `data_length` or
`payload_length` a header claims and silently returns None on malformed JSON. A service
reachable on the LAN must instead refuse absurd sizes before reading them and tell the
client what was wrong, so this reader raises `ProtocolError` with a machine-readable code.
It also bounds time: a frame that has started must arrive whole within a few seconds, so a
client trickling a half-sent frame can't hold its buffer (and connection slot) for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
import json
from typing import Any

from wyoming.event import Event

# A header line is a small JSON object; 64 KiB leaves room for inline `data`.
MAX_LINE_BYTES = 64 * 1024
DEFAULT_FRAME_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class EventLimits:
    """Largest `data` and `payload` sections a service accepts in one event."""

    max_data_bytes: int = 1024 * 1024
    max_payload_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class ReadTimeouts:
    """`frame`: seconds from an event's first byte to its last. `idle`: seconds a connection
    may send nothing while it has no request in progress (clients connect per request)."""

    frame: float = DEFAULT_FRAME_TIMEOUT
    idle: float = DEFAULT_IDLE_TIMEOUT


class ProtocolError(Exception):
    """The peer broke the Wyoming framing; the connection can't be trusted any more."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError("bad-header", f"{key} must be a non-negative integer, got {value!r}")
    if value > limit:
        raise ProtocolError("too-large", f"{key} {value} exceeds the limit of {limit} bytes")
    return value


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ProtocolError("bad-json", f"{what} is nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, bad UTF-8, an integer over 4300 digits
        raise ProtocolError("bad-json", f"{what} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise ProtocolError("bad-json", f"{what} must be a JSON object")
    return value


async def read_event(
    reader: asyncio.StreamReader,
    limits: EventLimits,
    timeouts: ReadTimeouts | None = None,
    busy: Callable[[], bool] = lambda: False,
) -> Event | None:
    """Read one event; None when the peer closed the connection (even mid-event).

    With `timeouts`, waiting for an event to start ends in `idle-timeout` (unless `busy()`
    says a request is still being answered), and an event that takes longer than
    `timeouts.frame` to arrive whole ends in `read-timeout`.
    """
    if timeouts is None:
        return await _read_frame(reader, limits)
    while True:
        try:
            async with asyncio.timeout(timeouts.idle):
                first = await reader.read(1)  # cancelled before reading: nothing consumed
            break
        except TimeoutError:
            if not busy():
                raise ProtocolError(
                    "idle-timeout", f"no request for {timeouts.idle:g} s; closing"
                ) from None
    if not first:
        return None
    try:
        async with asyncio.timeout(timeouts.frame):
            return await _read_frame(reader, limits, first)
    except TimeoutError:
        raise ProtocolError(
            "read-timeout", f"an event took more than {timeouts.frame:g} s to arrive"
        ) from None


async def _read_frame(
    reader: asyncio.StreamReader, limits: EventLimits, first: bytes = b""
) -> Event | None:
    try:
        line = first + await reader.readline() if first != b"\n" else first
    except ValueError:  # asyncio's LimitOverrunError surfaces as ValueError from readline
        raise ProtocolError(
            "too-large", f"header line exceeds the limit of {MAX_LINE_BYTES} bytes"
        ) from None
    if not line.endswith(b"\n"):
        return None  # EOF, possibly after a partial line

    header = _json_object(line, "event header")
    event_type = header.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ProtocolError("bad-header", "event header has no 'type'")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError("bad-header", "'data' must be a JSON object")

    data_length = _length(header, "data_length", limits.max_data_bytes)
    payload_length = _length(header, "payload_length", limits.max_payload_bytes)
    try:
        if data_length:
            data = {**data, **_json_object(await reader.readexactly(data_length), "event data")}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None
    return Event(type=event_type, data=data, payload=payload)
