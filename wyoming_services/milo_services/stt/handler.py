"""Per-connection STT protocol: transcribe, audio-start, audio-chunk*, audio-stop -> transcript."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import logging
import time

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Info

from ..common.audio import check_format, pcm_to_float, resample
from ..common.handler import EventError, ServiceHandler
from .biasing import merge_phrases
from .transcriber import SAMPLE_RATE, Transcriber

_LOGGER = logging.getLogger(__name__)

# A voice command is seconds long; this bounds memory per connection, not normal use.
MAX_AUDIO_SECONDS = 120.0


@dataclass
class _Run:
    """Contiguous audio in one format, kept as raw bytes until the stream ends."""

    rate: int
    width: int
    channels: int
    data: bytearray = field(default_factory=bytearray)

    def to_model_input(self) -> np.ndarray:
        return resample(
            pcm_to_float(bytes(self.data), self.width, self.channels), self.rate, SAMPLE_RATE
        )


@dataclass
class _Utterance:
    """Audio received since audio-start; a format change mid-stream starts a new run."""

    runs: list[_Run] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, chunk: AudioChunk) -> None:
        check_format(chunk.rate, chunk.width, chunk.channels)
        last = self.runs[-1] if self.runs else None
        if last is None or (last.rate, last.width, last.channels) != (
            chunk.rate,
            chunk.width,
            chunk.channels,
        ):
            last = _Run(chunk.rate, chunk.width, chunk.channels)
            self.runs.append(last)
        self.seconds += len(chunk.audio) / (chunk.rate * chunk.width * chunk.channels)
        if self.seconds > MAX_AUDIO_SECONDS:
            raise EventError(
                "audio-too-long", f"more than {MAX_AUDIO_SECONDS:.0f} s of audio in one request"
            )
        last.data.extend(chunk.audio)

    def to_model_input(self) -> np.ndarray:
        parts = [run.to_model_input() for run in self.runs]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class SttHandler(ServiceHandler):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        info: Info,
        transcriber: Transcriber,
        hotwords: list[str],
    ) -> None:
        super().__init__(reader, writer, info)
        self._transcriber = transcriber
        self._hotwords = hotwords
        self._request = Transcribe()
        self._utterance: _Utterance | None = None
        self._replying: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return super().busy or (self._replying is not None and not self._replying.done())

    async def handle_request(self, event: Event) -> bool:
        if Transcribe.is_type(event.type):
            self._request = Transcribe.from_event(event)
            return True
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            check_format(start.rate, start.width, start.channels)
            self._utterance = _Utterance()
            return True
        if AudioChunk.is_type(event.type):
            if self._utterance is None:
                raise EventError("audio-not-started", "audio-chunk received before audio-start")
            self._utterance.add(AudioChunk.from_event(event))
            return True
        if AudioStop.is_type(event.type):
            if self._utterance is None:
                raise EventError("audio-not-started", "audio-stop received before audio-start")
            utterance, request = self._utterance, self._request
            self._utterance, self._request = None, Transcribe()
            # Reply from a task so the read loop notices a client that leaves meanwhile
            # (disconnect() then drops its transcription if it hasn't started).
            self._replying = asyncio.create_task(self._reply(utterance, request, self._replying))
            return True
        return await super().handle_request(event)

    async def _reply(
        self, utterance: _Utterance, request: Transcribe, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:  # replies go out in request order
            await previous
        try:
            await self.write_event(await self._transcribe(utterance, request))
        except ConnectionError:
            _LOGGER.debug("Client %s left before its transcript", self.peer)
        except Exception as err:
            _LOGGER.exception("Transcription failed for %s", self.peer)
            await self._send_error("transcription-failed", f"{type(err).__name__}: {err}")
            self.writer.close()  # ends the connection's read loop too

    async def disconnect(self) -> None:
        if self._replying is not None and not self._replying.done():
            self._replying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replying

    async def _transcribe(self, utterance: _Utterance, request: Transcribe) -> Event:
        language = request.language or self._transcriber.options.language
        if utterance.seconds == 0:
            return Transcript(text="", language=language).event()
        audio = utterance.to_model_input()
        phrases = merge_phrases(self._hotwords, request.transcript_names, request.transcript_terms)
        prompt = self._transcriber.prompt_for(phrases) if phrases else None
        started = time.monotonic()
        text = await self._transcriber.transcribe(audio, request.language, prompt)
        _LOGGER.info(
            "Transcribed %.1f s of audio in %.2f s: %s",
            utterance.seconds,
            time.monotonic() - started,
            text,
        )
        return Transcript(text=text, language=language).event()
