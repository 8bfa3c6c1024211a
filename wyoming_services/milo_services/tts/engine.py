"""Piper synthesis that hands out audio before a sentence is fully rendered.

A Piper voice is a VITS model: a text encoder and duration predictor give the sentence's
prior (one frame per 256 samples), a flow turns it into the latent, and a convolutional
vocoder turns that into audio. The flow and the vocoder, most of the work, only look a few
frames around each position, so the model is split into three at start-up and the prior is
taken through flow and vocoder in growing chunks with overlapping context: the audio is
identical to whole-sentence synthesis, but the first chunk is ready after a fraction of the
time. The chunk sizes follow this host's measured speed, so that each chunk is ready before
the audio sent ahead of it has played. Voices that can't be split (unusual exports) fall
back to whole-sentence synthesis.

Everything here blocks; `Synthesizer` runs it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import logging
import time

import numpy as np
import onnx
from onnx.utils import Extractor
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig

from .sentences import split_long
from .voice import VoiceFiles

_LOGGER = logging.getLogger(__name__)

# Context each side that makes chunked output match whole-sentence output to < 1e-5:
# the vocoder needs 12 frames (8 leave errors of 1e-3), the flow 32 (16 leave 1e-2,
# 24 leave 3e-5); more only costs time.
CONTEXT_FRAMES = 12
FLOW_CONTEXT_FRAMES = 32
FIRST_CHUNK_FRAMES = 24  # ~0.28 s of audio at 22.05 kHz: quick to render, long to play
FIRST_CHUNK_STEP = 8  # how much longer the first chunk gets at a time on a slow host
MAX_CHUNK_FRAMES = 256
# Each chunk must be ready after at most 1/HEADROOM of the audio sent before it has played:
# the estimate is an average, and single runs on a busy host take up to ~2x as long.
HEADROOM = 1.5
# How much a timed run's weight shrinks with each later run: the estimate follows a host
# that becomes busy within a sentence or two.
SPEED_DECAY = 0.7
# The text encoder attends over a whole sentence (memory grows with the square of its
# length), so no sentence reaches it longer than this: numbers can spell out to many more
# phonemes than the sentence splitter's character limit suggests.
MAX_SENTENCE_PHONEMES = 500

_CALIBRATION_TEXT = "Hello, I am Milo. The surf at Portrush is looking decent today!"
_MAX_GAIN = 4.0
_CALIBRATION_PEAK = 0.9
_LIMITER_KNEE = 0.85


@dataclass(frozen=True)
class _Split:
    """The voice as three models, and the tensor names where they meet."""

    front: bytes  # inputs -> prior, mask
    flow: bytes  # prior, mask -> latent
    vocoder: bytes  # latent -> audio
    prior: str
    mask: str
    latent: str


def _split_model(model_path: str) -> _Split | None:
    """The voice cut before its flow and before its vocoder, or None if it can't be."""
    model = onnx.load(model_path)
    producers = {output: node for node in model.graph.node for output in node.output}
    latent = next(
        (
            node.input[0]
            for node in model.graph.node
            if node.op_type == "Conv" and node.input[1:2] == ["dec.conv_pre.weight"]
        ),
        None,
    )
    prior = next(
        (node.input[0] for node in model.graph.node if node.name.startswith("/flow/")), None
    )
    masking = producers.get(latent or "")  # the flow's output times the frame mask
    if latent is None or prior is None or masking is None or masking.op_type != "Mul":
        _LOGGER.warning("No flow and vocoder found in %s; not splitting it", model_path)
        return None
    mask = masking.input[1]
    inputs = [value.name for value in model.graph.input]
    speaker = [name for name in inputs if name == "sid"]
    extractor = Extractor(model)

    def extract(sources: list[str], targets: list[str]) -> bytes:
        return extractor.extract_model(sources, targets).SerializeToString()

    return _Split(
        front=extract(inputs, [prior, mask]),
        flow=extract([prior, mask, *speaker], [latent]),
        vocoder=extract([latent, *speaker], [model.graph.output[0].name]),
        prior=prior,
        mask=mask,
        latent=latent,
    )


@dataclass(frozen=True)
class RenderSpeed:
    """This host's seconds of work per frame of a window through the flow and the vocoder."""

    flow: float
    vocoder: float

    def __post_init__(self) -> None:
        if not (self.flow > 0 and self.vocoder > 0):
            raise ValueError(f"render speeds must be positive seconds per frame: {self}")


