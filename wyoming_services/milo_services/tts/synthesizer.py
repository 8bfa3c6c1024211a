"""Runs the engine off the event loop, one small step at a time.

All connections share one worker thread. Each job is a single step (phonemize a text, or
render the next piece of a sentence), so concurrent clients take turns instead of waiting
for each other's whole replies, and a client that leaves stops costing anything after the
step in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .engine import PiperEngine

_T = TypeVar("_T")


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
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate

    async def _run(self, func: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def speak(self, text: str, speaker: str | None = None) -> AsyncIterator[bytes]:
        """16-bit mono PCM for `text`, piece by piece, each sentence followed by the
        configured silence."""
        speaker_id = self.default_speaker_id if speaker is None else self.engine.speaker_id(speaker)
        silence = bytes(2 * int(self.settings.sentence_silence * self.sample_rate))
        for phonemes in await self._run(self.engine.phonemize, text):
            pieces: Iterator[bytes] = self.engine.render(
                phonemes, speaker_id, self.settings.length_scale
            )
            while (piece := await self._run(next, pieces, None)) is not None:
                yield piece
            if silence:
                yield silence

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
