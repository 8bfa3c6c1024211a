"""Piper synthesis that hands out audio before a sentence is fully rendered.

A Piper voice is a VITS model: a text encoder, duration predictor and flow produce a latent
sequence (one frame per 256 samples), then a convolutional vocoder turns it into audio. The
vocoder is most of the work and only looks a few frames around each position, so the model
is split in two at the vocoder input and the latent is vocoded in growing chunks with
`CONTEXT_FRAMES` of overlap: the audio is identical to whole-sentence synthesis, but the
first chunk is ready after a fraction of the time. Voices that can't be split (unusual
exports) fall back to whole-sentence synthesis.

Everything here blocks; `Synthesizer` runs it off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
import logging

import numpy as np
import onnx
from onnx.utils import Extractor
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig

from .voice import VoiceFiles

_LOGGER = logging.getLogger(__name__)

# 12 frames each side make chunked vocoding match whole-sentence output to < 1e-6
# (8 leave errors of 1e-3); more only costs time.
CONTEXT_FRAMES = 12
FIRST_CHUNK_FRAMES = 24  # ~0.28 s of audio at 22.05 kHz: quick to render, long to play
MAX_CHUNK_FRAMES = 256

_CALIBRATION_TEXT = "Hello, I am Milo. The surf at Portrush is looking decent today!"
_MAX_GAIN = 4.0
_CALIBRATION_PEAK = 0.9
_LIMITER_KNEE = 0.85


def _split_model(model_path: str) -> tuple[bytes, bytes, str] | None:
    """(front model, vocoder model, latent tensor name), or None if the voice can't be split."""
    model = onnx.load(model_path)
    latent = next(
        (
            node.input[0]
            for node in model.graph.node
            if node.op_type == "Conv" and node.input[1:2] == ["dec.conv_pre.weight"]
        ),
        None,
    )
    if latent is None:
        _LOGGER.warning("No vocoder input found in %s; not splitting it", model_path)
        return None
    inputs = [value.name for value in model.graph.input]
    extractor = Extractor(model)
    front = extractor.extract_model(inputs, [latent])
    vocoder_inputs = [latent, *(name for name in inputs if name == "sid")]
    vocoder = extractor.extract_model(vocoder_inputs, [model.graph.output[0].name])
    return front.SerializeToString(), vocoder.SerializeToString(), latent


