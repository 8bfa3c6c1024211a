"""Why echo cancellation: the stop word against the echo of Milo's own answer.

While Milo speaks, its microphone hears the speaker. "Okay Nabu." (piper's joe and
espeak-ng) is mixed with the echo of a spoken answer (piper, the voice Milo answers
with) at a range of echo levels, relative to the voice, starting at twelve places in the
answer; the satellite's wake word detector (okay_nabu) listens, with the satellite's
noise suppression off and on. An echo canceller (docs/satellite.md) typically takes
20 dB or more off the echo.

    .venv/bin/python bench/clean_audio/stop_word.py [--out bench/results/stop_word_echo.json]

About a minute.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import sys
import tempfile
import time
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

from bench.clean_audio.run import piper_say, process, wake_words  # noqa: E402
from milo_satellite.voice.audio import MIC_RATE  # noqa: E402
from milo_satellite.voice.wakeword import WakeWordDetector, available_models  # noqa: E402

ANSWER = (
    "Two foot and glassy at East Strand this morning, with a light offshore breeze. "
    "Try not to fall off, and if you do, try to make it look deliberate."
)
ECHO_DB = (None, -20, -15, -12, -9, -6, -3, 0)  # None: no echo
PLACES = 12


def heard(pcm: bytes) -> bool:
    detector = WakeWordDetector(available_models()["okay_nabu"])
    return any(detector.process(pcm[i : i + 1024]) for i in range(0, len(pcm), 1024))


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        wakes = wake_words(Path(tmp))
        echo = piper_say(ANSWER, Path(tmp) / "answer.wav")
    results: dict[str, dict[str, str]] = {}
    for echo_db in ECHO_DB:
        row: dict[str, str] = {}
        for setting, name in (((0, 0), "clean audio off"), ((2, 0), "clean audio on")):
            hits = total = 0
            for wake in wakes.values():
                lead = np.zeros(int(1.5 * MIC_RATE), np.float32)
                voice = np.concatenate([lead, wake, np.zeros(int(0.5 * MIC_RATE), np.float32)])
                loudness = np.sqrt(np.mean(wake**2) / np.mean(echo**2))
                for place in range(PLACES):
                    start = place * (echo.size - voice.size) // PLACES
                    mixed = voice.copy()
                    if echo_db is not None:
                        mixed += echo[start : start + voice.size] * loudness * 10 ** (echo_db / 20)
                    pcm, _cpu = process(np.clip(mixed, -32768, 32767), setting)
                    hits += heard(pcm)
                    total += 1
            row[name] = f"{hits}/{total}"
        results["no echo" if echo_db is None else f"echo {echo_db} dB"] = row
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "answer": ANSWER,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/stop_word_echo.json")
    args = parser.parse_args()
    result = run()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for level, row in result["results"].items():
        print(f"{level:14} " + "  ".join(f"{k}: {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
