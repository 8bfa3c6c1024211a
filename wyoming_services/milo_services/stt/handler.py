"""Per-connection STT protocol: transcribe, audio-start, audio-chunk*, audio-stop -> transcript.

Speculation: Home Assistant sends audio in real time and stops only after its voice activity
detection has heard 0.7 s of silence. Once the audio has gone quiet for `SPECULATE_AFTER`,
milo-stt starts transcribing what it has; if nothing but silence follows, `audio-stop` is
answered with that transcript as soon as it is ready, most of the wait already spent.

The transcript is the same as without speculation, by construction: the model always gets the
audio cut `KEEP_SILENCE` after the last speech (see `SpeechTracker`), and a speculative result
is used only when the audio it was made from is identical, sample for sample, to what the
model would get at `audio-stop`. Otherwise (the user spoke again, a new request) it is dropped.
Subscribers (`speculation_feed`) hear of each speculative transcript as soon as it is ready,
and of its dropping.

Limits: a connection holds at most `MAX_AUDIO_BYTES` of audio (its request and those still
waiting for a transcript) and a request at most `MAX_AUDIO_SECONDS`. Conversion to 16 kHz
runs on its own worker thread, never on the event loop, one at a time (bounded memory).
Audio with nothing louder than the quietest speech (digital silence) is answered with an
empty transcript without using the model, which would spend seconds inventing words.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import contextlib
from dataclasses import dataclass, field
import logging
import time
from typing import ClassVar
from uuid import uuid4

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Info

from ..common.audio import check_format, pcm_to_float, resample
from ..common.handler import EventError, ServiceHandler
from ..common.memory import release_memory
from ..common.protocol import EventLimits
from .biasing import NAMES_EVENT, NamesError, Vocabulary, names_from_event
from .name_correction import NameCorrector
from .speculation_feed import (
    SUBSCRIBE_EVENT,
    SUBSCRIBED_EVENT,
    SpeculationFeed,
    Subscription,
    dropped,
    speculative,
)
from .speech_tracker import FRAME_SECONDS, QUIETEST_SPEECH_DB, SpeechTracker
from .transcriber import SAMPLE_RATE, Transcriber

_LOGGER = logging.getLogger(__name__)

# A voice command is seconds long; these bound memory and work per connection, not normal
# use. 8 MiB is 262 s of Home Assistant's 16 kHz 16-bit mono, 44 s of 48 kHz 32-bit stereo.
MAX_AUDIO_SECONDS = 120.0
MAX_AUDIO_BYTES = 8 * 1024 * 1024
# A real chunk is tens of milliseconds (a few KiB); 1 MiB is 20 ms of the widest format.
MAX_CHUNK_BYTES = 1024 * 1024
# Format changes within one request (each starts a run with its own buffers).
MAX_FORMAT_CHANGES = 16
# Silence kept after the last speech: room for soft word endings the energy measure misses.
# (0.15 to 0.3 s and no cut at all gave the same word error rate on the benchmark corpus.)
KEEP_SILENCE = 0.2
# Speculate once the kept silence has arrived (plus a frame, so resampling near the cut
# already sees the samples after it): 0.22 s, before Home Assistant's shortest
# end-of-speech wait ("aggressive", 0.25 s) is over.
SPECULATE_AFTER = KEEP_SILENCE + FRAME_SECONDS


# Conversions run here, one at a time: off the event loop, and at most one conversion's
# buffers in memory whatever the number of clients.
_CONVERTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stt-convert")
_BLOCK_BYTES = 64 * 1024


_FrozenRun = tuple[int, int, int, tuple[bytes, ...]]  # rate, width, channels, chunks


@dataclass
class _Run:
    """Contiguous audio in one format, kept as raw bytes until the stream ends: in blocks
    that never change once full, so a snapshot copies at most one block's worth."""

    rate: int
    width: int
    channels: int
    blocks: list[bytes] = field(default_factory=list)
    tail: bytearray = field(default_factory=bytearray)

    def extend(self, audio: bytes) -> None:
        self.tail += audio
        if len(self.tail) >= _BLOCK_BYTES:
            self.blocks.append(bytes(self.tail))
            self.tail.clear()

    def frozen(self) -> _FrozenRun:
        return (self.rate, self.width, self.channels, (*self.blocks, bytes(self.tail)))


