"""Nothing one client sends can hurt the others: hostile input against the real services.

Each service runs as its own process, the console script users run, under an address-space
cap (`prlimit --as`), so a regression that balloons memory fails a test instead of taking
the machine down; its peak memory (VmHWM) is held to the goals (milo-tts 1.5 GB, milo-stt
1 GB) after every hostile client. A well-behaved client, using the real wyoming client, is
served while each hostile one is still at it. Timeouts are short here (flags) to keep the
suite quick; the defaults are 10 s and 60 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass
import json
from pathlib import Path
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import async_read_event, async_write_event
from wyoming.info import Describe
from wyoming.ping import Ping
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart

from milo_services.stt.handler import MAX_AUDIO_BYTES, MAX_CHUNK_BYTES
from milo_services.tts.handler import MAX_REQUEST_TEXT_BYTES
from tests.services.helpers import EVENT_TIMEOUT, Speech, audio_events, read_until, wer

BIN = Path(sys.executable).parent
GIB = 1024**3
PEAK_RSS = {"milo-tts": 1.5e9, "milo-stt": 1.0e9}  # the goals, in bytes
# Address space, not memory: the runtimes reserve far more than they touch. Generous for
# normal use; far below what the regressions asked for (23 GB for one run-on sentence).
ADDRESS_SPACE = {"milo-tts": 4 * GIB, "milo-stt": 4 * GIB}
# The goal is 0.25 s; this is generous for a shared machine and still far below what the
# regressions did (a 60 KB flood of "Mr. " stalled everyone for 6.7 s).
STALL_LIMIT = 3.0
MAX_CONNECTIONS = 6
READ_TIMEOUT = 2.0
IDLE_TIMEOUT = 4.0
NORMAL_TEXT = "Turn on the kitchen lights."


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def client(self) -> AsyncTcpClient:
        return AsyncTcpClient("127.0.0.1", self.port, read_timeout=EVENT_TIMEOUT)

    def peak_rss(self) -> int:
        """The process's peak resident memory so far (VmHWM), in bytes."""
        assert self.process.poll() is None, f"{self.name} died:\n{self.log.read_text()[-3000:]}"
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def assert_healthy(self) -> None:
        peak = self.peak_rss()
        assert peak <= PEAK_RSS[self.name], f"{self.name} peaked at {peak / 1e9:.2f} GB"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _describe(port: int) -> None:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        await read_until(client, "info")


