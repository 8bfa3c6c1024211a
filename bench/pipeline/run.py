"""Pipeline latency: from the end of the user's speech to the first answer audio at Milo.

One real Home Assistant, one simulated satellite and one milo-llm serve two Assist
pipelines that differ only in speech: "Milo" (milo-stt + milo-tts) and "Peers"
(wyoming-faster-whisper + wyoming-piper on the same whisper tiny.en and piper joe voice).
Every request is played through three configurations:

- "Milo": the Milo pipeline, the satellite deciding the end of speech (its "End of
  speech" select, --end-of-speech, default balanced);
- "Milo, HA end": the Milo pipeline, HA's own end-of-speech detection (select on
  "home assistant": how every satellite works today);
- "Peers": the peer pipeline with HA's end-of-speech detection;
- with --late-start, also "Milo, late start": "Milo" with the agent's "Start answers
  early" switch off, so the model starts only when the turn has ended (without it, every
  Milo configuration starts small talk on milo-stt's speculative transcript).

The satellite keeps one HA conversation while requests come within 5 minutes, so every
answer follows the ones before it (Milo's agent keeps up to 6 turns of history). The three
configurations therefore never ask the same question back to back: in each slot each plays
a different request, a third of the list apart (A plays request i, B i + n/3, C i + 2n/3),
so a question is never in the history when it is asked again (a model that sees its own
question repeats its answer, and Milo's guard drops a repeat). Run 14 asked each request
three times in a row and the history was trimmed every third turn: the middle
configuration always paid both (its small talk read the whole history again, 3.8 s).
Within a slot the order is ABBA (A B C, then C B A), the first place rotating every two
slots, so drift and caches favour none.

HA's "Finished speaking detection" is --finished-speaking for all three. Reports median
and p90 per kind and the split: end of speech heard by HA (stt-vad-end; none when the
satellite ended the audio), STT, STT wait, intent/LLM, TTS first audio.

    .venv-ha/bin/python bench/pipeline/run.py [--rounds 1] [--end-of-speech balanced]
        [--kinds device small_talk] [--late-start] [--out bench/results/pipeline.json]

Needs .venv-peers (bench/setup-peers). With two configurations one round took 12.4 min on
the 2-core VM, start-up included; three take about 16 min: run it with nohup and follow
the log. On a VM shared with other work, run it under `nice -n -20` (the record keeps the
niceness and the load average).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
import platform
import statistics
import sys
import time

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "demo"))

from milo_demo.errors import StageError  # noqa: E402
from milo_demo.homeassistant import PEER_PIPELINE, PIPELINE_NAME  # noqa: E402
from milo_demo.playback import RequestResult, play_request  # noqa: E402
from milo_demo.scenario import BENCH_REQUESTS, DEMO_REQUESTS, Request  # noqa: E402
from milo_demo.speech import synthesize_requests  # noqa: E402
from milo_demo.stack import DemoStack, StackOptions  # noqa: E402

MILO, MILO_HA_END, PEERS = "Milo", "Milo, HA end", "Peers"
MILO_LATE = "Milo, late start"
HA_DECIDES = "home assistant"  # the satellite's End of speech option that leaves it to HA
KINDS = ("device", "weather", "surf", "small_talk")
# "speech" = STT + TTS first audio: the part the peer swap changes (the agent is shared).
# "stt_wait" = stt-vad-end -> stt-end: what HA waits for the transcript once its voice
# activity detection has ended the audio (milo-stt's speculation works on this part).
STAGES = ("vad_end", "stt", "stt_wait", "intent", "tts_first_audio", "speech", "total")
MAX_FAILURES = 3


def _stages(result: RequestResult) -> dict[str, float | None]:
    t = result.timings
    speech = None if t.stt is None or t.tts_first_audio is None else t.stt + t.tts_first_audio
    return {
        "vad_end": t.vad_end,
        "stt": t.stt,
        "stt_wait": None if t.stt is None or t.vad_end is None else t.stt - t.vad_end,
        "intent": t.intent,
        "tts_first_audio": t.tts_first_audio,
        "speech": speech,
        "total": t.first_audio,
    }


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _p90(values: list[float | None]) -> float | None:
    present = sorted(v for v in values if v is not None)
    return present[min(len(present) - 1, round(0.9 * (len(present) - 1)))] if present else None


async def _use(stack: DemoStack, config: str, configs: dict[str, tuple[str, str, bool]]) -> None:
    """Switch the satellite to one configuration: its pipeline, who ends the speech, and
    whether Milo's agent starts answers early."""
    pipeline, end_of_speech, early = configs[config]
    await stack.use_pipeline(pipeline)
    selects = await stack.hass.entities_of(stack.configured.entries["esphome"], "select")
    entity_id = next(e["entity_id"] for e in selects if e["entity_id"].endswith("end_of_speech"))
    await stack.hass.call_service(
        "select", "select_option", entity_id=entity_id, option=end_of_speech
    )
    switches = await stack.hass.entities_of(stack.configured.entries["milo"], "switch")
    entity_id = next(
        e["entity_id"] for e in switches if e["entity_id"].endswith("start_answers_early")
    )
    await stack.hass.call_service("switch", "turn_on" if early else "turn_off", entity_id=entity_id)


