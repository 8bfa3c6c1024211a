"""Per-connection TTS protocol.

- `synthesize` -> audio-start, audio-chunk*, audio-stop.
- `synthesize-start`, `synthesize-chunk`*, `synthesize-stop` -> each sentence is spoken as
  soon as it is complete (audio-start before the first audio, audio-stop after the last),
  then `synthesize-stopped`. Home Assistant also sends the whole text as a `synthesize`
  inside the stream for older servers; that copy is ignored so nothing is spoken twice.

A request's text is limited to `MAX_REQUEST_TEXT_BYTES` (UTF-8): more gets a `text-too-long`
error. Within that, streamed text waiting for a sentence end is bounded by the splitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import ClassVar

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from ..common.handler import EventError, ServiceHandler
from ..common.protocol import EventLimits
from .sentences import SentenceSplitter
from .synthesizer import Synthesizer

_LOGGER = logging.getLogger(__name__)

SAMPLES_PER_CHUNK = 2048
_END_OF_STREAM = None
# About an hour of speech: more than anyone sends a speaker, small enough that one request
# can't queue the voice for a day.
MAX_REQUEST_TEXT_BYTES = 64 * 1024


def _check_length(text: str, sent_before: int = 0) -> int:
    """Bytes of text in the request so far; `text-too-long` past the limit."""
    total = sent_before + len(text.encode("utf-8", "surrogatepass"))
    if total > MAX_REQUEST_TEXT_BYTES:
        raise EventError(
            "text-too-long",
            f"more than {MAX_REQUEST_TEXT_BYTES} bytes of text in one request; "
            "send long texts as several requests",
        )
    return total


class TtsHandler(ServiceHandler):
    # Text comes in `data`; no TTS event carries a payload.
    limits: ClassVar[EventLimits] = EventLimits(max_payload_bytes=0)

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        info: Info,
        synthesizer: Synthesizer,
    ) -> None:
        super().__init__(reader, writer, info)
        self._synthesizer = synthesizer
        self._splitter: SentenceSplitter | None = None
        self._sentences: asyncio.Queue[str | None] | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._stream_bytes = 0
        self._awaiting_text = False  # a stream has spoken all it was sent so far

    async def handle_request(self, event: Event) -> bool:
        if Synthesize.is_type(event.type):
            if self._splitter is not None:
                _LOGGER.debug("Ignoring the compatibility copy of a streamed text")
                return True
            await self._finish_stream_task()
            synthesize = Synthesize.from_event(event)
            _check_length(synthesize.text)
            await self._speak_once(synthesize.text, self._speaker(synthesize.voice))
            return True
        if SynthesizeStart.is_type(event.type):
            if self._splitter is not None:
                raise EventError("stream-in-progress", "synthesize-start inside a stream")
            await self._finish_stream_task()
            start = SynthesizeStart.from_event(event)
            self._splitter = SentenceSplitter()
            self._stream_bytes = 0
            self._sentences = asyncio.Queue()
            self._stream_task = asyncio.create_task(
                self._speak_stream(self._sentences, self._speaker(start.voice))
            )
            return True
        if SynthesizeChunk.is_type(event.type):
            if self._splitter is None or self._sentences is None:
                raise EventError("stream-not-started", "synthesize-chunk before synthesize-start")
            text = SynthesizeChunk.from_event(event).text
            self._stream_bytes = _check_length(text, self._stream_bytes)
            for sentence in self._splitter.add(text):
                self._sentences.put_nowait(sentence)
            return True
        if SynthesizeStop.is_type(event.type):
            if self._splitter is None or self._sentences is None:
                raise EventError("stream-not-started", "synthesize-stop before synthesize-start")
            if rest := self._splitter.finish():
                self._sentences.put_nowait(rest)
            self._sentences.put_nowait(_END_OF_STREAM)
            self._splitter = self._sentences = None
            return True
        return await super().handle_request(event)

    @property
    def busy(self) -> bool:
        """Speaking counts; a stream waiting for the client's next text does not (idle)."""
        streaming = self._stream_task is not None and not self._stream_task.done()
        return super().busy or (streaming and not self._awaiting_text)

    def _speaker(self, voice: SynthesizeVoice | None) -> str | None:
        if voice is None or voice.name not in (None, self._synthesizer.engine.files.name):
            return None  # another voice than the one loaded: speak with ours
        return voice.speaker

    async def _speak_once(self, text: str, speaker: str | None) -> None:
        started = False
        async for pcm in self._synthesizer.speak(text, speaker):
            started = await self._send_audio(pcm, started)
        if not started:
            await self.write_event(self._audio_start())
        await self.write_event(AudioStop().event())

    async def _speak_stream(
        self, sentences: asyncio.Queue[str | None], speaker: str | None
    ) -> None:
        started = False
        try:
            while (sentence := await self._next_sentence(sentences)) is not _END_OF_STREAM:
                _LOGGER.debug("Speaking streamed sentence: %s", sentence)
                async for pcm in self._synthesizer.speak(sentence, speaker, first=not started):
                    started = await self._send_audio(pcm, started)
            if started:
                await self.write_event(AudioStop().event())
            await self.write_event(SynthesizeStopped().event())
        except ConnectionError:
            _LOGGER.debug("Client %s left during a stream", self.peer)
            self.writer.close()
        except Exception as err:
            _LOGGER.exception("Streaming synthesis failed for %s", self.peer)
            await self._send_error("synthesis-failed", f"{type(err).__name__}: {err}")
            self.writer.close()  # ends the connection's read loop too

    async def _next_sentence(self, sentences: asyncio.Queue[str | None]) -> str | None:
        self._awaiting_text = sentences.empty()
        try:
            return await sentences.get()
        finally:
            self._awaiting_text = False

    async def _send_audio(self, pcm: bytes, started: bool) -> bool:
        if not started:
            await self.write_event(self._audio_start())
        step = 2 * SAMPLES_PER_CHUNK
        rate = self._synthesizer.sample_rate
        for offset in range(0, len(pcm), step):
            chunk = AudioChunk(rate=rate, width=2, channels=1, audio=pcm[offset : offset + step])
            await self.write_event(chunk.event())
        return True

    def _audio_start(self) -> Event:
        return AudioStart(rate=self._synthesizer.sample_rate, width=2, channels=1).event()

    async def _finish_stream_task(self) -> None:
        """A new request waits until the previous stream's audio is all sent."""
        if self._stream_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task
            self._stream_task = None

    async def disconnect(self) -> None:
        if self._stream_task is not None and not self._stream_task.done():
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task
