"""Milo decides on the satellite when the user has finished speaking.

Home Assistant ends a turn after a fixed stretch of silence (0.7 s by default) judged by
MicroVad, whose speech probability lags the audio by about half a second: HA hears the
end about 1.2 s after the last word. Here the pause is timed by loudness against the
room's noise floor, which knows at once; MicroVad still has to have heard speech, so a
door slam or the fridge never ends (or starts) a turn. `balanced` ends the turn after a
second of silence, longer than people hesitate mid-phrase ("turn on the... desk lamp").
`fast` also judges how the speech before a pause ended: a voice that fell in pitch (a
finished statement) ends the turn after a short silence; one that stopped level or high
waits the full second. The words count too: when the integration judges the transcript
so far a whole request (custom_components/milo/turn_complete.py, from milo-stt's speculative
transcript of the pause), it says so through the `end_of_turn` action and the turn ends
after a shorter silence. Measured in bench/truncation (docs/satellite.md).

The satellite then sends VoiceAssistantAudio(end=True); HA's own detector and timeout
stay the fallback. So that HA does not end the turn first in a long hesitation, a pause
reaches HA shortened: its first LIVE_PAUSE_S as they come (milo-stt starts transcribing
speculatively after 0.22 s of silence), then only the last RESUME_S before speech
resumes. The transcript is the same; HA's detector just never hears a long pause.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import enum
import math

import numpy as np
from pymicro_vad import MicroVad

from .audio import MIC_RATE

FRAME_SAMPLES = MIC_RATE // 100  # 10 ms, what MicroVad takes
FRAME_BYTES = FRAME_SAMPLES * 2
PITCH_WINDOW = 4 * FRAME_SAMPLES  # 40 ms: two periods of a low voice (65 Hz)
LOWEST_PITCH_HZ, HIGHEST_PITCH_HZ = 65, 350
VOICED = 0.45  # normalised autocorrelation peak of a voiced frame
ABOVE_NOISE_DB = 12.0  # a frame this much louder than the noise floor is speech
QUIETEST_SPEECH_DB = -65.0  # dBFS; quieter never counts (digital silence)
FLOOR_RISE_DB = 0.05  # per frame (5 dB/s): a long sentence doesn't become the floor
MIN_SPEECH_S = 0.15  # loud frames before anything can end (a click, the chime's tail)
LAST_SPEECH_FRAMES = 30  # the speech judged at a pause: its last 0.3 s
FALL_SEMITONES = 2.5  # ended this far below the speaker's median pitch: sounds finished
SHORTEST_REQUEST_S = 1.0  # less speech than this is rarely a whole request
LIVE_PAUSE_S = 0.25  # of a pause, sent to HA as it comes
RESUME_S = 0.08  # of a longer pause, sent before the speech that ends it
# milo-stt transcribes 0.22 s into a pause: a verdict on the words is about a pause at least
# this old; one that comes sooner is about speech before an earlier pause, and is ignored.
TRANSCRIBED_AFTER_S = 0.2


class EndOfSpeechMode(enum.StrEnum):
    """The satellite's "End of speech" select."""

    FAST = "fast"
    BALANCED = "balanced"
    HOME_ASSISTANT = "home assistant"  # leave it to HA's pipeline, as before


DEFAULT_MODE = EndOfSpeechMode.BALANCED


@dataclass(frozen=True)
class EndOfSpeechRule:
    finished_silence_s: float  # after speech that sounds finished
    unfinished_silence_s: float  # after speech that stops mid-phrase
    complete_silence_s: float  # after words the integration judged a whole request
    max_s: float = 12.0  # a turn never lasts longer (HA's own timeout is 15 s)


RULES = {
    EndOfSpeechMode.FAST: EndOfSpeechRule(
        finished_silence_s=0.35, unfinished_silence_s=1.0, complete_silence_s=0.6
    ),
    # Whole requests' words often end a phrase before a pause ("Will it rain | tomorrow
    # morning?"): 0.85 s cut off 1-2 of the truncation bench's 128 requests, 0.9 s none.
    EndOfSpeechMode.BALANCED: EndOfSpeechRule(
        finished_silence_s=1.0, unfinished_silence_s=1.0, complete_silence_s=0.9
    ),
}


def semitones(hz: float) -> float:
    return 12.0 * math.log2(hz / 100.0)


def pitch_hz(window: np.ndarray) -> float:
    """The fundamental of a voiced window (autocorrelation), 0.0 if it is not voiced."""
    x = window - window.mean()
    energy = float(np.dot(x, x))
    if energy <= 0.0:
        return 0.0
    spectrum = np.fft.rfft(x, 2 * x.size)
    corr = np.fft.irfft(spectrum * np.conj(spectrum))[: x.size] / energy
    lo, hi = MIC_RATE // HIGHEST_PITCH_HZ, MIC_RATE // LOWEST_PITCH_HZ
    lag = lo + int(np.argmax(corr[lo:hi]))
    return MIC_RATE / lag if corr[lag] > VOICED else 0.0