async def _bench(
    rounds: int,
    run_dir: Path,
    finished_speaking: str,
    end_of_speech: str,
    kinds: set[str],
    *,
    late_start: bool,
) -> dict[str, object]:
    configs = {
        MILO: (PIPELINE_NAME, end_of_speech, True),
        MILO_HA_END: (PIPELINE_NAME, HA_DECIDES, True),
        PEERS: (PEER_PIPELINE, HA_DECIDES, True),
    }
    if late_start:
        configs[MILO_LATE] = (PIPELINE_NAME, end_of_speech, False)
    stack = DemoStack(StackOptions(repo=REPO, run_dir=run_dir, peers=True, default_ports=False))
    requests = [r for r in BENCH_REQUESTS if r.kind in kinds] * rounds
    samples: list[dict[str, object]] = []
    failures = 0
    try:
        await stack.start()
        await stack.set_finished_speaking(finished_speaking)
        spoken = await synthesize_requests(
            tuple(dict.fromkeys(BENCH_REQUESTS + DEMO_REQUESTS)),
            run_dir / "speech",
            services_python=REPO / ".venv" / "bin" / "python",
            log=run_dir / "speech.log",
        )
        by_text = {s.request.text: s for s in spoken}
        # One warm-up request per pipeline: first-use costs are not what a user waits for.
        for name in configs:
            await _use(stack, name, configs)
            await play_request(stack, by_text[DEMO_REQUESTS[3].text])
        for slot, plays in enumerate(_schedule(requests, list(configs))):
            for name, request in plays:
                await _use(stack, name, configs)
                try:
                    result = await play_request(stack, by_text[request.text])
                except StageError as err:
                    # One lost request is a data point (an error), not the end of the run.
                    print(f"{name:<12} {request.kind:<10} FAILED: {err}", flush=True)
                    failures += 1
                    if failures > MAX_FAILURES:
                        raise
                    continue
                sample = {
                    "slot": slot,
                    "configuration": name,
                    "kind": request.kind,
                    "request": request.text,
                    "transcript": result.transcript,
                    "answer": result.answer,
                    "error": result.error,
                    **_stages(result),
                }
                samples.append(sample)
                print(
                    f"{name:<12} {request.kind:<10} total {sample['total'] or float('nan'):5.2f} s"
                    f"  stt {sample['stt'] or float('nan'):5.2f}"
                    f" (wait {sample['stt_wait'] or float('nan'):5.2f})"
                    f"  intent {sample['intent'] or float('nan'):5.2f}"
                    f"  tts {sample['tts_first_audio'] or float('nan'):5.2f}"
                    f"  | {result.transcript}",
                    flush=True,
                )
    finally:
        leftovers = await stack.stop()
    if leftovers:
        print("WARNING: processes left running:", leftovers)
    return {
        "configurations": configs,
        "samples": samples,
        "summary": _summarise(samples, list(configs)),
    }


