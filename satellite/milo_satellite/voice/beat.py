"""The beat Milo drops and dances to, synthesised here: no music file, nobody's copyright.

A four-on-the-floor drum loop: kick on every beat, snare on two and four, closed hi-hat on
every eighth, and an extra kick before the bar's third beat for a bit of swing. Each drum
is a few lines of numpy (a falling sine, filtered noise), mixed and scaled to a fixed
peak, so the loudness is the player's volume and never clips. Noise comes from a fixed
seed: the same beat every time, which the tests can measure.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from .audio import PcmFormat

BPM = 120.0  # the dance's tempo too (tricks.py hands it to the head)
BEATS_PER_BAR = 4
PEAK = 0.5  # of full scale: -6 dBFS, loud enough beside speech, far from clipping
MIN_SECONDS = 1.0
MAX_SECONDS = 60.0
_SEED = 17
_FADE_S = 0.005  # at each drum's start and the loop's end: no clicks


@dataclass(frozen=True)
class Beat:
    """Whole bars of the loop at `bpm`; `seconds` is how long they play."""

    bpm: float = BPM
    bars: int = 4

    def __post_init__(self) -> None:
        if not (60.0 <= self.bpm <= 200.0 and math.isfinite(self.bpm)):
            raise ValueError(f"a beat's tempo must be 60 to 200 bpm, not {self.bpm}")
        if self.bars < 1:
            raise ValueError(f"a beat needs at least one bar, not {self.bars}")

    @classmethod
    def lasting(cls, seconds: float, bpm: float = BPM) -> Beat:
        """The whole number of bars nearest to `seconds` (at least one): a dance that stops
        mid-bar sounds like a fault. ValueError outside MIN_SECONDS..MAX_SECONDS."""
        if not (MIN_SECONDS <= seconds <= MAX_SECONDS):
            raise ValueError(
                f"a beat lasts {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds, not {seconds}"
            )
        bar_s = BEATS_PER_BAR * 60.0 / bpm
        return cls(bpm, max(1, round(seconds / bar_s)))

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm

    @property
    def seconds(self) -> float:
        return self.bars * BEATS_PER_BAR * self.beat_s

    def render(self, fmt: PcmFormat) -> bytes:
        """The loop as raw 16-bit PCM in `fmt`."""
        rate = fmt.rate
        mix = np.zeros(round(self.seconds * rate))
        kick, snare, hat = _kick(rate), _snare(rate), _hat(rate)
        eighth = self.beat_s / 2
        for step in range(self.bars * BEATS_PER_BAR * 2):
            at = round(step * eighth * rate)
            beat, offbeat = divmod(step, 2)
            in_bar = beat % BEATS_PER_BAR
            if not offbeat:
                _add(mix, at, kick)
            if offbeat and in_bar == 1:
                _add(mix, at, kick * 0.6)  # the "and" before beat three
            if not offbeat and in_bar in (1, 3):
                _add(mix, at, snare)
            _add(mix, at, hat * (0.5 if offbeat else 0.35))
        fade = round(_FADE_S * rate)
        mix[-fade:] *= np.linspace(1.0, 0.0, fade)
        samples = np.round(mix * (PEAK * 32767 / np.max(np.abs(mix)))).astype("<i2")
        return np.repeat(samples[:, None], fmt.channels, axis=1).tobytes()


def _add(mix: np.ndarray, at: int, sound: np.ndarray) -> None:
    end = min(len(mix), at + len(sound))
    mix[at:end] += sound[: end - at]


def _envelope(rate: int, seconds: float, decay_s: float) -> np.ndarray:
    """A quick fade in, then an exponential decay with time constant `decay_s`."""
    t = np.arange(round(rate * seconds)) / rate
    env = np.exp(-t / decay_s)
    fade = round(_FADE_S * rate / 5)
    env[:fade] *= np.linspace(0.0, 1.0, fade)
    return env


def _kick(rate: int) -> np.ndarray:
    """A sine falling from 150 to 45 Hz: the thump."""
    seconds = 0.35
    t = np.arange(round(rate * seconds)) / rate
    freq = 45 + 105 * np.exp(-t / 0.04)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    return np.sin(phase) * _envelope(rate, seconds, 0.12)


def _noise(rate: int, seconds: float, salt: int) -> np.ndarray:
    return np.random.default_rng(_SEED + salt).uniform(-1.0, 1.0, round(rate * seconds))


def _snare(rate: int) -> np.ndarray:
    """Noise for the rattle over a 185 Hz tone for the body."""
    seconds = 0.2
    t = np.arange(round(rate * seconds)) / rate
    body = np.sin(2 * np.pi * 185 * t) * _envelope(rate, seconds, 0.04)
    rattle = _noise(rate, seconds, 1) * _envelope(rate, seconds, 0.06)
    return 0.5 * body + 0.6 * rattle


def _hat(rate: int) -> np.ndarray:
    """Noise with its low end taken off (minus a moving average): a short tick."""
    seconds = 0.05
    noise = _noise(rate, seconds, 2)
    width = max(2, rate // 4000)
    bright = noise - np.convolve(noise, np.ones(width) / width, mode="same")
    return bright * _envelope(rate, seconds, 0.012)