def _start(name: str, log_dir: Path) -> Iterator[Service]:
    port = _free_port()
    log = log_dir / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *("prlimit", f"--as={ADDRESS_SPACE[name]}", "--", str(BIN / name)),
                *("--uri", f"tcp://127.0.0.1:{port}", "--max-connections", str(MAX_CONNECTIONS)),
                *("--read-timeout", str(READ_TIMEOUT), "--idle-timeout", str(IDLE_TIMEOUT)),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    service = Service(name, process, port, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()
            try:
                asyncio.run(_describe(port))
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def tts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from _start("milo-tts", tmp_path_factory.mktemp("tts"))


@pytest.fixture(scope="module")
def stt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from _start("milo-stt", tmp_path_factory.mktemp("stt"))


@pytest.fixture(params=["tts", "stt"])
def service(request: pytest.FixtureRequest) -> Service:
    return request.getfixturevalue(request.param)


@contextlib.asynccontextmanager
async def raw(service: Service) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def error_then_close(reader: asyncio.StreamReader) -> Error:
    """The `error` event the server sends before closing the connection."""
    async with asyncio.timeout(EVENT_TIMEOUT):
        while (event := await async_read_event(reader)) is not None:
            if Error.is_type(event.type):
                assert await reader.read(1) == b"", "still open after the error"
                return Error.from_event(event)
    raise AssertionError("closed without an error event")


async def speak(service: Service, text: str = NORMAL_TEXT) -> int:
    """A normal `synthesize`; returns the bytes of audio."""
    async with service.client() as client:
        await client.write_event(Synthesize(text=text).event())
        events = await read_until(client, "audio-stop")
    return sum(len(event.payload or b"") for event in events if event.type == "audio-chunk")


async def transcribe(service: Service, speech: Speech, chunk_ms: int = 100) -> str:
    async with service.client() as client:
        await client.write_event(Transcribe(language="en").event())
        for event in audio_events(speech, chunk_ms):
            await client.write_event(event)
        return Transcript.from_event((await read_until(client, "transcript"))[-1]).text


async def served_meanwhile(hostile: asyncio.Task[object], normal: asyncio.Future[object]) -> None:
    """The normal request completes while the hostile client is still being served."""
    await normal
    assert not hostile.done(), "the hostile client finished first: nothing was shown"
    hostile.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await hostile


async def worst_stall(service: Service, until: asyncio.Event) -> float:
    """The longest a ping waited for its pong (the server's event loop was stalled) until
    `until` is set."""
    worst = 0.0
    async with service.client() as client:
        while not until.is_set():
            start = time.monotonic()
            await client.write_event(Ping().event())
            await read_until(client, "pong")
            worst = max(worst, time.monotonic() - start)
            await asyncio.sleep(0.05)
    return worst


# --- milo-tts ------------------------------------------------------------------------


async def _hostile_synthesize(service: Service, text: str, chunks: int) -> None:
    """Send `text` and read `chunks` audio chunks of it, then keep the request open."""
    async with service.client() as client:
        await client.write_event(Synthesize(text=text).event())
        for _ in range(chunks):
            assert (await read_until(client, "audio-chunk", "audio-stop"))[-1].type == "audio-chunk"
        await asyncio.sleep(EVENT_TIMEOUT)


async def test_tts_run_on_sentence_is_spoken_in_pieces(tts: Service):
    """12,000 characters without a full stop took 23 GB at once; now they are spoken in
    clause-sized pieces while another client is served."""
    text = ("the swell keeps building over the reef and the wind stays offshore " * 180)[:12_000]
    hostile = asyncio.create_task(_hostile_synthesize(tts, text, chunks=3))
    await asyncio.sleep(1.0)  # its first piece is under way
    await served_meanwhile(hostile, asyncio.ensure_future(speak(tts)))
    tts.assert_healthy()


async def test_tts_abbreviation_flood_is_split_quickly(tts: Service):
    """60 KB of 'Mr. ' in one streamed chunk stalled every client for 6.7 s (160 KB: 38 s)."""
    spoken = asyncio.Event()

    async def flood() -> None:
        async with tts.client() as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text="Mr. " * 15_000).event())
            await read_until(client, "audio-chunk")  # spoken before the stream ends
            spoken.set()
            await asyncio.sleep(EVENT_TIMEOUT)

    stall = asyncio.ensure_future(worst_stall(tts, spoken))
    await asyncio.sleep(0.3)
    hostile = asyncio.create_task(flood())
    await served_meanwhile(hostile, stall)
    assert stall.result() < STALL_LIMIT
    assert await speak(tts) > 0
    tts.assert_healthy()


async def test_tts_streamed_text_without_sentence_end_is_not_hoarded(tts: Service):
    """Text with no sentence end is spoken once it is too long to wait for one."""
    async with tts.client() as client:
        await client.write_event(SynthesizeStart().event())
        for _ in range(100):
            await client.write_event(SynthesizeChunk(text="and the tide turns ").event())
        events = await read_until(client, "audio-chunk")  # before synthesize-stop
        assert events[0].type == "audio-start"
    tts.assert_healthy()


async def test_tts_stream_left_waiting_for_text_is_closed_as_idle(tts: Service):
    """A stream that is never finished must not hold its connection for ever: once what it
    was sent is spoken, waiting for more text counts as idle."""
    async with raw(tts) as (reader, writer):
        await async_write_event(SynthesizeStart().event(), writer)
        await async_write_event(SynthesizeChunk(text="Hello there. And").event(), writer)
        assert (await error_then_close(reader)).code == "idle-timeout"