def _schedule(requests: list[Request], names: list[str]) -> list[list[tuple[str, Request]]]:
    """Slots of one play per configuration; each configuration plays every request once, a
    third of the list after the previous one. The order within a slot is ABC then CBA, the
    first name rotating every two slots, so no configuration always goes first or last."""
    n, step = len(requests), max(1, len(requests) // len(names))
    slots = []
    for slot in range(n):
        plays = [(name, requests[(slot + i * step) % n]) for i, name in enumerate(names)]
        turn = (slot // 2) % len(names)
        plays = plays[turn:] + plays[:turn]
        slots.append(plays if slot % 2 == 0 else plays[::-1])
    return slots


def _summarise(samples: list[dict[str, object]], names: list[str]) -> dict[str, object]:
    summary: dict[str, object] = {}
    for name in names:
        mine = [s for s in samples if s["configuration"] == name]
        per_kind = {}
        for kind in (*KINDS, "all"):
            rows = [s for s in mine if kind in ("all", s["kind"])]
            per_kind[kind] = {
                "n": len(rows),
                **{stage: _median([r[stage] for r in rows]) for stage in STAGES},  # type: ignore[misc]
                "total_p90": _p90([r["total"] for r in rows]),  # type: ignore[misc]
            }
        summary[name] = per_kind
    return summary


def _table(summary: dict[str, dict[str, dict[str, float | None]]]) -> str:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def ratio(milo: float | None, peer: float | None) -> str:
        return f"{milo / peer:.2f}x" if milo is not None and peer else "-"

    lines = [
        "| kind | n | configuration | end of speech heard by HA | STT | STT wait after VAD end "
        "| intent | TTS 1st | **total** (median) | total p90 | total / Peers |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in (*KINDS, "all"):
        peer = summary[PEERS][kind]
        for name, rows in summary.items():
            row = rows[kind]
            lines.append(
                f"| {kind} | {row['n']} | {name} | {cell(row['vad_end'])} | {cell(row['stt'])} "
                f"| {cell(row['stt_wait'])} | {cell(row['intent'])} "
                f"| {cell(row['tts_first_audio'])} | **{cell(row['total'])}** "
                f"| {cell(row['total_p90'])} | {ratio(row['total'], peer['total'])} |"
            )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print a markdown table for docs/demo.md."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1, help="times through the 20 requests")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pipeline.json")
    parser.add_argument("--run-dir", type=Path, default=REPO / "demo-run" / "bench")
    parser.add_argument(
        "--finished-speaking",
        choices=("default", "relaxed", "aggressive"),
        default="default",
        help="HA's Finished speaking detection for the satellite (default: default)",
    )
    parser.add_argument(
        "--end-of-speech",
        choices=("fast", "balanced"),
        default="balanced",
        help="the satellite's End of speech setting for the Milo configuration",
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=KINDS,
        default=list(KINDS),
        help="only these kinds of request (a shorter run while iterating)",
    )
    parser.add_argument(
        "--late-start",
        action="store_true",
        help='also play every request as "Milo, late start": the agent\'s "Start answers '
        'early" switch off',
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="[bench] %(message)s")
    started = time.time()
    load_before = os.getloadavg()
    report = asyncio.run(
        _bench(
            args.rounds,
            args.run_dir.resolve(),
            args.finished_speaking,
            args.end_of_speech,
            set(args.kinds),
            late_start=args.late_start,
        )
    )
    report["finished_speaking"] = args.finished_speaking
    report["end_of_speech"] = args.end_of_speech
    report["machine"] = {
        "cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "seconds": round(time.time() - started),
        "niceness": os.nice(0),  # run under nice -n -20 on a shared VM (docs/demo.md)
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print()
    print(_table(report["summary"]))  # type: ignore[arg-type]
    print(f"\nraw samples: {args.out}")


if __name__ == "__main__":
    main()
