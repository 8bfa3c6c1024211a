"""Milo's end of speech over the corpus, in the satellite's environment (run by .venv python).

Standalone: the satellite's pymicro-vad is not the one Home Assistant pins, so run.py (in
HA's environment) has this script feed every request to milo_satellite's EndOfSpeech as
the satellite's microphone loop does, and gets back where each turn ended and what was
sent to HA until then. It also measures the CPU time per second of audio on one core.

Usage: milo_turns.py CORPUS.pickle OUT.pickle
"""

from __future__ import annotations

import os
from pathlib import Path
import pickle
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "satellite"))
sys.path.insert(0, str(Path(__file__).parent))

from corpus import RATE, Utterance

from milo_satellite.voice.end_of_speech import RULES, EndOfSpeech, EndOfSpeechMode, EndOfSpeechRule

MIC_CHUNK = 1024  # bytes per microphone read on the satellite (32 ms)

Stream = list[tuple[float, bytes]]  # (seconds into the request when sent, audio)


def microphone(pcm: bytes) -> Stream:
    return [
        (min(i + MIC_CHUNK, len(pcm)) / 2 / RATE, pcm[i : i + MIC_CHUNK])
        for i in range(0, len(pcm), MIC_CHUNK)
    ]


def turn(utterance: Utterance, mode: EndOfSpeechMode) -> tuple[float, Stream]:
    """When the turn ended (seconds into the request) and what HA was sent until then."""
    detector = EndOfSpeech(RULES[mode])
    sent: Stream = []
    now = 0.0
    for now, chunk in microphone(utterance.pcm):
        if audio := detector.feed(chunk):
            sent.append((now, audio))
        if detector.finished:
            break
    return now, sent


def cpu_per_audio_second(corpus: list[Utterance]) -> float:
    """CPU seconds per second of microphone audio on one core, fed to the end with the
    pitch followed as `fast` does (the worst case: no early stop)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    audio = 0.0
    start = time.process_time()
    for utterance in corpus:
        detector = EndOfSpeech(EndOfSpeechRule(1e8, 1e9, max_s=1e9))  # never finishes
        for _, chunk in microphone(utterance.pcm):
            detector.feed(chunk)
        audio += len(utterance.pcm) / 2 / RATE
    return (time.process_time() - start) / audio


def main() -> None:
    corpus_path, out = map(Path, sys.argv[1:3])
    corpus: list[Utterance] = pickle.loads(corpus_path.read_bytes())
    turns = [{str(mode): turn(u, mode) for mode in RULES} for u in corpus]
    out.write_bytes(pickle.dumps({"turns": turns, "cpu": cpu_per_audio_second(corpus)}))


if __name__ == "__main__":
    main()
