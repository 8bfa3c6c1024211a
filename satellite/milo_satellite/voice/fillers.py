"""Sarcastic fillers for the wait on the LLM, spoken once at start-up by a Wyoming TTS.

They are rendered in the background when the satellite starts (milo-tts may still be
loading) and kept in memory as PCM in the speaker's format, so playing one costs nothing
when it is needed. Until one is ready, or if the TTS cannot be reached, the thinking
sound is used instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import logging
import random

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize

from .audio import PcmFormat, resample

_LOGGER = logging.getLogger(__name__)

TTS_TIMEOUT_S = 60.0


async def synthesise(uri: str, text: str, fmt: PcmFormat) -> bytes:
    """`text` spoken by the Wyoming TTS at `uri`, as raw PCM in `fmt`."""
    rate, channels, parts = 22050, 1, []
    async with asyncio.timeout(TTS_TIMEOUT_S), AsyncClient.from_uri(uri) as client:
        await client.write_event(Synthesize(text=text).event())
        while True:
            event = await client.read_event()
            if event is None:
                raise ConnectionError("TTS closed the connection early")
            if AudioStart.is_type(event.type):
                start = AudioStart.from_event(event)
                rate, channels = start.rate, start.channels
                if start.width != 2:
                    raise ValueError(f"TTS sent {start.width * 8}-bit audio; 16-bit expected")
            elif AudioChunk.is_type(event.type):
                parts.append(AudioChunk.from_event(event).audio)
            elif AudioStop.is_type(event.type):
                break
    samples = np.frombuffer(b"".join(parts), dtype="<i2").reshape(-1, channels).mean(axis=1)
    mono = resample(samples, rate, fmt.rate).astype("<i2")
    return np.repeat(mono[:, None], fmt.channels, axis=1).tobytes()


class Fillers:
    """The fillers' owner: renders `texts` with the TTS at `uri` once started, in the
    background, and hands out a rendered one at random."""

    def __init__(self, uri: str, texts: Sequence[str], fmt: PcmFormat) -> None:
        self.uri = uri
        self.texts = tuple(texts)
        self.fmt = fmt
        self.ready: list[bytes] = []  # rendered so far, as PCM in `fmt`
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._render())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def pick(self) -> bytes | None:
        """A rendered filler, None while none is ready."""
        return random.choice(self.ready) if self.ready else None

    async def _render(self) -> None:
        for text in self.texts:
            try:
                self.ready.append(await synthesise(self.uri, text, self.fmt))
            except (OSError, TimeoutError, ValueError) as err:
                _LOGGER.warning("Cannot render filler %r with %s: %s", text, self.uri, err)
                return
        _LOGGER.info("%d thinking fillers ready", len(self.ready))
