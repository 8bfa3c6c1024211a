"""Does the satellite's noise suppression help? Wake word and word error rate in fan and
room noise, with the microphone cleaned (milo_satellite.voice.clean_audio) and without.

The corpus is bench/services/make_corpus.py's twelve commands, read by piper's joe and by
espeak-ng, each after "Okay Nabu." as a user says it. Every clip starts with 1.5 s of
noise alone (the microphone is always on, so the suppressor has heard the room before
anyone speaks) and the noise goes on to the end:

- fan: pink noise with a motor's 100 Hz hum and its harmonics (seeded, so every run
  hears the same fan);
- room: the other recordings of the corpus talking over each other (a TV, people), with
  a little pink noise.

Each noise is mixed at two signal-to-noise ratios (speech against noise, by RMS). Each
clip goes, as the microphone's 32 ms chunks, through every processing setting: the
satellite's wake word detector (okay_nabu) hears all of it, and milo-stt's transcriber
(the embedded whisper tiny.en, int8, beam 5, as HA's server runs it) hears the command,
from 0.3 s after the wake word to the end. The clean (noiseless) corpus is the floor.

    .venv/bin/python bench/clean_audio/run.py [--out bench/results/clean_audio.json]

About 10 minutes on the shared 2-core VM.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

import jiwer
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

from bench.services.make_corpus import COMMANDS  # noqa: E402
from milo_satellite.voice.audio import MIC_CHUNK_BYTES, MIC_RATE, read_wav_as_mic_pcm  # noqa: E402
from milo_satellite.voice.clean_audio import CleanAudio  # noqa: E402
from milo_satellite.voice.wakeword import WakeWordDetector, available_models  # noqa: E402
from milo_services.stt.transcriber import Transcriber, embedded_model_dir  # noqa: E402
from tests.services.helpers import normalize  # noqa: E402  (the STT tests' own)

LEAD_S, GAP_S, TAIL_S = 1.5, 0.3, 0.7
SNRS_DB = (10, 3)
NOISES = ("fan", "room")
BEAM = 5  # as milo-stt runs on an x86 server
# name -> (noise suppression 0-4, auto gain dBFS 0-31); "off" is the microphone as it is.
SETTINGS = {
    "off": (0, 0),
    "ns 1": (1, 0),
    "ns 2": (2, 0),
    "ns 4": (4, 0),
    "ns 2 + gain 15": (2, 15),
}


@dataclass
class Recording:
    voice: str
    text: str
    pcm: np.ndarray  # the command, float32 samples at 16 kHz


def make_corpus(folder: Path) -> tuple[list[Recording], dict[str, np.ndarray]]:
    """The commands and one "Okay Nabu." per voice (piper and espeak-ng, as make_corpus)."""
    subprocess.run(
        [sys.executable, str(REPO / "bench/services/make_corpus.py"), str(folder)], check=True
    )
    recordings = [
        Recording(voice, text, samples(folder / f"{voice}_{number:02d}.wav"))
        for voice in ("piper", "espeak")
        for number, text in enumerate(COMMANDS, 1)
    ]
    return recordings, wake_words(folder)


def wake_words(folder: Path) -> dict[str, np.ndarray]:
    """The wake word, "Okay Nabu.", read by each voice."""
    espeak = folder / "wake_espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+m3", "-w", str(espeak), "Okay Nabu."], check=True)
    return {"piper": piper_say("Okay Nabu.", folder / "wake_piper.wav"), "espeak": samples(espeak)}


def piper_say(text: str, path: Path) -> np.ndarray:
    """`text` in joe's voice (Milo's), as microphone samples."""
    from milo_services.tts.voice import embedded_voice  # noqa: PLC0415

    model = str(embedded_voice().model)
    command = [sys.executable, "-m", "piper", "-m", model, "-f", str(path)]
    subprocess.run(command, input=text.encode(), check=True)
    return samples(path)


def samples(path: Path) -> np.ndarray:
    return np.frombuffer(read_wav_as_mic_pcm(path), dtype="<i2").astype(np.float32)


def pink(count: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(count))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    noise = np.fft.irfft(spectrum, count)
    return noise / np.sqrt(np.mean(noise**2))


def fan(count: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(count) / MIC_RATE
    hum = sum(np.sin(2 * np.pi * 100 * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3, 4))
    noise = pink(count, rng) + 0.5 * hum
    return noise / np.sqrt(np.mean(noise**2))


def room(count: int, rng: np.random.Generator, others: list[np.ndarray]) -> np.ndarray:
    noise = 0.3 * pink(count, rng)
    for _ in range(4):
        voice = others[rng.integers(len(others))]
        voice = np.tile(voice, count // voice.size + 2)
        start = rng.integers(voice.size - count)
        noise = noise + voice[start : start + count] / np.sqrt(np.mean(voice**2))
    return noise / np.sqrt(np.mean(noise**2))


def mix(
    wake: np.ndarray, command: np.ndarray, noise: np.ndarray | None, snr_db: float
) -> tuple[np.ndarray, int]:
    """The clip and where its command starts (in samples)."""
    lead, gap, tail = (np.zeros(int(s * MIC_RATE), np.float32) for s in (LEAD_S, GAP_S, TAIL_S))
    clip = np.concatenate([lead, wake, gap, command, tail])
    if noise is not None:
        speech = np.concatenate([wake, command])
        level = np.sqrt(np.mean(speech**2)) / 10 ** (snr_db / 20)
        clip = clip + level * noise[: clip.size]
    return np.clip(clip, -32768, 32767), lead.size + wake.size + gap.size


def process(clip: np.ndarray, setting: tuple[int, int]) -> tuple[bytes, float]:
    """The clip as the satellite hears it with `setting`, and the CPU seconds it took."""
    noise_suppression, auto_gain = setting
    clean = CleanAudio(noise_suppression, auto_gain, enabled=setting != (0, 0))
    pcm = clip.astype("<i2").tobytes()
    start = time.process_time()
    out = b"".join(
        clean.process(pcm[i : i + MIC_CHUNK_BYTES]) for i in range(0, len(pcm), MIC_CHUNK_BYTES)
    )
    return out, time.process_time() - start


def heard_wake_word(pcm: bytes, detector: WakeWordDetector) -> bool:
    detector.reset()
    return any(
        detector.process(pcm[i : i + MIC_CHUNK_BYTES]) for i in range(0, len(pcm), MIC_CHUNK_BYTES)
    )


def run() -> dict[str, Any]:
    rng = np.random.default_rng(20)
    transcriber = Transcriber(str(embedded_model_dir()), name="tiny.en", beam_size=BEAM)
    detector = WakeWordDetector(available_models()["okay_nabu"])
    with tempfile.TemporaryDirectory() as tmp:
        recordings, wake = make_corpus(Path(tmp))
    conditions: list[tuple[str, float | None]] = [("clean", None)]
    conditions += [(noise, snr) for noise in NOISES for snr in SNRS_DB]
    rows: list[dict[str, Any]] = []
    cpu_s = audio_s = 0.0
    for noise_name, snr in conditions:
        for index, rec in enumerate(recordings):
            count = int((LEAD_S + GAP_S + TAIL_S) * MIC_RATE) + wake[rec.voice].size + rec.pcm.size
            others = [r.pcm for j, r in enumerate(recordings) if j != index]
            noise = None
            if noise_name == "fan":
                noise = fan(count, rng)
            elif noise_name == "room":
                noise = room(count, rng, others)
            clip, command_at = mix(wake[rec.voice], rec.pcm, noise, snr or 0.0)
            for name, setting in SETTINGS.items():
                if noise_name == "clean" and name not in ("off", "ns 2"):
                    continue
                pcm, cpu = process(clip, setting)
                if setting != (0, 0):
                    cpu_s += cpu
                    audio_s += clip.size / MIC_RATE
                command = np.frombuffer(pcm[command_at * 2 :], dtype="<i2")
                heard = transcriber.transcribe_sync(command.astype(np.float32) / 32768.0)
                rows.append(
                    {
                        "noise": noise_name,
                        "snr_db": snr,
                        "setting": name,
                        "voice": rec.voice,
                        "reference": rec.text,
                        "heard": heard,
                        "wake_word": heard_wake_word(pcm, detector),
                    }
                )
            print(f"{noise_name} {snr} {index + 1}/{len(recordings)}", file=sys.stderr)
    transcriber.close()
    return report(rows, cpu_s / audio_s)


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    references = [normalize(row["reference"]) for row in rows]
    hypotheses = [normalize(row["heard"]) or "<empty>" for row in rows]
    return {
        "utterances": len(rows),
        "wer": round(jiwer.wer(references, hypotheses), 4),
        "wake_words": sum(row["wake_word"] for row in rows),
    }


def report(rows: list[dict[str, Any]], cpu_per_audio_s: float) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = "clean" if row["noise"] == "clean" else f"{row['noise']} {row['snr_db']} dB"
        results.setdefault(key, {}).setdefault(row["setting"], []).append(row)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_1min": os.getloadavg()[0],
        "model": f"whisper tiny.en int8, beam {BEAM}; wake word okay_nabu (microWakeWord)",
        "settings": {name: list(value) for name, value in SETTINGS.items()},
        "cleaning_cpu_per_audio_s": round(cpu_per_audio_s, 4),
        "results": {
            condition: {name: score(setting_rows) for name, setting_rows in by_setting.items()}
            for condition, by_setting in results.items()
        },
        "misheard": [r for r in rows if normalize(r["heard"]) != normalize(r["reference"])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/clean_audio.json")
    args = parser.parse_args()
    result = run()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"cleaning: {result['cleaning_cpu_per_audio_s']:.2%} of a CPU")
    for condition, by_setting in result["results"].items():
        for name, total in by_setting.items():
            print(
                f"{condition:12} {name:16} WER {total['wer']:6.1%}  wake word "
                f"{total['wake_words']}/{total['utterances']}"
            )


if __name__ == "__main__":
    main()
