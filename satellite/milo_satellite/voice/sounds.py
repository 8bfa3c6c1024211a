"""Milo's little noises, synthesised so the satellite needs no sound files.

Each can be replaced by a file of your own (`sounds:` in the config); a file is decoded
like any other media, so WAV, MP3 or FLAC all work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio import PcmFormat

# (frequency Hz, seconds) notes; 0 Hz is a pause.
_TUNES: dict[str, list[tuple[float, float]]] = {
    "wake": [(660, 0.07), (990, 0.11)],
    "error": [(440, 0.15), (0, 0.05), (311, 0.3)],
    "timer": [(1046, 0.12), (0, 0.08), (1046, 0.12), (0, 0.08), (1046, 0.12), (0, 0.5)],
    "thinking": [(523, 0.05), (0, 0.35), (659, 0.05), (0, 0.35), (784, 0.05), (0, 0.6)],
    "goodbye": [(784, 0.15), (659, 0.15), (523, 0.15), (392, 0.4)],  # the power button
}
SOUND_NAMES = tuple(_TUNES)


def render_tone(name: str, fmt: PcmFormat, volume: float = 0.35) -> bytes:
    """A soft sine tune with short fades (no clicks), as raw PCM in `fmt`."""
    parts = []
    for freq, seconds in _TUNES[name]:
        t = np.arange(int(fmt.rate * seconds)) / fmt.rate
        tone = np.sin(2 * np.pi * freq * t) if freq else np.zeros_like(t)
        fade = min(len(t) // 2, int(fmt.rate * 0.01))
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            tone[:fade] *= ramp
            tone[-fade:] *= ramp[::-1]
        parts.append(tone)
    samples = (np.concatenate(parts) * volume * 32767).astype("<i2")
    return np.repeat(samples[:, None], fmt.channels, axis=1).tobytes()


@dataclass(frozen=True)
class Sounds:
    """What to play for each occasion: raw PCM (built in) or a file path/URL."""

    wake: bytes | str
    error: bytes | str
    timer: bytes | str
    thinking: bytes | str
    goodbye: bytes | str

    @classmethod
    def build(cls, fmt: PcmFormat, overrides: dict[str, str] | None = None) -> Sounds:
        overrides = overrides or {}
        unknown = set(overrides) - set(SOUND_NAMES)
        if unknown:
            raise ValueError(f"unknown sounds {sorted(unknown)}; known: {list(SOUND_NAMES)}")
        return cls(**{n: overrides.get(n) or render_tone(n, fmt) for n in SOUND_NAMES})
