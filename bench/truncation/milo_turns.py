"""Milo's end of speech over the corpus, in the satellite's environment (run by .venv python).

Standalone: the satellite's pymicro-vad is not the one Home Assistant pins, so run.py (in
HA's environment) has this script feed every request to milo_satellite's EndOfSpeech as
the satellite's microphone loop does, and gets back where each turn ended and what was
sent to HA until then. It also measures the CPU time per second of audio on one core.

"+ words" settings also get the integration's verdicts ("the words so far are a whole
request", the `end_of_turn` action) when run.py found they would reach the satellite, those
for the setting's mode (`balanced` also gets the model's questions): each is given to the
detector at the first microphone chunk after it arrives.

Usage: milo_turns.py CORPUS.pickle VERDICTS.pickle OUT.pickle
"""

from __future__ import annotations

import os
from pathlib import Path
import pickle
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "satellite"))
sys.path.insert(0, str(Path(__file__).parent))

from dataclasses import replace

from corpus import RATE, Utterance

from milo_satellite.voice.end_of_speech import RULES, EndOfSpeech, EndOfSpeechMode, EndOfSpeechRule

MIC_CHUNK = 1024  # bytes per microphone read on the satellite (32 ms)
WORDS = " + words"
# The silence after a whole request's words, tried besides the rule's (run.py reports each).
SWEEP_S = (0.6, 0.7, 0.8, 0.85)

Stream = list[tuple[float, bytes]]  # (seconds into the request when sent, audio)


def microphone(pcm: bytes) -> Stream:
    return [
        (min(i + MIC_CHUNK, len(pcm)) / 2 / RATE, pcm[i : i + MIC_CHUNK])
        for i in range(0, len(pcm), MIC_CHUNK)
    ]


def settings() -> dict[str, tuple[EndOfSpeechRule, str | None]]:
    """Every setting benched: its rule, and the mode whose verdicts reach it (None: none)."""
    found: dict[str, tuple[EndOfSpeechRule, str | None]] = {}
    for mode, rule in RULES.items():
        found[str(mode)] = (rule, None)
        found[f"{mode}{WORDS}"] = (rule, str(mode))
    balanced = RULES[EndOfSpeechMode.BALANCED]
    for seconds in SWEEP_S:
        swept = replace(balanced, complete_silence_s=seconds)
        found[f"balanced{WORDS} {seconds:.2f} s"] = (swept, str(EndOfSpeechMode.BALANCED))
    return found


def turn(
    utterance: Utterance, rule: EndOfSpeechRule, verdicts: list[float]
) -> tuple[float, Stream]:
    """When the turn ended (seconds into the request) and what HA was sent until then;
    `verdicts`: when "a whole request" reached the satellite."""
    detector = EndOfSpeech(rule)
    pending = sorted(verdicts)
    sent: Stream = []
    now = 0.0
    for now, chunk in microphone(utterance.pcm):
        heard = now - len(chunk) / 2 / RATE  # the audio fed so far
        while pending and pending[0] <= heard:
            pending.pop(0)
            detector.judge_words_complete()
        if detector.finished:
            return heard, sent
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
        detector = EndOfSpeech(EndOfSpeechRule(1e8, 1e9, 1e9, max_s=1e9))  # never finishes
        for _, chunk in microphone(utterance.pcm):
            detector.feed(chunk)
        audio += len(utterance.pcm) / 2 / RATE
    return (time.process_time() - start) / audio


def main() -> None:
    corpus_path, verdicts_path, out = map(Path, sys.argv[1:4])
    corpus: list[Utterance] = pickle.loads(corpus_path.read_bytes())
    verdicts: dict[str, list[list[float]]] = pickle.loads(verdicts_path.read_bytes())
    turns = [
        {
            name: turn(u, rule, verdicts[mode][index] if mode else [])
            for name, (rule, mode) in settings().items()
        }
        for index, u in enumerate(corpus)
    ]
    out.write_bytes(pickle.dumps({"turns": turns, "cpu": cpu_per_audio_second(corpus)}))


if __name__ == "__main__":
    main()
