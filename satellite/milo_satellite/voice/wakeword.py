"""Hearing Milo's name: microWakeWord models, or "Milo" itself via VAD + speech-to-text.

`WakeWordDetector` runs one pymicro-wakeword model (the four embedded ones, or any
microWakeWord JSON config on disk) over 16 kHz PCM. It is cheap enough to run on every
chunk inline.

`NameSpotter` is the original robot's way of being called: it cuts the audio into
utterances with a voice activity detector, sends each to a Wyoming speech-to-text
service (milo-stt) and fuzzily looks for "Milo" in the transcript ("my low", "mylo"
and "Milo's" count too). It is slower and needs the STT service, so it is optional.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
import difflib
import itertools
import json
import logging
from pathlib import Path
import re

from pymicro_vad import MicroVad
import pymicro_wakeword
from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient

from .audio import MIC_RATE

_LOGGER = logging.getLogger(__name__)

MODELS_DIR = Path(pymicro_wakeword.__file__).parent / "models"  # the embedded models
NAME_MODE = "milo"
STT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class WakeWordModel:
    id: str
    phrase: str
    languages: tuple[str, ...]
    config: Path


def available_models(extra: Sequence[str | Path] = ()) -> dict[str, WakeWordModel]:
    """The embedded models plus any microWakeWord JSON configs named in `extra`."""
    models: dict[str, WakeWordModel] = {}
    for path in [*sorted(MODELS_DIR.glob("*.json")), *map(Path, extra)]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            _LOGGER.error("Cannot load wake word config %s: %s", path, err)  # noqa: TRY400
            continue
        models[path.stem] = WakeWordModel(
            id=path.stem,
            phrase=str(data.get("wake_word", path.stem)),
            languages=tuple(data.get("trained_languages", ["en"])),
            config=path,
        )
    return models


class WakeWordDetector:
    """One model over a stream; `process` returns True once per detection."""

    def __init__(self, model: WakeWordModel, refractory_s: float = 2.0) -> None:
        self.model = model
        self._mww = MicroWakeWord.from_config(model.config)
        self._features = MicroWakeWordFeatures()
        self._refractory_bytes = int(refractory_s * MIC_RATE * 2)
        self._quiet_bytes = 0

    def process(self, pcm: bytes) -> bool:
        detected = False
        self._quiet_bytes -= len(pcm)
        for features in self._features.process_streaming(pcm):
            if self._mww.process_streaming(features) and self._quiet_bytes <= 0:
                detected = True
                self._quiet_bytes = self._refractory_bytes
        return detected

    def reset(self) -> None:
        self._mww.reset()
        self._features.reset()


_WORD = re.compile(r"[a-z]+")
# Spellings that sound alike: "my low" -> "milo", "meelo" -> "milo", "mylo" -> "milo".
_SOUNDS_ALIKE = ((re.compile(r"ee|ea|y"), "i"), (re.compile(r"ow\b|oh\b|oe\b"), "o"))


def _sound(word: str) -> str:
    for pattern, replacement in _SOUNDS_ALIKE:
        word = pattern.sub(replacement, word)
    return word


def mentions_name(text: str, names: Sequence[str], threshold: float = 0.8) -> bool:
    """True if a word, or two words run together, of `text` sounds like one of `names`."""
    words = _WORD.findall(text.lower())
    pairs = [a + b for a, b in itertools.pairwise(words)]
    candidates = [_sound(w) for w in words + pairs]
    for name in names:
        target = _sound(name.lower())
        for word in candidates:
            stem = word[:-1] if word.endswith("s") and len(word) > len(target) else word
            if abs(len(stem) - len(target)) > 1:
                continue
            if difflib.SequenceMatcher(None, stem, target).ratio() >= threshold:
                return True
    return False


class NameSpotter:
    """VAD-cut utterances, transcribed by Wyoming STT, matched against the names."""

    FRAME = 320  # 10 ms at 16 kHz, what the VAD takes
    PREROLL_FRAMES = 100  # the VAD notices speech late: short words like "Milo," need it
    END_SILENCE_FRAMES = 60
    MAX_FRAMES = 600  # 6 s: "Milo, what's the surf like at Portrush tomorrow?"
    MAX_PENDING = 2

    def __init__(
        self,
        stt_uri: str,
        on_detect: Callable[[bytes, str], None],
        *,
        names: Sequence[str] = ("milo",),
        threshold: float = 0.8,
        language: str = "en",
        speech_threshold: float = 0.5,
    ) -> None:
        self.stt_uri = stt_uri
        self.on_detect = on_detect
        self.names = list(names)
        self.threshold = threshold
        self.language = language
        self.speech_threshold = speech_threshold
        self._vad = MicroVad()
        self._pending = b""
        self._frames: list[bytes] = []
        self._speech = False
        self._silence = 0
        self._pending_utterances: list[bytes] = []
        self._worker: asyncio.Task[None] | None = None

    def reset(self) -> None:
        self._vad.reset()
        self._pending, self._frames, self._speech, self._silence = b"", [], False, 0

    def process(self, pcm: bytes) -> None:
        self._pending += pcm
        while len(self._pending) >= self.FRAME:
            frame, self._pending = self._pending[: self.FRAME], self._pending[self.FRAME :]
            self._frame(frame, self._vad.process_10ms(frame))

    def _frame(self, frame: bytes, prob: float) -> None:
        self._frames.append(frame)
        is_speech = prob >= self.speech_threshold
        if not self._speech:
            self._frames = self._frames[-self.PREROLL_FRAMES :]
            if is_speech:
                self._speech, self._silence = True, 0
            return
        self._silence = 0 if is_speech else self._silence + 1
        if self._silence >= self.END_SILENCE_FRAMES or len(self._frames) >= self.MAX_FRAMES:
            self._pending_utterances.append(b"".join(self._frames))
            # A slow STT must not make Milo deaf to its name: keep the newest few.
            del self._pending_utterances[: -self.MAX_PENDING]
            self._frames, self._speech = [], False
            if self._worker is None or self._worker.done():
                self._worker = asyncio.get_running_loop().create_task(self._transcribe_all())

    async def _transcribe_all(self) -> None:
        while self._pending_utterances:
            utterance = self._pending_utterances.pop(0)
            try:
                text = await transcribe(self.stt_uri, utterance, self.language)
            except (OSError, TimeoutError, ValueError) as err:
                _LOGGER.warning("Name mode: speech-to-text at %s failed: %s", self.stt_uri, err)
                continue
            _LOGGER.debug("Name mode heard: %r", text)
            if mentions_name(text, self.names, self.threshold):
                self._pending_utterances.clear()
                self.on_detect(utterance, text)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()


async def transcribe(uri: str, pcm: bytes, language: str) -> str:
    """Text of 16 kHz mono PCM from a Wyoming STT service."""
    async with asyncio.timeout(STT_TIMEOUT_S), AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(AudioStart(rate=MIC_RATE, width=2, channels=1).event())
        for start in range(0, len(pcm), 32000):
            chunk = AudioChunk(rate=MIC_RATE, width=2, channels=1, audio=pcm[start : start + 32000])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while True:
            event = await client.read_event()
            if event is None:
                raise ValueError("STT service closed the connection without a transcript")
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text
