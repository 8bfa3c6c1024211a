"""Music ducking: music plays on, quieter, while Milo listens, thinks, talks or rings.

Milo has one speaker. Without ducking, anything Milo says interrupts the music, which
resumes afterwards (media.py). With `audio.duck_volume` set, music plays on a stream of
its own (so the sound command must mix two streams: ALSA's `default` with dmix,
PulseAudio or PipeWire) and drops to that share of the user's volume from the wake word
until Milo is quiet again, under announcements and while a timer rings.

The gain moves in a ramp, never a jump (a step clicks, and music that leaps back is
startling). It multiplies the user's volume rather than replacing it: a volume change
while ducked takes effect at once and nothing has to be restored afterwards. Whether to
duck is worked out afresh from what Milo is doing at each change, not counted up and
down, so overlapping runs, announcements and timers cannot leave the music ducked. HA
changes the level with `number.<name>_ducked_music_volume` (the entity exists only when
ducking is on).
"""

from __future__ import annotations

from collections.abc import Callable
import re

import numpy as np

from ..api import NumberEntity
from ..api.messages import pb
from .audio import PcmFormat

DOWN_S = 0.25  # from full volume to silence: quick, the user is about to speak
UP_S = 1.0  # back up: gentle
_RAW_ALSA = re.compile(r"(?<![a-z])(plug)?hw:")  # -D hw:1,0, -Dplughw:CARD=x,DEV=0


def mixes(snd_command: str) -> bool:
    """False when the sound command plays on a raw ALSA device (`hw:`, `plughw:`), which
    takes one stream at a time: Milo's voice would fail while ducked music plays."""
    return _RAW_ALSA.search(snd_command) is None


class Ducker:
    """The music's gain, applied to its PCM on the way to the sink (AudioPlayer's `gain`)."""

    def __init__(self, level: float, fmt: PcmFormat) -> None:
        _check(level)
        self.level = level
        self.gain = 1.0  # where the ramp is now
        self.ducked = False
        self._format = fmt
        self.entity = NumberEntity(
            "duck_volume",
            "Ducked music volume",
            lambda percent: self.set_level(percent / 100),
            min_value=0.0,
            max_value=100.0,
            step=5.0,
            unit="%",
            state=round(level * 100, 1),
            icon="mdi:music-note-minus",
            category=pb.ENTITY_CATEGORY_CONFIG,
        )

    def set_level(self, level: float) -> None:
        """A new share of the volume under Milo (HA's number, or kept from before a
        restart); music ducked now ramps to it."""
        _check(level)
        self.level = level
        self.entity.set(round(level * 100, 1))

    @property
    def target(self) -> float:
        return self.level if self.ducked else 1.0

    def follow(
        self,
        busy: Callable[[], bool],
        music_playing: Callable[[], bool],
        add_listeners: list[Callable[[Callable[[], None]], None]],
    ) -> None:
        """Duck whenever `busy()` after any of the listeners fires. Music that is not
        playing takes the new gain at once: a song started while Milo talks starts low."""

        def changed() -> None:
            self.ducked = busy()
            if not music_playing():
                self.gain = self.target

        for add in add_listeners:
            add(changed)
        changed()

    def apply(self, pcm: bytes) -> bytes:
        """`pcm` (whole frames of 16-bit samples) with the gain, ramped toward the target."""
        target = self.target
        if self.gain == target == 1.0:
            return pcm
        frames = np.frombuffer(pcm, dtype="<i2").reshape(-1, self._format.channels)
        seconds = DOWN_S if target < self.gain else UP_S
        step = 1.0 / (seconds * self._format.rate)  # gain per frame
        ramp = self.gain + np.sign(target - self.gain) * step * np.arange(1, len(frames) + 1)
        ramp = np.minimum(ramp, target) if target > self.gain else np.maximum(ramp, target)
        if len(ramp):
            self.gain = float(ramp[-1])
        out = frames.astype(np.float32) * ramp[:, None].astype(np.float32)
        return np.clip(out, -32768, 32767).astype("<i2").tobytes()


def _check(level: float) -> None:
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"the duck level is a share of the volume, 0-1, not {level}")