@dataclass(frozen=True)
class _Audio:
    """The audio of an utterance at one moment, safe to convert on another thread."""

    runs: tuple[_FrozenRun, ...]
    speech_end: float | None

    def to_model_input(self) -> np.ndarray:
        """16 kHz mono float32, cut `KEEP_SILENCE` after the last speech (blocking)."""
        parts = [
            resample(pcm_to_float(b"".join(chunks), width, channels), rate, SAMPLE_RATE)
            for rate, width, channels, chunks in self.runs
        ]
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        if self.speech_end is not None:
            audio = audio[: round((self.speech_end + KEEP_SILENCE) * SAMPLE_RATE)]
        return audio


@dataclass
class _Utterance:
    """Audio received since audio-start; a format change mid-stream starts a new run."""

    runs: list[_Run] = field(default_factory=list)
    seconds: float = 0.0
    size: int = 0  # bytes
    speech: SpeechTracker = field(default_factory=SpeechTracker)
    session: str = field(default_factory=lambda: uuid4().hex)  # names it to subscribers

    def add(self, chunk: AudioChunk, room: int) -> None:
        """Keep `chunk`; `room`: bytes this utterance may hold in all."""
        check_format(chunk.rate, chunk.width, chunk.channels)
        last = self.runs[-1] if self.runs else None
        if last is None or (last.rate, last.width, last.channels) != (
            chunk.rate,
            chunk.width,
            chunk.channels,
        ):
            if len(self.runs) > MAX_FORMAT_CHANGES:
                raise EventError(
                    "bad-event", f"more than {MAX_FORMAT_CHANGES} format changes in one request"
                )
            last = _Run(chunk.rate, chunk.width, chunk.channels)
            self.runs.append(last)
        self.seconds += len(chunk.audio) / (chunk.rate * chunk.width * chunk.channels)
        self.size += len(chunk.audio)
        if self.seconds > MAX_AUDIO_SECONDS:
            raise EventError(
                "audio-too-long", f"more than {MAX_AUDIO_SECONDS:.0f} s of audio in one request"
            )
        if self.size > room:
            raise EventError(
                "audio-too-large",
                f"more than {MAX_AUDIO_BYTES} bytes of audio held for one connection "
                "(send 16 kHz 16-bit mono)",
            )
        last.extend(chunk.audio)
        self.speech.feed(pcm_to_float(chunk.audio, chunk.width, chunk.channels), chunk.rate)

    def snapshot(self) -> _Audio:
        return _Audio(tuple(run.frozen() for run in self.runs), self.speech.speech_end)


@dataclass(frozen=True)
class _Job:
    """What the model is asked: the same job gives the same transcript."""

    audio: np.ndarray
    language: str | None
    prompt: str | None
    names: NameCorrector  # puts back the names whisper misheard

    def same_as(self, other: _Job) -> bool:
        asked = (self.language, self.prompt, self.names)
        return asked == (other.language, other.prompt, other.names) and np.array_equal(
            self.audio, other.audio
        )


@dataclass
class _Speculation:
    job: asyncio.Task[_Job]
    speech_end: float | None
    task: asyncio.Task[str]
    session: str
    feed: SpeculationFeed | None
    started: float = field(default_factory=time.monotonic)
    published: bool = False  # subscribers have its transcript
    used: bool = False  # it is the request's transcript

    def publish(self, task: asyncio.Task[str]) -> None:
        """Tell subscribers the words once they are known (not once the request has them)."""
        if self.feed is None or task.cancelled() or task.exception() is not None or self.used:
            return
        if text := task.result():
            self.published = True
            self.feed.publish(speculative(text, self.session))
            _LOGGER.debug("Published the speculative transcript of %s: %s", self.session, text)

    def cancel(self) -> None:
        """Stop its work; subscribers that had its words learn they are not the request's."""
        self.task.cancel()
        self.job.cancel()
        if self.published and not self.used and self.feed is not None:
            self.published = False
            self.feed.publish(dropped(self.session))