def chunk_seconds(frames: int, first_end: int, start: int, end: int, speed: RenderSpeed) -> float:
    """Estimated work for chunk [start, end) of a sentence whose first chunk ends at
    `first_end`, as `PiperEngine.chunks` does it: the vocoder over the chunk and its context;
    the first chunk also flows its own frames, the second the rest of the sentence."""
    vocoder = min(frames, end + CONTEXT_FRAMES) - max(0, start - CONTEXT_FRAMES)
    head = min(frames, first_end + CONTEXT_FRAMES)
    flow = 0
    if start == 0:
        flow = min(frames, head + FLOW_CONTEXT_FRAMES)
    elif start == first_end and head < frames:
        flow = frames - max(0, head - FLOW_CONTEXT_FRAMES)
    return speed.flow * flow + speed.vocoder * vocoder


def chunk_bounds(frames: int, speed: RenderSpeed, frame_seconds: float) -> list[tuple[int, int]]:
    """(start, end) frame ranges covering a sentence, growing 4x up to `MAX_CHUNK_FRAMES`:
    the first as short as it can be for a quick start (`FIRST_CHUNK_FRAMES` on a fast host),
    yet long enough that at `speed` every later chunk is ready, with `HEADROOM`, before the
    audio sent ahead of it has played (on a host slower than real time, most of the
    sentence is in the first chunk)."""
    for first in range(FIRST_CHUNK_FRAMES, frames, FIRST_CHUNK_STEP):
        if bounds := _bounds_keeping_ahead(frames, first, speed, frame_seconds):
            return bounds
    return [(0, frames)] if frames > 0 else []


def _bounds_keeping_ahead(
    frames: int, first: int, speed: RenderSpeed, frame_seconds: float
) -> list[tuple[int, int]] | None:
    """Chunks after a first of `first` frames, each 4x its predecessor or as much less as
    keeps it ahead of playback; None if one would have to shrink for that."""
    bounds = [(0, first)]
    sent = first * frame_seconds  # audio sent when the first chunk's playback starts
    spent = 0.0  # work since then
    size = first
    while (start := bounds[-1][1]) < frames:
        want = min(size * 4, MAX_CHUNK_FRAMES, frames - start)
        budget = sent / HEADROOM - spent
        fixed = chunk_seconds(frames, first, start, start, speed)  # flow and context alone
        fits = int((budget - fixed) / speed.vocoder)
        size = min(want, fits)
        if size < min(bounds[-1][1] - bounds[-1][0], frames - start):
            return None
        bounds.append((start, start + size))
        spent += chunk_seconds(frames, first, start, start + size, speed)
        sent += size * frame_seconds
    return bounds


class _RunningRate:
    """Seconds per frame over timed runs, recent runs weighing most (`SPEED_DECAY`)."""

    def __init__(self) -> None:
        self._seconds = 0.0
        self._frames = 0.0

    def add(self, seconds: float, frames: int) -> None:
        self._seconds = self._seconds * SPEED_DECAY + seconds
        self._frames = self._frames * SPEED_DECAY + frames

    @property
    def rate(self) -> float:
        return max(self._seconds, 1e-9) / max(self._frames, 1.0)


def _window(
    run: Callable[[int, int], np.ndarray], frames: int, start: int, end: int, context: int
) -> np.ndarray:
    """`run`'s output for frames [start, end), computed with `context` frames each side so
    that it equals the same span of `run(0, frames)`. Output is (batch, channels, time)
    with a whole number of samples per frame."""
    low, high = max(0, start - context), min(frames, end + context)
    out = run(low, high)
    hop = out.shape[-1] // (high - low)
    return out[..., (start - low) * hop : (end - low) * hop]


