"""Shared test helpers: servers on their own event loop thread, speech, a Wyoming client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
import io
import re
import subprocess
import threading
import wave

import jiwer
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from milo_services.common.server import HandlerFactory, ServiceServer

EVENT_TIMEOUT = 120.0  # generous: the machine is shared; no test asserts on speed


class ThreadedServer:
    """A real ServiceServer on 127.0.0.1:<free port>, served from its own thread and loop,
    so a session-scoped model serves every test whatever loop the test runs on."""

    def __init__(self, factory: HandlerFactory) -> None:
        self._factory = factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server = ServiceServer("tcp://127.0.0.1:0", factory)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(30)
        self.port = self.server.port
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def client(self) -> AsyncTcpClient:
        return AsyncTcpClient("127.0.0.1", self.port, read_timeout=EVENT_TIMEOUT)


@dataclass(frozen=True)
class Speech:
    """A spoken sentence as raw PCM."""

    text: str
    pcm: bytes
    rate: int
    width: int = 2
    channels: int = 1

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (self.rate * self.width * self.channels)


def wav_to_speech(text: str, wav_bytes: bytes) -> Speech:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        return Speech(
            text=text,
            pcm=wav.readframes(wav.getnframes()),
            rate=wav.getframerate(),
            width=wav.getsampwidth(),
            channels=wav.getnchannels(),
        )


def espeak(text: str, voice: str = "en-us+m3", speed: int = 150) -> Speech:
    """espeak-ng's formant voice: robotic and harder to recognise than Piper's."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    return wav_to_speech(text, wav)


def sox(speech: Speech, *effects: str, rate: int, bits: int, channels: int) -> Speech:
    """Re-encode speech with sox (other rates, widths, channel counts) as raw PCM."""
    wav = io.BytesIO()
    with wave.open(wav, "wb") as writer:
        writer.setframerate(speech.rate)
        writer.setsampwidth(speech.width)
        writer.setnchannels(speech.channels)
        writer.writeframes(speech.pcm)
    encoding = "unsigned-integer" if bits == 8 else "signed-integer"
    raw = subprocess.run(
        [
            *("sox", "-t", "wav", "-", "-t", "raw", "-r", str(rate), "-b", str(bits)),
            *("-c", str(channels), "-e", encoding, "-L", "-", *effects),
        ],
        input=wav.getvalue(),
        check=True,
        capture_output=True,
    ).stdout
    return Speech(speech.text, raw, rate=rate, width=bits // 8, channels=channels)


def audio_events(speech: Speech, chunk_ms: int = 100) -> Iterable[Event]:
    frame = speech.width * speech.channels
    step = max(frame, speech.rate * chunk_ms // 1000 * frame)
    fmt = {"rate": speech.rate, "width": speech.width, "channels": speech.channels}
    yield AudioStart(**fmt).event()
    for offset in range(0, len(speech.pcm), step):
        yield AudioChunk(audio=speech.pcm[offset : offset + step], **fmt).event()
    yield AudioStop().event()


_NUMBER_WORDS = (  # noqa: SIM905 - a word list reads best as words
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()


def normalize(text: str) -> str:
    """Lower case, no punctuation, small numbers as words ("10" and "ten" are both right)."""
    text = text.lower().replace("-", " ")
    words = re.sub(r"[^a-z0-9' ]+", " ", text).split()
    return " ".join(_NUMBER_WORDS[int(w)] if w.isdigit() and int(w) <= 20 else w for w in words)


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize(reference), normalize(hypothesis) or "<empty>"))


async def read_until(client: AsyncTcpClient, *types: str) -> list[Event]:
    """Events up to and including the first of `types`; fails on an early close."""
    events: list[Event] = []
    while True:
        event = await client.read_event()
        assert event is not None, f"connection closed before {types}; got {events}"
        events.append(event)
        if event.type in types:
            return events