def _quietly(task: asyncio.Task[object]) -> None:
    if not task.cancelled():
        task.exception()


class SttHandler(ServiceHandler):
    limits: ClassVar[EventLimits] = EventLimits(max_payload_bytes=MAX_CHUNK_BYTES)

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        info: Info,
        transcriber: Transcriber,
        vocabulary: Vocabulary,
        *,
        speculate: bool = True,
        feed: SpeculationFeed | None = None,
    ) -> None:
        super().__init__(reader, writer, info)
        self._transcriber = transcriber
        self._vocabulary = vocabulary
        self._speculate = speculate
        self._feed = feed  # None: nobody can subscribe
        self._subscription: Subscription | None = None
        self._forwarding: asyncio.Task[None] | None = None
        self._request = Transcribe()
        self._utterance: _Utterance | None = None
        self._speculation: _Speculation | None = None
        self._replying: asyncio.Task[None] | None = None
        self._waiting_bytes = 0  # audio of requests still waiting for their transcript

    @property
    def busy(self) -> bool:
        return super().busy or (self._replying is not None and not self._replying.done())

    async def handle_request(self, event: Event) -> bool:
        if Transcribe.is_type(event.type):
            self._request = Transcribe.from_event(event)
            return True
        if event.type == NAMES_EVENT:  # the home's names, from Home Assistant (see biasing)
            try:
                names = names_from_event(event)
            except NamesError as err:
                raise EventError("bad-event", f"{NAMES_EVENT}: {err}") from err
            await self.write_event(self._vocabulary.set_home_names(names))
            return True
        if event.type == SUBSCRIBE_EVENT:
            await self._subscribe()
            return True
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            check_format(start.rate, start.width, start.channels)
            self._drop_speculation()
            self._utterance = _Utterance()
            return True
        if AudioChunk.is_type(event.type):
            if self._utterance is None:
                raise EventError("audio-not-started", "audio-chunk received before audio-start")
            self._utterance.add(AudioChunk.from_event(event), MAX_AUDIO_BYTES - self._waiting_bytes)
            if self._speculate:
                self._update_speculation(self._utterance)
            return True
        if AudioStop.is_type(event.type):
            if self._utterance is None:
                raise EventError("audio-not-started", "audio-stop received before audio-start")
            utterance, request, speculation = self._utterance, self._request, self._speculation
            self._utterance, self._request, self._speculation = None, Transcribe(), None
            self._waiting_bytes += utterance.size
            # Reply from a task so the read loop notices a client that leaves meanwhile
            # (disconnect() then drops its transcription if it hasn't started).
            self._replying = asyncio.create_task(
                self._reply(utterance, request, speculation, self._replying)
            )
            return True
        return await super().handle_request(event)

    async def _subscribe(self) -> None:
        if self._feed is None or not self._speculate:
            raise EventError(
                "not-supported", "this milo-stt does not publish speculative transcripts"
            )
        if self._subscription is not None:
            raise EventError("bad-event", f"{SUBSCRIBE_EVENT}: this connection is subscribed")
        await self.write_event(Event(SUBSCRIBED_EVENT))
        # A subscriber that cannot keep up is closed (its read loop then ends).
        self._subscription = self._feed.subscribe(overflow=self.writer.close)
        self._forwarding = asyncio.create_task(self._forward(self._subscription))

    async def _forward(self, subscription: Subscription) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await self.write_event(await subscription.queue.get())

    def _update_speculation(self, utterance: _Utterance) -> None:
        """Start transcribing once the speech has stopped; drop that if it starts again."""
        speculation = self._speculation
        if speculation is not None and speculation.speech_end != utterance.speech.speech_end:
            _LOGGER.debug("Speech resumed; dropping the speculative transcription")
            self._drop_speculation()
            speculation = None
        if speculation is None and utterance.speech.trailing_silence >= SPECULATE_AFTER:
            job = asyncio.create_task(self._job(utterance.snapshot(), self._request))
            task = asyncio.create_task(self._run(job))
            for each in (job, task):  # a dropped one's failure is nobody's business
                each.add_done_callback(_quietly)
            self._speculation = _Speculation(
                job, utterance.speech.speech_end, task, utterance.session, self._feed
            )
            task.add_done_callback(self._speculation.publish)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation.cancel()
            self._speculation = None

    async def _reply(
        self,
        utterance: _Utterance,
        request: Transcribe,
        speculation: _Speculation | None,
        previous: asyncio.Task[None] | None,
    ) -> None:
        try:
            if previous is not None:  # replies go out in request order
                await previous
            await self.write_event(await self._transcribe(utterance, request, speculation))
        except ConnectionError:
            _LOGGER.debug("Client %s left before its transcript", self.peer)
        except Exception as err:
            _LOGGER.exception("Transcription failed for %s", self.peer)
            await self._send_error("transcription-failed", f"{type(err).__name__}: {err}")
            self.writer.close()  # ends the connection's read loop too
        finally:
            self._waiting_bytes -= utterance.size
            if speculation is not None:
                speculation.cancel()  # unused, or already done

    async def disconnect(self) -> None:
        self._drop_speculation()
        if self._subscription is not None and self._feed is not None:
            self._feed.unsubscribe(self._subscription)
        if self._forwarding is not None:
            self._forwarding.cancel()
        if self._replying is not None and not self._replying.done():
            self._replying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replying
        self._utterance = None  # its audio goes, then the memory goes back
        _CONVERTER.submit(release_memory)

    async def _job(self, audio: _Audio, request: Transcribe) -> _Job:
        names, terms = request.transcript_names, request.transcript_terms
        prompt = self._vocabulary.prompt(names, terms)
        heard_in = request.language
        if heard_in not in self._transcriber.languages:  # as the transcriber decides
            heard_in = self._transcriber.options.language
        corrector = self._vocabulary.corrector(names, terms, heard_in)
        samples = await asyncio.get_running_loop().run_in_executor(_CONVERTER, audio.to_model_input)
        return _Job(samples, request.language, prompt, corrector)

    async def _run(self, job: asyncio.Task[_Job]) -> str:
        return await self._words(await job)

    async def _words(self, job: _Job) -> str:
        """The model's transcript, with the names it misheard put back."""
        heard = await self._transcriber.transcribe(job.audio, job.language, job.prompt, owner=self)
        text = job.names.correct(heard)
        if text != heard:
            _LOGGER.info("Names put back: %r heard as %r", text, heard)
        return text

    async def _transcribe(
        self, utterance: _Utterance, request: Transcribe, speculation: _Speculation | None
    ) -> Event:
        language = request.language or self._transcriber.options.language
        if not utterance.speech.heard_sound:
            _LOGGER.info(
                "%.1f s of audio with nothing louder than %.0f dBFS: empty transcript, "
                "model not run",
                utterance.seconds,
                QUIETEST_SPEECH_DB,
            )
            return Transcript(text="", language=language).event()
        stopped = time.monotonic()
        job = await self._job(utterance.snapshot(), request)
        if speculation is not None and (await speculation.job).same_as(job):
            speculation.used = True
            how = f"speculatively, started {stopped - speculation.started:.2f} s before audio-stop"
            text = await speculation.task
        else:
            if speculation is not None:
                speculation.cancel()  # out of the queue before this job goes in
            how = "after audio-stop"
            text = await self._words(job)
        _LOGGER.info(
            "Transcribed %.1f s of audio (%.1f s used) %s; ready %.2f s after audio-stop: %s",
            utterance.seconds,
            job.audio.size / SAMPLE_RATE,
            how,
            time.monotonic() - stopped,
            text,
        )
        return Transcript(text=text, language=language).event()