def _session(model: str | bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    # Idle worker threads of one session would otherwise spin for CPU while the other
    # session (or another process on a small board) runs: 1.5x slower on two cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # ONNX Runtime's arena keeps the largest sentence's buffers for ever; plain malloc lets
    # `common.memory.release_memory()` give them back (405 -> 229 MB after a long reply).
    options.enable_cpu_mem_arena = False
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
        self._split: _Split | None = None
        try:
            self._split = _split_model(str(files.model))
        except Exception:
            _LOGGER.exception("Could not split %s; audio starts only after each sentence", files)
        if self._split is None:
            self._front = _session(str(files.model))
        else:
            self._front = _session(self._split.front)
            self._flow = _session(self._split.flow)
            self._vocoder = _session(self._split.vocoder)
        # Only phonemization is used from PiperVoice; inference goes through our sessions.
        self._voice = PiperVoice(session=self._front, config=self.config)
        self._flow_rate, self._vocoder_rate = _RunningRate(), _RunningRate()
        self.frame_seconds = 0.0  # audio per frame of the prior, measured by `_calibrate`
        self._gain = self._calibrate() if self._split is not None else 1.0

    @property
    def speed(self) -> RenderSpeed:
        """How fast the flow and the vocoder have run lately on this host."""
        return RenderSpeed(self._flow_rate.rate, self._vocoder_rate.rate)

    @property
    def streams_within_sentences(self) -> bool:
        return self._split is not None

    def phonemize(self, text: str) -> list[list[str]]:
        """Phonemes per sentence (espeak-ng splits the text into sentences), each at most
        `MAX_SENTENCE_PHONEMES` long (cut at a clause mark or word break if need be)."""
        return [
            list(piece)
            for phonemes in self._voice.phonemize(text)
            for piece in split_long(phonemes, MAX_SENTENCE_PHONEMES)
            if piece
        ]

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
        if self._split is None:
            audio = self._front.run(None, feed)[0].reshape(-1)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            yield to_pcm16(audio / peak if peak > 1e-8 else audio)  # Piper's own normalisation
            return
        prior, mask = self.prior(feed)
        for audio in self.chunks(prior, mask, feed, self.schedule(prior.shape[2])):
            yield to_pcm16(soft_limit(audio * self._gain))

    def prior(self, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The flow's input for a sentence, (1, channels, frames), and its frame mask
        (1, 1, frames). The voice's noise is drawn here, so what follows is deterministic."""
        prior, mask = self._front.run(None, self._only(self._front, feed))
        return np.asarray(prior), np.asarray(mask)

    def flow(self, prior: np.ndarray, mask: np.ndarray, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The vocoder input for (a span of) a sentence's prior."""
        assert self._split is not None
        inputs = {**feed, self._split.prior: prior, self._split.mask: mask}
        started = time.perf_counter()
        latent = np.asarray(self._flow.run(None, self._only(self._flow, inputs))[0])
        self._flow_rate.add(time.perf_counter() - started, prior.shape[2])
        return latent

    def vocode(self, latent: np.ndarray, feed: dict[str, np.ndarray]) -> np.ndarray:
        """Audio (1, 1, samples) for (a span of) a sentence's latent."""
        assert self._split is not None
        inputs = self._only(self._vocoder, {**feed, self._split.latent: latent})
        started = time.perf_counter()
        audio = np.asarray(self._vocoder.run(None, inputs)[0]).reshape(1, 1, -1)
        self._vocoder_rate.add(time.perf_counter() - started, latent.shape[2])
        return audio

    def schedule(self, frames: int) -> list[tuple[int, int]]:
        """The chunks for a sentence of `frames` frames at this host's recent speed."""
        return chunk_bounds(frames, self.speed, self.frame_seconds)

    def chunks(
        self,
        prior: np.ndarray,
        mask: np.ndarray,
        feed: dict[str, np.ndarray],
        bounds: list[tuple[int, int]],
    ) -> Iterator[np.ndarray]:
        """The same audio as `vocode(flow(prior))`, in the chunks `bounds` (from
        `chunk_bounds`). The first chunk takes only as much of the flow as it needs (a
        fraction of the sentence); the second takes the rest of the flow in one go, which
        costs less than flowing chunk by chunk."""
        frames = prior.shape[2]

        def flow(low: int, high: int) -> np.ndarray:
            return self.flow(prior[:, :, low:high], mask[:, :, low:high], feed)

        def vocode(low: int, high: int) -> np.ndarray:
            return self.vocode(latent[:, :, low:high], feed)

        head = min(frames, bounds[0][1] + CONTEXT_FRAMES) if bounds else 0
        latent = _window(flow, frames, 0, head, FLOW_CONTEXT_FRAMES)
        for start, end in bounds:
            if latent.shape[2] < min(frames, end + CONTEXT_FRAMES):
                rest = _window(flow, frames, head, frames, FLOW_CONTEXT_FRAMES)
                latent = np.concatenate([latent, rest], axis=2)
            yield _window(vocode, frames, start, end, CONTEXT_FRAMES).reshape(-1)

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
        """A fixed gain that brings a typical sentence close to full scale, and a first
        measure of this host's speed (real sentences keep it up to date).

        Piper normalises each finished sentence to its peak; a streamed sentence's peak
        isn't known until its end, so one gain measured at start-up is used instead. The
        text is rendered twice, whole then in chunks, so the speed is not only that of the
        runs that warm the sessions up.
        """
        peak = 0.0
        sentences = [
            self.inputs(phonemes, None, None) for phonemes in self.phonemize(_CALIBRATION_TEXT)
        ]
        for feed in sentences:
            prior, mask = self.prior(feed)
            audio = self.vocode(self.flow(prior, mask, feed), feed)
            peak = max(peak, float(np.max(np.abs(audio))))
            self.frame_seconds = audio.shape[-1] / prior.shape[2] / self.sample_rate
        for feed in sentences:
            prior, mask = self.prior(feed)
            for _ in self.chunks(prior, mask, feed, self.schedule(prior.shape[2])):
                pass
        gain = min(_MAX_GAIN, _CALIBRATION_PEAK / peak) if peak > 1e-6 else 1.0
        _LOGGER.debug("Voice %s: gain %.2f, %s", self.files.name, gain, self.speed)
        return gain
