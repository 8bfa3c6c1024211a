"""Sarcastic fillers for the wait on the LLM, spoken once at start-up by a Wyoming TTS.

They are rendered in the background when the satellite starts (milo-tts may still be
loading) and kept in memory as PCM in the speaker's format, so playing one costs nothing
when it is needed. If the TTS cannot be reached the thinking sound is used instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import logging

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


async def render_fillers(uri: str, texts: Sequence[str], fmt: PcmFormat, into: list[bytes]) -> None:
    """Append each rendered filler to `into` as soon as it is ready."""
    for text in texts:
        try:
            into.append(await synthesise(uri, text, fmt))
        except (OSError, TimeoutError, ValueError) as err:
            _LOGGER.warning("Cannot render filler %r with %s: %s", text, uri, err)
            return
    _LOGGER.info("%d thinking fillers ready", len(into))