class EndOfSpeech:
    """One turn: feed it the microphone's PCM (16 kHz mono s16le) and send HA what it returns;
    `finished` says when the turn is over."""

    def __init__(self, rule: EndOfSpeechRule) -> None:
        self.rule = rule
        self.finished = False
        self.finished_at: float | None = None  # seconds of audio fed when it ended
        self.sounded_finished: bool | None = None  # the judgement of the pause going on
        self.words_complete = False  # the integration's judgement of the pause going on
        self._vad = MicroVad()
        self._heard_voice = False  # MicroVad said speech at least once
        self._pending = b""
        self._window = np.zeros(PITCH_WINDOW)
        self._floor_db: float | None = None
        self._frames = 0
        self._speech_frames = 0
        self._silent_frames = 0
        self._pitches: list[float] = []  # semitones of every voiced speech frame
        self._last_speech: deque[float] = deque(maxlen=LAST_SPEECH_FRAMES)  # 0.0: unvoiced
        self._held: deque[bytes] = deque(maxlen=round(RESUME_S * 100))  # a long pause's end
        self._finished_frames = round(rule.finished_silence_s * 100)
        self._complete_frames = round(rule.complete_silence_s * 100)
        self._unfinished_frames = round(rule.unfinished_silence_s * 100)
        self._judges = self._finished_frames < self._unfinished_frames  # else pitch is moot

    @property
    def seconds(self) -> float:
        return self._frames / 100

    def judge_words_complete(self) -> bool:
        """The integration judged the words before this pause a whole request: the turn
        ends once the pause has lasted `complete_silence_s` (at once if it has). False,
        and nothing changes, unless the user is in a pause after speech that milo-stt can
        have transcribed: while speaking again the verdict is about words since added to."""
        if self.finished or not self._heard_voice:
            return False
        if self._silent_frames < TRANSCRIBED_AFTER_S * 100:
            return False
        self.words_complete = True
        if self._silent_frames >= self._complete_frames:
            self._finish()
        return True

    def feed(self, pcm: bytes) -> bytes:
        """The audio to send HA now (nothing once the user has finished)."""
        self._pending += pcm
        send = bytearray()
        while not self.finished and len(self._pending) >= FRAME_BYTES:
            frame, self._pending = self._pending[:FRAME_BYTES], self._pending[FRAME_BYTES:]
            self._frame(frame)
            if self._silent_frames > LIVE_PAUSE_S * 100:
                self._held.append(frame)
            else:
                send += b"".join(self._held) + frame
                self._held.clear()
        return bytes(send)

    def _frame(self, frame: bytes) -> None:
        self._frames += 1
        if self._vad.process_10ms(frame) >= 0.5:
            self._heard_voice = True
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        self._window = np.concatenate([self._window[FRAME_SAMPLES:], samples])
        if self._is_loud(samples):
            self._speech_frames += 1
            self._silent_frames = 0
            self.sounded_finished = None
            self.words_complete = False
            if self._judges:
                self._follow_pitch()
        elif self._speech_frames >= MIN_SPEECH_S * 100:
            self._silent_frames += 1
        if self._frames >= self.rule.max_s * 100 or self._pause_ends_turn():
            self._finish()

    def _finish(self) -> None:
        self.finished = True
        self.finished_at = self.seconds

    def _follow_pitch(self) -> None:
        hz = pitch_hz(self._window)
        tone = semitones(hz) if hz else 0.0
        self._last_speech.append(tone)
        if hz:
            self._pitches.append(tone)

    def _is_loud(self, samples: np.ndarray) -> bool:
        level = 10.0 * math.log10(float(np.mean(samples * samples)) / 32768.0**2 + 1e-12)
        floor = self._floor_db
        floor = level if floor is None or level < floor else min(level, floor + FLOOR_RISE_DB)
        self._floor_db = floor
        return level > max(QUIETEST_SPEECH_DB, floor + ABOVE_NOISE_DB)

    def _pause_ends_turn(self) -> bool:
        if not self._heard_voice:
            return False
        if self.words_complete and self._silent_frames >= self._complete_frames:
            return True
        if self._silent_frames < self._finished_frames:
            return False
        if self.sounded_finished is None and self._judges:
            self.sounded_finished = self._sounds_finished()
        return self.sounded_finished or self._silent_frames >= self._unfinished_frames

    def _sounds_finished(self) -> bool:
        """Did the voice fall to the bottom of the speaker's range, after a whole request?"""
        if self._speech_frames < SHORTEST_REQUEST_S * 100:
            return False
        ending = [t for t in self._last_speech if t]
        if len(ending) < 3:
            return False
        fall = float(np.median(self._pitches)) - float(np.mean(ending[-8:]))
        return fall >= FALL_SEMITONES