def _session(model: str | bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    # Idle worker threads of one session would otherwise spin for CPU while the other
    # session (or another process on a small board) runs: 1.5x slower on two cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def soft_limit(audio: np.ndarray, knee: float = _LIMITER_KNEE) -> np.ndarray:
    """Leave samples below `knee` alone and bend louder ones smoothly below full scale, so
    a sentence louder than the calibration one is never hard-clipped."""
    magnitude = np.abs(audio)
    loud = magnitude > knee
    if not loud.any():
        return audio
    headroom = 1.0 - knee
    bent = knee + headroom * np.tanh((magnitude[loud] - knee) / headroom)
    out = audio.copy()
    out[loud] = np.sign(audio[loud]) * bent
    return out


def to_pcm16(audio: np.ndarray) -> bytes:
    return np.clip(audio * 32767.0, -32767.0, 32767.0).astype("<i2").tobytes()


class PiperEngine:
    """One loaded voice. `render()` yields 16-bit mono PCM pieces of one sentence."""

    def __init__(self, files: VoiceFiles) -> None:
        self.files = files
        self.config = PiperConfig.from_dict(files.load_config())
        self.sample_rate = self.config.sample_rate
        split = None
        try:
            split = _split_model(str(files.model))
        except Exception:
            _LOGGER.exception("Could not split %s; audio starts only after each sentence", files)
        if split is None:
            self._front = _session(str(files.model))
            self._vocoder: onnxruntime.InferenceSession | None = None
            self._latent = ""
        else:
            front, vocoder, self._latent = split
            self._front, self._vocoder = _session(front), _session(vocoder)
        # Only phonemization is used from PiperVoice; inference goes through our sessions.
        self._voice = PiperVoice(session=self._front, config=self.config)
        self._gain = self._calibrate() if self._vocoder is not None else 1.0

    @property
    def streams_within_sentences(self) -> bool:
        return self._vocoder is not None

    def phonemize(self, text: str) -> list[list[str]]:
        """Phonemes per sentence (espeak-ng splits the text into sentences)."""
        return [phonemes for phonemes in self._voice.phonemize(text) if phonemes]

    def speaker_id(self, speaker: str | None) -> int | None:
        """Map a speaker name or number to an id; None for single-speaker voices."""
        if self.config.num_speakers <= 1 or speaker is None:
            return None
        if speaker in self.config.speaker_id_map:
            return self.config.speaker_id_map[speaker]
        if speaker.isdigit() and int(speaker) < self.config.num_speakers:
            return int(speaker)
        raise ValueError(f"voice {self.files.name} has no speaker {speaker!r}")

    def render(
        self, phonemes: list[str], speaker_id: int | None, length_scale: float | None
    ) -> Iterator[bytes]:
        feed = self.inputs(phonemes, speaker_id, length_scale)
        if self._vocoder is None:
            audio = self._front.run(None, feed)[0].reshape(-1)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            yield to_pcm16(audio / peak if peak > 1e-8 else audio)  # Piper's own normalisation
            return
        for audio in self.vocode_chunks(self.latent(feed), feed):
            yield to_pcm16(soft_limit(audio * self._gain))

    def latent(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The vocoder input for a sentence: (1, channels, frames)."""
        return np.asarray(self._front.run(None, self._only(self._front, feed))[0])

    def vocode(self, latent: np.ndarray, feed: dict[str, np.ndarray]) -> np.ndarray:
        assert self._vocoder is not None
        inputs = self._only(self._vocoder, {**feed, self._latent: latent})
        return np.asarray(self._vocoder.run(None, inputs)[0]).reshape(-1)

    def vocode_chunks(
        self, latent: np.ndarray, feed: dict[str, np.ndarray]
    ) -> Iterator[np.ndarray]:
        """The same audio as `vocode(latent)`, in growing chunks with overlapping context."""
        frames = latent.shape[2]
        start, size = 0, FIRST_CHUNK_FRAMES
        while start < frames:
            end = min(frames, start + size)
            low, high = max(0, start - CONTEXT_FRAMES), min(frames, end + CONTEXT_FRAMES)
            audio = self.vocode(latent[:, :, low:high], feed)
            hop = audio.size // (high - low)
            yield audio[(start - low) * hop : (end - low) * hop]
            start, size = end, min(size * 4, MAX_CHUNK_FRAMES)

    def inputs(
        self, phonemes: list[str], speaker_id: int | None, length_scale: float | None
    ) -> dict[str, np.ndarray]:
        """The model inputs for one sentence (`length_scale` None: the voice's pace)."""
        ids = np.array([self._voice.phonemes_to_ids(phonemes)], dtype=np.int64)
        feed: dict[str, np.ndarray] = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": np.array(
                [
                    self.config.noise_scale,
                    length_scale or self.config.length_scale,
                    self.config.noise_w_scale,
                ],
                dtype=np.float32,
            ),
        }
        if self.config.num_speakers > 1:
            sid = self.config.default_speaker_id if speaker_id is None else speaker_id
            feed["sid"] = np.array([sid], dtype=np.int64)
        return feed

    @staticmethod
    def _only(
        session: onnxruntime.InferenceSession, feed: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        names = {value.name for value in session.get_inputs()}
        return {name: value for name, value in feed.items() if name in names}

    def _calibrate(self) -> float:
        """A fixed gain that brings a typical sentence close to full scale.

        Piper normalises each finished sentence to its peak; a streamed sentence's peak
        isn't known until its end, so one gain measured at start-up is used instead.
        """
        peak = 0.0
        for phonemes in self.phonemize(_CALIBRATION_TEXT):
            feed = self.inputs(phonemes, None, None)
            peak = max(peak, float(np.max(np.abs(self.vocode(self.latent(feed), feed)))))
        gain = min(_MAX_GAIN, _CALIBRATION_PEAK / peak) if peak > 1e-6 else 1.0
        _LOGGER.debug("Voice %s: gain %.2f", self.files.name, gain)
        return gain
