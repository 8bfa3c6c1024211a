"""Noise suppression and automatic gain on the microphone (WebRTC's audio processing).

Switched on, the satellite cleans every chunk the microphone gives before the wake
word, Milo's end of speech and the audio HA hears see it: a fan's hum reaches none of them.
It is webrtc-noise-gain, the library HA's own pipeline uses for satellites that stream
raw audio (with aarch64 wheels, so a Pi installs it without a compiler). It is
switched from HA (`switch.…_clean_audio`) and off by default, because what helps one
room's speech to text can hurt another's: bench/clean_audio measures it, and whisper
mostly heard the raw microphone better (docs/satellite.md has the figures).
"""

from __future__ import annotations

from webrtc_noise_gain import AudioProcessor

FRAME_BYTES = 320  # 10 ms of 16 kHz 16-bit mono: the only size WebRTC takes
MAX_NOISE_SUPPRESSION = 4
MAX_AUTO_GAIN_DBFS = 31
# Off: on the bench (docs/satellite.md) it raised whisper's word error rate in three of
# four noises (fan 3 dB: 31.7 % -> 37.8 %), and helped only with a steady fan at 10 dB.
DEFAULT_ON = False


class CleanAudio:
    """Cleans 16 kHz mono 16-bit PCM as it streams; off, it passes chunks through.

    WebRTC works on 10 ms frames: what is left of a chunk waits for the next one, so a
    chunk comes out up to 10 ms shorter or longer than it went in, never later.
    """

    def __init__(
        self, noise_suppression: int = 2, auto_gain_dbfs: int = 0, *, enabled: bool = DEFAULT_ON
    ) -> None:
        """`noise_suppression` 0 (off) to 4 (strongest); `auto_gain_dbfs` 0 (off) to 31,
        the level (dB below full scale) WebRTC's gain control aims for."""
        if not 0 <= noise_suppression <= MAX_NOISE_SUPPRESSION:
            raise ValueError(
                f"noise suppression must be 0-{MAX_NOISE_SUPPRESSION}, not {noise_suppression}"
            )
        if not 0 <= auto_gain_dbfs <= MAX_AUTO_GAIN_DBFS:
            raise ValueError(f"auto gain must be 0-{MAX_AUTO_GAIN_DBFS} dBFS, not {auto_gain_dbfs}")
        self.noise_suppression = noise_suppression
        self.auto_gain_dbfs = auto_gain_dbfs
        self._processor: AudioProcessor | None = None
        self._pending = b""
        self.enabled = enabled

    @property
    def enabled(self) -> bool:
        return self._processor is not None

    @enabled.setter
    def enabled(self, on: bool) -> None:
        """Switching on starts afresh: the noise estimate of an hour ago is of no use."""
        if on == self.enabled:
            return
        self._pending = b""
        self._processor = None
        if on:
            self._processor = AudioProcessor(self.auto_gain_dbfs, self.noise_suppression)

    def process(self, pcm: bytes) -> bytes:
        if self._processor is None:
            return pcm
        data = self._pending + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        process = self._processor.Process10ms
        return b"".join(
            process(data[start : start + FRAME_BYTES]).audio
            for start in range(0, whole, FRAME_BYTES)
        )
