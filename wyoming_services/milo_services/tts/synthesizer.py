"""Runs the engine off the event loop, one small step at a time, most urgent first.

All connections share one worker thread. Each job is a single step (phonemize a text, or
render the next piece of a sentence), so concurrent clients take turns instead of waiting
for each other's whole replies, and a client that leaves stops costing anything after the
step in progress. Steps that lead to a reply's *first* audio go before the rest: a reply
already playing has its sent audio as a head start, a new one has nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
import itertools
import queue
import threading
from typing import Any, TypeVar

from ..common.memory import release_memory
from .engine import PiperEngine
from .sentences import split_sentences

_T = TypeVar("_T")

URGENT, LATER = 0, 1


@dataclass(order=True)
class _Job:
    priority: int
    order: int
    future: asyncio.Future[Any] | None = field(compare=False)  # None: stop the worker
    call: Callable[[], Any] = field(compare=False)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled meanwhile: the client left
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _PriorityWorker:
    """A single thread that runs the most urgent waiting job next, oldest first."""

    def __init__(self) -> None:
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._work, name="piper", daemon=True)
        self._thread.start()

    async def run(self, priority: int, func: Callable[..., _T], *args: object) -> _T:
        return await self.post(priority, func, *args)

    def post(self, priority: int, func: Callable[..., _T], *args: object) -> asyncio.Future[_T]:
        """Queue `func(*args)`; the result comes in the future (awaiting it is optional)."""
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._jobs.put(_Job(priority, next(self._order), future, lambda: func(*args)))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job.future is None:
                return
            if job.future.cancelled():
                continue
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.call()
            except BaseException as err:  # handed to the awaiting coroutine
                error = err
            loop = job.future.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, job.future, result, error)

    def close(self) -> None:
        self._jobs.put(_Job(URGENT - 1, -1, None, lambda: None))


@dataclass(frozen=True)
class SpeechSettings:
    """Server-wide defaults from the command line."""

    speaker: str | None = None
    length_scale: float | None = None
    sentence_silence: float = 0.0


class Synthesizer:
    def __init__(self, engine: PiperEngine, settings: SpeechSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.default_speaker_id = engine.speaker_id(settings.speaker)
        self._worker = _PriorityWorker()
        self._speaking = 0

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate

    async def speak(
        self, text: str, speaker: str | None = None, first: bool = True
    ) -> AsyncIterator[bytes]:
        """16-bit mono PCM for `text`, piece by piece, each sentence followed by the
        configured silence. `first`: no audio of this reply has been sent yet (urgent).
        The text is phonemized a sentence at a time, so a long text is many small steps."""
        speaker_id = self.default_speaker_id if speaker is None else self.engine.speaker_id(speaker)
        silence = bytes(2 * int(self.settings.sentence_silence * self.sample_rate))
        priority = URGENT if first else LATER
        step = self._worker.run
        self._speaking += 1
        try:
            for sentence in split_sentences(text):
                for phonemes in await step(priority, self.engine.phonemize, sentence):
                    pieces: Iterator[bytes] = self.engine.render(
                        phonemes, speaker_id, self.settings.length_scale
                    )
                    while (piece := await step(priority, next, pieces, None)) is not None:
                        priority = LATER
                        yield piece
                    if silence:
                        yield silence
        finally:
            self._speaking -= 1
            if not self._speaking:  # nobody is being answered: give the memory back
                self._worker.post(LATER, release_memory)

    def close(self) -> None:
        self._worker.close()
