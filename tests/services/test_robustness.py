"""Bad input gets an `error` event, only that connection closes, and the server keeps serving.

Raw sockets send what the real client never would; the real client then checks the server
still answers. Runs against both milo-stt and milo-tts.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart
from wyoming.error import Error
from wyoming.event import async_read_event, async_write_event
from wyoming.info import Describe
from wyoming.tts import SynthesizeChunk, SynthesizeStart

from milo_services.common.protocol import MAX_LINE_BYTES
from tests.services.helpers import (
    EVENT_TIMEOUT,
    Speech,
    ThreadedServer,
    audio_events,
    read_until,
)

SERVERS = ["stt_server", "tts_server"]


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> ThreadedServer:
    return request.getfixturevalue(request.param)


async def send_raw(server: ThreadedServer, data: bytes) -> tuple[Error | None, bool]:
    """Send bytes; return the error event the server answered and whether it then closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        event = await asyncio.wait_for(async_read_event(reader), EVENT_TIMEOUT)
        error = Error.from_event(event) if event is not None and Error.is_type(event.type) else None
        closed = await asyncio.wait_for(reader.read(1), EVENT_TIMEOUT) == b""
        return error, closed
    finally:
        writer.close()


async def assert_still_serving(server: ThreadedServer) -> None:
    async with server.client() as client:
        await client.write_event(Describe().event())
        await read_until(client, "info")


def header(event_type: str, **fields: object) -> bytes:
    return json.dumps({"type": event_type, **fields}).encode() + b"\n"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"this is not json\n", "bad-json"),
        (b"[1, 2, 3]\n", "bad-json"),
        (b'{"data": {}}\n', "bad-header"),
        (header("describe", data_length=-5), "bad-header"),
        (header("describe", data_length="12"), "bad-header"),
        (header("describe", data_length=2) + b"[]", "bad-json"),
        (header("no-such-event"), "unknown-event"),
        (header("select-program", data={"name": "someone-else"}), "unknown-program"),
        (header("audio-chunk", data={"rate": 16000, "width": 2, "channels": 1}), None),
    ],
)
async def test_malformed_and_unexpected_events(
    server: ThreadedServer, data: bytes, code: str | None
):
    error, closed = await send_raw(server, data)
    assert error is not None
    assert closed
    if code is not None:
        assert error.code == code, error
    await assert_still_serving(server)


@pytest.mark.parametrize("field", ["data_length", "payload_length"])
async def test_absurd_lengths_are_refused_before_reading(server: ThreadedServer, field: str):
    """The header claims 10 GB and nothing follows: the server must answer at once rather
    than allocate or wait for the body."""
    error, closed = await send_raw(server, header("audio-chunk", **{field: 10 * 1024**3}))
    assert error is not None
    assert error.code == "too-large", error
    assert closed
    await assert_still_serving(server)


async def test_endless_header_line_is_refused(server: ThreadedServer):
    error, closed = await send_raw(server, b'{"type": "' + b"x" * (MAX_LINE_BYTES + 10))
    assert error is not None
    assert error.code == "too-large", error
    assert closed
    await assert_still_serving(server)


async def test_garbage_bytes_then_close(server: ThreadedServer):
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(bytes(range(256)) * 4)
    writer.close()
    await assert_still_serving(server)


async def test_audio_without_audio_start(stt_server: ThreadedServer):
    async with stt_server.client() as client:
        await client.write_event(Transcribe().event())
        chunk = AudioChunk(rate=16000, width=2, channels=1, audio=bytes(3200))
        await client.write_event(chunk.event())
        events = await read_until(client, "error")
        assert Error.from_event(events[-1]).code == "audio-not-started"
        assert await client.read_event() is None  # closed
    await assert_still_serving(stt_server)


@pytest.mark.parametrize(
    "fmt",
    [
        {"rate": 0, "width": 2, "channels": 1},
        {"rate": 16000, "width": 5, "channels": 1},
        {"rate": 16000, "width": 2, "channels": 0},
        {"rate": "fast", "width": 2, "channels": 1},
    ],
)
async def test_impossible_audio_format(stt_server: ThreadedServer, fmt: dict[str, object]):
    reader, writer = await asyncio.open_connection("127.0.0.1", stt_server.port)
    await async_write_event(AudioStart(**fmt).event(), writer)  # type: ignore[arg-type]
    event = await asyncio.wait_for(async_read_event(reader), EVENT_TIMEOUT)
    assert event is not None
    assert Error.from_event(event).code == "bad-event"
    writer.close()
    await assert_still_serving(stt_server)


async def test_stt_client_disconnects_mid_stream(stt_server: ThreadedServer):
    async with stt_server.client() as client:
        await client.write_event(Transcribe().event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(
            AudioChunk(rate=16000, width=2, channels=1, audio=bytes(16000)).event()
        )
    await assert_still_serving(stt_server)


async def test_stt_client_leaves_before_its_transcript(
    stt_server: ThreadedServer, piper_speech: list[Speech]
):
    for _ in range(3):
        async with stt_server.client() as client:
            await client.write_event(Transcribe().event())
            for event in audio_events(piper_speech[0]):
                await client.write_event(event)
    async with stt_server.client() as client:  # the next client is answered as usual
        await client.write_event(Transcribe().event())
        for event in audio_events(piper_speech[0]):
            await client.write_event(event)
        assert (await read_until(client, "transcript"))[-1].data["text"]


async def test_tts_client_disconnects_mid_stream(tts_server: ThreadedServer):
    async with tts_server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(
            SynthesizeChunk(text="This reply is long. " * 20 + "It never gets read. ").event()
        )
        await read_until(client, "audio-chunk")  # synthesis under way; now vanish
    await assert_still_serving(tts_server)
    async with tts_server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="Still here.").event())
        await client.write_event(
            Error(text="not a tts event").event()
        )  # answered with error, closes
        events = await read_until(client, "error")
    assert Error.from_event(events[-1]).code == "unknown-event"
    await assert_still_serving(tts_server)


async def test_audio_limit_per_request(stt_server: ThreadedServer):
    """More audio than any voice command is refused instead of growing without bound."""
    async with stt_server.client() as client:
        await client.write_event(AudioStart(rate=8000, width=1, channels=1).event())
        second = bytes(8000)
        for _ in range(121):  # just past the 120 s limit: nothing unread when it closes
            await client.write_event(
                AudioChunk(rate=8000, width=1, channels=1, audio=second).event()
            )
        events = await read_until(client, "error")
    assert Error.from_event(events[-1]).code == "audio-too-long"
