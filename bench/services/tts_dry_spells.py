"""Does milo-tts keep ahead of playback on a busy host? Dry spells of the speaker, measured.

Two copies of the embedded voice answer the same replies in alternating order: one with the
schedule milo-tts uses (`PiperEngine.schedule`, chunk sizes from the host's measured speed)
and one with the fixed schedule it had before (24 frames, then 4x bigger up to 256). Each
reply goes through the real `Synthesizer` (worker thread, step by step); every piece is
stamped when it arrives and played as a speaker would from the first one on, like the demo's
speaker (`demo/milo_demo/devices/sound_sink.py`): a piece that comes after the audio before
it has played leaves the speaker dry for the difference. `--busy N` runs N busy loops at
full priority meanwhile (4 on a 2-core VM made 0.21-0.54 s dry spells in the demo).

    .venv/bin/python bench/services/tts_dry_spells.py --busy 4 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
import json
import multiprocessing
import os
import statistics
import time

from milo_services.tts.engine import FIRST_CHUNK_FRAMES, MAX_CHUNK_FRAMES, PiperEngine
from milo_services.tts.synthesizer import SpeechSettings, Synthesizer
from milo_services.tts.voice import embedded_voice

REPLIES = [
    "Oh, you want the weather again? It is fourteen degrees and drizzly in Portrush, "
    "which is to say a perfectly normal Tuesday, so take a jacket and stop asking me.",
    "The kitchen lights are off now. You are welcome, and no, I will not tell anyone "
    "you were standing in the dark eating cereal straight out of the box at midnight.",
    "The surf at Portrush East Strand is about three feet and clean this morning, with a "
    "light offshore breeze until noon, so grab your board before the wind picks up.",
]


class FixedSchedule(PiperEngine):
    """The schedule milo-tts had before: the same sizes on any host."""

    def schedule(self, frames: int) -> list[tuple[int, int]]:
        bounds, start, size = [], 0, FIRST_CHUNK_FRAMES
        while start < frames:
            bounds.append((start, min(frames, start + size)))
            start, size = bounds[-1][1], min(size * 4, MAX_CHUNK_FRAMES)
        return bounds


def busy_loop() -> None:
    os.setpriority(os.PRIO_PROCESS, 0, 0)
    while True:
        pass


def dry_spells(arrivals: Iterator[tuple[float, float]]) -> list[float]:
    """Gaps in playback for pieces (arrival time, seconds of audio), played from the first."""
    gaps: list[float] = []
    played_until: float | None = None
    for arrived, seconds in arrivals:
        if played_until is None or arrived > played_until:
            if played_until is not None:
                gaps.append(arrived - played_until)
            played_until = arrived
        played_until += seconds
    return gaps


async def answer(synthesizer: Synthesizer, text: str) -> dict[str, float]:
    started = time.perf_counter()
    pieces: list[tuple[float, float]] = []
    async for pcm in synthesizer.speak(text):
        pieces.append((time.perf_counter(), len(pcm) / 2 / synthesizer.sample_rate))
    gaps = dry_spells(iter(pieces))
    return {
        "first_audio_s": pieces[0][0] - started,
        "first_piece_s": pieces[0][1],
        "dry_s": sum(gaps),
        "longest_dry_s": max(gaps, default=0.0),
        "audio_s": sum(seconds for _, seconds in pieces),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", type=int, default=0, help="busy loops at full priority")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    voice = embedded_voice()
    synthesizers = {
        "adaptive": Synthesizer(PiperEngine(voice), SpeechSettings()),
        "fixed": Synthesizer(FixedSchedule(voice), SpeechSettings()),
    }
    loops = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(args.busy)]
    for loop in loops:
        loop.start()
    try:
        for synthesizer in synthesizers.values():  # a reply to learn the load
            await answer(synthesizer, REPLIES[0])
        results: dict[str, list[dict[str, float]]] = {name: [] for name in synthesizers}
        for _ in range(args.rounds):
            for text in REPLIES:
                for name, synthesizer in synthesizers.items():
                    results[name].append(await answer(synthesizer, text))
    finally:
        for loop in loops:
            loop.terminate()
    summary = {
        name: {
            "replies": len(rows),
            "replies_with_dry_spells_over_20ms": sum(row["longest_dry_s"] > 0.02 for row in rows),
            "dry_s_total": round(sum(row["dry_s"] for row in rows), 3),
            "longest_dry_s": round(max(row["longest_dry_s"] for row in rows), 3),
            "first_audio_s_median": round(statistics.median(r["first_audio_s"] for r in rows), 3),
            "first_piece_s_median": round(statistics.median(r["first_piece_s"] for r in rows), 3),
            "audio_s_total": round(sum(row["audio_s"] for row in rows), 1),
        }
        for name, rows in results.items()
    }
    print(json.dumps({"busy_loops": args.busy, "cpus": os.cpu_count(), **summary}, indent=1))
    for synthesizer in synthesizers.values():
        synthesizer.close()


if __name__ == "__main__":
    asyncio.run(main())
