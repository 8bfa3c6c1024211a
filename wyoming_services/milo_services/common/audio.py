"""PCM conversion in memory with numpy: any Wyoming audio format to mono float32.

Models want 16 kHz mono float32; clients send whatever their microphone gives. Converting
here, without files or PyAV, keeps latency low and avoids faster-whisper's file decoding.
"""

from __future__ import annotations

import numpy as np

MIN_RATE = 1000
MAX_RATE = 384_000
MAX_CHANNELS = 32
SAMPLE_WIDTHS = (1, 2, 3, 4)

# Half-width of the anti-aliasing filter, in output samples: 16 gives > 60 dB rejection
# well inside the transition band, which is plenty for speech recognition.
_FILTER_HALF_WIDTH = 16


def check_format(rate: object, width: object, channels: object) -> None:
    """Raise ValueError unless rate/width/channels describe PCM this module can convert."""
    for name, value, low, high in (
        ("rate", rate, MIN_RATE, MAX_RATE),
        ("channels", channels, 1, MAX_CHANNELS),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"audio {name} must be an integer in [{low}, {high}], got {value!r}")
    if isinstance(width, bool) or width not in SAMPLE_WIDTHS:
        raise ValueError(f"audio width must be one of {SAMPLE_WIDTHS} bytes, got {width!r}")


def pcm_to_float(audio: bytes, width: int, channels: int) -> np.ndarray:
    """Little-endian PCM (8-bit unsigned, 16/24/32-bit signed) to mono float32 in [-1, 1]."""
    frame = width * channels
    usable = len(audio) - len(audio) % frame
    raw = np.frombuffer(audio, dtype=np.uint8, count=usable)
    if width == 1:
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        ints = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = ints.astype(np.float32) / float(1 << 23)
    else:
        dtype = np.dtype("<i2") if width == 2 else np.dtype("<i4")
        samples = raw.view(dtype).astype(np.float32) / float(1 << (8 * width - 1))
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples.astype(np.float32, copy=False)


def _lowpass(samples: np.ndarray, cutoff: float) -> np.ndarray:
    """Windowed-sinc low-pass; `cutoff` is a fraction of the Nyquist frequency."""
    half = int(np.ceil(_FILTER_HALF_WIDTH / cutoff))
    taps = np.arange(-half, half + 1, dtype=np.float64)
    kernel = cutoff * np.sinc(cutoff * taps) * np.hanning(2 * half + 3)[1:-1]
    kernel /= kernel.sum()
    return np.convolve(samples, kernel.astype(np.float32), mode="same")


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample mono float32 audio; low-passes first when downsampling (no aliasing)."""
    if src_rate == dst_rate or samples.size == 0:
        return samples
    if dst_rate < src_rate:
        samples = _lowpass(samples, dst_rate / src_rate)
    out_len = round(samples.size * dst_rate / src_rate)
    positions = np.arange(out_len, dtype=np.float64) * (src_rate / dst_rate)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)
