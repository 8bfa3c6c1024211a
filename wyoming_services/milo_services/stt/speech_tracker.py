"""Where did the speech in a stream of audio last end? A cheap, causal energy measure.

Home Assistant keeps streaming audio until its own voice activity detection has heard a
stretch of silence (0.7 s by default). milo-stt uses that wait: once it sees the speech has
stopped, it starts transcribing what it has (see `handler`). For that it needs to know where
speech ended, from 20 ms frames of the audio received so far.

Each frame is judged only by the audio up to and including it, so a decision never changes
when more audio arrives: the speech end computed while streaming is the same one computed
at `audio-stop`, and both cut the audio at the same sample.

A frame is speech when it is louder than the background noise by `_ABOVE_NOISE_DB`, and
louder than `QUIETEST_SPEECH_DB` in any case. The noise floor follows quieter frames at once
and louder ones slowly, so a long sentence doesn't raise it to speech level.
"""

from __future__ import annotations

import numpy as np

FRAME_SECONDS = 0.02
_ABOVE_NOISE_DB = 12.0
QUIETEST_SPEECH_DB = -65.0  # dBFS; digital silence never counts as speech
_FLOOR_RISE_DB_PER_FRAME = 0.1  # 5 dB per second
_SILENT_DB = -100.0


class SpeechTracker:
    """Feed mono float audio as it arrives; read `speech_end` and `trailing_silence`."""

    def __init__(self) -> None:
        self.seconds = 0.0  # audio fed so far
        self.speech_end: float | None = None  # end of the last speech frame, in seconds
        self.heard_sound = False  # a frame louder than QUIETEST_SPEECH_DB, speech or not
        self._floor_db: float | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._rate = 0
        self._frames_done = 0.0  # seconds covered by judged frames

    @property
    def trailing_silence(self) -> float:
        """Seconds of judged non-speech since the last speech frame (0 before any speech)."""
        if self.speech_end is None:
            return 0.0
        return self._frames_done - self.speech_end

    def feed(self, samples: np.ndarray, rate: int) -> None:
        if rate != self._rate:
            # A new format: a partial frame of the old one is left unjudged.
            self._frames_done += self._pending.size / self._rate if self._rate else 0.0
            self._pending, self._rate = np.zeros(0, dtype=np.float32), rate
        self.seconds += samples.size / rate
        audio = np.concatenate([self._pending, samples]) if self._pending.size else samples
        frame = max(1, round(FRAME_SECONDS * rate))
        whole = audio.size - audio.size % frame
        if whole:
            frames = audio[:whole].reshape(-1, frame).astype(np.float64)
            power = np.mean(frames * frames, axis=1)
            levels = np.maximum(10.0 * np.log10(power + 1e-12), _SILENT_DB)
            for level in levels:
                self._judge(float(level), frame / rate)
        self._pending = audio[whole:].copy()

    def _judge(self, level: float, seconds: float) -> None:
        floor = self._floor_db
        if floor is None or level < floor:
            floor = level
        else:
            floor = min(level, floor + _FLOOR_RISE_DB_PER_FRAME)
        self._frames_done += seconds
        self.heard_sound = self.heard_sound or level > QUIETEST_SPEECH_DB
        if level > max(QUIETEST_SPEECH_DB, floor + _ABOVE_NOISE_DB):
            self.speech_end = self._frames_done
        self._floor_db = floor
