"""Listening for the wake word (or Milo's name) and for the stop word.

One wake word at a time, chosen by HA's wake word select: a model id, or `milo` (name
mode: short utterances transcribed by a Wyoming STT and matched against the names). The
stop word, said while Milo talks or rings, is the wake word unless configured apart; name
mode has none, as a transcription would come too late to stop anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import logging

from ..api.messages import pb
from .wakeword import NAME_MODE, NameSpotter, WakeWordDetector, WakeWordModel

_LOGGER = logging.getLogger(__name__)


class WakeListener:
    """Feeds the microphone to the chosen wake word; `on_wake(phrase, prefix)` when heard.

    `prefix` is the audio that came with the name in name mode ("Milo, what's the surf
    like?"), so HA gets the question too; empty after a wake word model.
    """

    def __init__(
        self,
        models: dict[str, WakeWordModel],
        on_wake: Callable[[str, bytes], None],
        *,
        wake_word: str,
        stop_word: str = "",
        stt_uri: str = "",
        names: Sequence[str] = ("milo",),
        language: str = "en",
    ) -> None:
        self.models = models
        self.on_wake = on_wake
        self.stt_uri = stt_uri
        self.names = tuple(names)
        self.language = language
        self.wake_word = ""
        self._stop_word = stop_word
        self._detectors: dict[str, WakeWordDetector] = {}
        self._name_spotter: NameSpotter | None = None
        self.select(wake_word)

    def options(self) -> list[str]:
        return [*self.models, NAME_MODE]

    def select(self, wake_word: str) -> None:
        """Switch models (or to name mode); ValueError if unknown or not configured."""
        if wake_word == NAME_MODE and not self.stt_uri:
            raise ValueError("name mode ('milo') needs voice.stt_uri (a Wyoming STT)")
        if wake_word != NAME_MODE and wake_word not in self.models:
            raise ValueError(f"unknown wake word {wake_word!r}; known: {self.options()}")
        self.close()
        if wake_word == NAME_MODE:
            self._name_spotter = NameSpotter(
                self.stt_uri, self._on_name, names=self.names, language=self.language
            )
        else:
            self._detector(wake_word).reset()
        self.wake_word = wake_word
        _LOGGER.info("Wake word: %s", wake_word)

    def hear_wake(self, chunk: bytes) -> None:
        """Listen for the wake word in `chunk` (name mode answers later, once transcribed)."""
        if self._name_spotter is not None:
            self._name_spotter.process(chunk)
        elif self._detector(self.wake_word).process(chunk):
            phrase = self.models[self.wake_word].phrase
            _LOGGER.info("Wake word %r detected", phrase)
            self.on_wake(phrase, b"")

    def hear_stop(self, chunk: bytes) -> bool:
        """Whether `chunk` completes the stop word."""
        stop = self._stop_word or ("" if self.wake_word == NAME_MODE else self.wake_word)
        return bool(stop) and self._detector(stop).process(chunk)

    def configuration(self) -> pb.VoiceAssistantConfigurationResponse:
        """HA's wake word select: what can be chosen and what is."""
        resp = pb.VoiceAssistantConfigurationResponse(max_active_wake_words=1)
        for model in self.models.values():
            resp.available_wake_words.append(
                pb.VoiceAssistantWakeWord(
                    id=model.id, wake_word=model.phrase, trained_languages=model.languages
                )
            )
        if self.stt_uri:
            resp.available_wake_words.append(
                pb.VoiceAssistantWakeWord(
                    id=NAME_MODE, wake_word="Milo", trained_languages=[self.language]
                )
            )
        resp.active_wake_words.append(self.wake_word)
        return resp

    def close(self) -> None:
        if self._name_spotter is not None:
            self._name_spotter.close()
            self._name_spotter = None

    def _detector(self, model_id: str) -> WakeWordDetector:
        if model_id not in self._detectors:
            self._detectors[model_id] = WakeWordDetector(self.models[model_id])
        return self._detectors[model_id]

    def _on_name(self, utterance: bytes, text: str) -> None:
        _LOGGER.info("Heard my name in %r", text)
        # If the question came with the name ("Milo, what's the surf like?"), HA gets it too.
        self.on_wake("Milo", utterance if len(text.split()) > 2 else b"")