@pytest.mark.parametrize("streamed", [False, True])
async def test_tts_text_over_the_request_limit_is_refused(tts: Service, streamed: bool):
    text = "Surf's up. " * (MAX_REQUEST_TEXT_BYTES // 11 + 1)
    async with raw(tts) as (reader, writer):
        if streamed:
            await async_write_event(SynthesizeStart().event(), writer)
            half = len(text) // 2
            for part in (text[:half], text[half:]):
                await async_write_event(SynthesizeChunk(text=part).event(), writer)
        else:
            await async_write_event(Synthesize(text=text).event(), writer)
        assert (await error_then_close(reader)).code == "text-too-long"
    assert await speak(tts) > 0


# --- milo-stt ------------------------------------------------------------------------


WIDE = {"rate": 384_000, "width": 4, "channels": 32}  # 49 MB a second


async def test_stt_audio_is_bounded_in_bytes(stt: Service, piper_speech: list[Speech]):
    """384 kHz, 32-bit, 32 channels within 120 s could buffer 5.5 GiB per connection. A
    client holding nearly the limit doesn't stop another being served; one more chunk
    gets `audio-too-large`."""
    chunk = AudioChunk(audio=bytes(MAX_CHUNK_BYTES), **WIDE).event()
    drip = AudioChunk(audio=bytes(128), **WIDE).event()

    async def hold_nearly_the_limit() -> None:
        async with raw(stt) as (_reader, writer):
            await async_write_event(AudioStart(**WIDE).event(), writer)
            for _ in range(MAX_AUDIO_BYTES // MAX_CHUNK_BYTES - 1):
                await async_write_event(chunk, writer)
            while True:  # a little now and then: not idle
                await async_write_event(drip, writer)
                await asyncio.sleep(IDLE_TIMEOUT / 4)

    hostile = asyncio.create_task(hold_nearly_the_limit())
    await asyncio.sleep(0.5)
    normal = asyncio.ensure_future(transcribe(stt, piper_speech[0]))
    await served_meanwhile(hostile, normal)
    assert wer(piper_speech[0].text, str(normal.result())) <= 0.2
    stt.assert_healthy()

    async with raw(stt) as (reader, writer):
        await async_write_event(AudioStart(**WIDE).event(), writer)
        with contextlib.suppress(ConnectionError):
            for _ in range(MAX_AUDIO_BYTES // MAX_CHUNK_BYTES + 1):
                await async_write_event(chunk, writer)
        assert (await error_then_close(reader)).code == "audio-too-large"
    stt.assert_healthy()


async def test_stt_oversized_chunk_is_refused_unread(stt: Service):
    async with raw(stt) as (reader, writer):
        await async_write_event(AudioStart(**WIDE).event(), writer)
        writer.write(_line("audio-chunk", data=WIDE, payload_length=MAX_CHUNK_BYTES + 128))
        assert (await error_then_close(reader)).code == "too-large"


@pytest.mark.parametrize(
    "fmt",
    [{"rate": 16_000, "width": 2, "channels": 1}, {"rate": 384_000, "width": 4, "channels": 4}],
)
async def test_stt_digital_silence_does_not_use_the_model(stt: Service, fmt: dict[str, int]):
    """0.5 s of digital silence held the one transcription worker for 3.5 to 4 s."""
    silence = Speech(text="", pcm=bytes(fmt["rate"] * fmt["width"] * fmt["channels"] // 2), **fmt)
    before = stt.log.read_text().count("model not run")
    assert await transcribe(stt, silence, chunk_ms=10) == ""
    assert stt.log.read_text().count("model not run") == before + 1


async def test_stt_big_conversion_runs_off_the_event_loop(stt: Service, piper_speech: list[Speech]):
    """Nearly the byte limit of loud 384 kHz audio (a tone: no speech), then audio-stop:
    resampling it runs on a worker thread while another client is served."""
    rate = 384_000
    seconds = (MAX_AUDIO_BYTES - MAX_CHUNK_BYTES) / (2 * rate)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)
    loud = Speech(text="", pcm=(tone * 32767).astype("<i2").tobytes(), rate=rate)

    async def convert_and_wait() -> None:
        async with stt.client() as client:
            for event in audio_events(loud, chunk_ms=1000):
                await client.write_event(event)
            await asyncio.sleep(EVENT_TIMEOUT)

    done = asyncio.Event()
    stall = asyncio.ensure_future(worst_stall(stt, done))
    hostile = asyncio.create_task(convert_and_wait())
    await asyncio.sleep(0.5)
    normal = asyncio.ensure_future(transcribe(stt, piper_speech[3]))
    await served_meanwhile(hostile, normal)
    done.set()
    assert await stall < STALL_LIMIT
    assert wer(piper_speech[3].text, str(normal.result())) <= 0.2
    stt.assert_healthy()


async def test_stt_a_long_request_does_not_hold_the_model(stt: Service, piper_speech: list[Speech]):
    """A request within every limit can keep whisper busy for many seconds (120 s of loud
    noise: 37 s on the busy VM; here 110 s of unbroken talk, which whisper must decode
    word by word), and whisper cannot be interrupted. Another client's request starts
    beside it on the second worker instead of waiting behind it."""
    talk = b"".join(s.pcm for s in piper_speech)
    seconds = len(talk) / (2 * piper_speech[0].rate)
    long = Speech(text="", pcm=talk * int(110 // seconds), rate=piper_speech[0].rate)
    hostile = asyncio.create_task(transcribe(stt, long, chunk_ms=1000))
    await asyncio.sleep(1.0)  # its audio-stop is in: the model is working on it
    normal = asyncio.ensure_future(transcribe(stt, piper_speech[3]))
    await served_meanwhile(hostile, normal)
    assert wer(piper_speech[3].text, str(normal.result())) <= 0.2
    stt.assert_healthy()


def test_stt_stops_at_once_mid_transcription(tmp_path: Path, piper_speech: list[Speech]) -> None:
    """SIGTERM while whisper works on a long request: milo-stt exits (status 0) without
    waiting for it; Python would have waited half a minute for the worker thread."""
    starting = _start("milo-stt", tmp_path)
    service = next(starting)
    talk = b"".join(s.pcm for s in piper_speech)
    seconds = len(talk) / (2 * piper_speech[0].rate)
    long = Speech(text="", pcm=talk * int(110 // seconds), rate=piper_speech[0].rate)

    async def stop_mid_request() -> int:
        request = asyncio.create_task(transcribe(service, long, chunk_ms=1000))
        await asyncio.sleep(2.0)  # the model is on it
        service.process.terminate()
        returncode = await asyncio.to_thread(service.process.wait, 15)
        with contextlib.suppress(Exception):
            await request  # the connection closed under it
        return returncode

    try:
        assert asyncio.run(stop_mid_request()) == 0
        assert "not waiting for the transcription" in service.log.read_text()
    finally:
        starting.close()


# --- both ----------------------------------------------------------------------------


def _line(event_type: str, **fields: object) -> bytes:
    return json.dumps({"type": event_type, **fields}).encode() + b"\n"


def _framed(body: bytes) -> bytes:
    """A `describe` whose data section is `body`."""
    return _line("describe", data_length=len(body)) + body


@pytest.mark.parametrize(
    "data",
    [
        b'{"type": "describe", "data": ' + b"[" * 20_000 + b"]" * 20_000 + b"}\n",
        _framed(b'{"x": ' + b"[" * 29_000 + b"]" * 29_000 + b"}"),
        b'{"type": "describe", "data": {"n": ' + b"7" * 5000 + b"}}\n",
        _framed(b'{"n": ' + b"9" * 5000 + b"}"),
    ],
    ids=["nested-header", "nested-data", "long-number-header", "long-number-data"],
)
async def test_hostile_json_gets_an_error_event(service: Service, data: bytes):
    """Deep nesting and numbers over 4,300 digits closed the connection without a word."""
    async with raw(service) as (reader, writer):
        writer.write(data)
        await writer.drain()
        assert (await error_then_close(reader)).code == "bad-json"
    await _describe(service.port)
    service.assert_healthy()


async def test_connections_are_capped_and_idle_ones_closed(service: Service):
    await asyncio.sleep(1.0)  # connections of earlier tests are gone
    async with contextlib.AsyncExitStack() as stack:
        idle = [await stack.enter_async_context(raw(service)) for _ in range(MAX_CONNECTIONS)]
        await asyncio.sleep(0.2)  # all accepted
        async with raw(service) as (reader, _writer):
            assert (await error_then_close(reader)).code == "too-many-connections"
        for reader, _writer in idle:  # closed after --idle-timeout, with a reason
            assert (await error_then_close(reader)).code == "idle-timeout"
    await _describe(service.port)


async def test_half_sent_frames_time_out(service: Service):
    """50 connections each holding half of a big frame stayed open for ever (270 MB)."""
    async with contextlib.AsyncExitStack() as stack:
        stalled = [await stack.enter_async_context(raw(service)) for _ in range(MAX_CONNECTIONS)]
        for _reader, writer in stalled:
            writer.write(_line("describe", data_length=1024 * 1024) + b" " * (512 * 1024))
        for reader, _writer in stalled:
            assert (await error_then_close(reader)).code == "read-timeout"
    await _describe(service.port)
    service.assert_healthy()


async def test_a_slow_but_steady_client_is_not_cut_off(stt: Service, piper_speech: list[Speech]):
    """Real time streaming with pauses longer than nothing but shorter than the timeouts."""
    speech = piper_speech[2]
    async with stt.client() as client:
        await client.write_event(Transcribe(language="en").event())
        for index, event in enumerate(audio_events(speech)):
            if index == 3:
                await asyncio.sleep(READ_TIMEOUT * 1.2)  # between events: not a timeout
            await client.write_event(event)
        text = Transcript.from_event((await read_until(client, "transcript"))[-1]).text
    assert wer(speech.text, text) <= 0.2
