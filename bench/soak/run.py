"""Soak: an hour of a household's traffic through the whole stack, watching for leaks.

One real Home Assistant, the simulated satellite and the three Milo services run as the
demo runs them. Requests arrive at random (exponential gaps, `--interval` seconds on
average, seeded so two runs send the same traffic), one at a time as in a home:

- voice: a spoken request played into the satellite's microphone, through the Assist
  pipeline (milo-stt, Milo's agent, milo-tts); its latency is from the end of the speech
  to the answer's first audio at the speaker, the others' the whole request;
- text: a conversation turn through HA's conversation API (Milo's agent);
- stt: a request's audio straight to milo-stt with the wyoming client;
- tts: a sentence straight to milo-tts with the wyoming client.

Every minute it records each process's resident memory and open files (the process
group: the satellite's recognition worker counts with the satellite). The report gives,
per kind, the count, errors, p50 and p95; per process, the memory after warm-up (the
first `WARM_UP_MIN` minutes load models and fill caches) and at the end, and the growth
between them.

    .venv-ha/bin/python bench/soak/run.py [--minutes 60] [--interval 20]
        [--out bench/results/soak.json]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import platform
import random
import sys
import time
import wave

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.tts import Synthesize

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "demo"))

from milo_demo.errors import StageError  # noqa: E402
from milo_demo.ha_api import HaApiError  # noqa: E402
from milo_demo.playback import play_request  # noqa: E402
from milo_demo.scenario import BENCH_REQUESTS  # noqa: E402
from milo_demo.speech import SpokenRequest, synthesize_requests  # noqa: E402
from milo_demo.stack import DemoStack, StackOptions  # noqa: E402

KINDS = ("voice", "text", "stt", "tts")
WEIGHTS = (4, 3, 2, 1)  # a home talks to Milo more than anything calls the services directly
WARM_UP_MIN = 5
REQUEST_S = 120.0  # one request that takes longer is an error, and the soak goes on
TEXTS = tuple(r.text for r in BENCH_REQUESTS)
SENTENCES = (
    "Desk lamp on. Try not to squint.",
    "West Strand is cooking tomorrow morning, so wax the board.",
    "Rain later, my little barnacle. Bring a coat.",
)


@dataclass
class Sample:
    minute: float
    processes: dict[str, dict[str, int]]  # name -> rss_kib, open_files, members


@dataclass
class Soak:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    samples: list[Sample] = field(default_factory=list)


def _group_usage(pgid: int) -> dict[str, int]:
    """Resident memory (KiB) and open files of every live process in a process group."""
    rss = files = members = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            # Fields after the command's closing bracket: state, ppid, pgrp, ...
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            status = Path(entry.path, "status").read_text()
            rss += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            files += len(os.listdir(Path(entry.path, "fd")))
            members += 1
        except (OSError, StopIteration, IndexError, ValueError):
            continue  # exited meanwhile, or a kernel thread
    return {"rss_kib": rss, "open_files": files, "members": members}


def _sample(stack: DemoStack, started: float) -> Sample:
    usage = {
        name: _group_usage(managed.pgid)
        for name, managed in stack.supervisor.processes.items()
        if managed.running
    }
    return Sample(round((time.monotonic() - started) / 60, 2), usage)


async def _stt(port: int, spoken: SpokenRequest) -> None:
    with wave.open(str(spoken.wav), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        step = rate * width * channels // 10  # 100 ms chunks, as a satellite sends them
        for start in range(0, len(pcm), step):
            audio = pcm[start : start + step]
            chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=audio)
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if Transcript.is_type(event.type):
                if not Transcript.from_event(event).text:
                    raise RuntimeError("empty transcript")
                return
            if Error.is_type(event.type):
                raise RuntimeError(Error.from_event(event).text)
    raise RuntimeError("milo-stt closed the connection without a transcript")


async def _tts(port: int, text: str) -> None:
    audio = 0
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=text).event())
        while (event := await client.read_event()) is not None:
            if AudioChunk.is_type(event.type):
                audio += len(AudioChunk.from_event(event).audio)
            elif AudioStop.is_type(event.type):
                if not audio:
                    raise RuntimeError("milo-tts sent no audio")
                return
            elif Error.is_type(event.type):
                raise RuntimeError(Error.from_event(event).text)
    raise RuntimeError("milo-tts closed the connection before audio-stop")


async def _text(stack: DemoStack, text: str) -> None:
    assert stack.hass.rest is not None
    reply = await stack.hass.rest.post(
        "/api/conversation/process",
        json={"text": text, "agent_id": stack.configured.agent_entity, "language": "en"},
    )
    speech = reply["response"]["speech"]["plain"]["speech"]
    if not speech:
        raise RuntimeError(f"empty answer: {reply}")


async def _voice(stack: DemoStack, spoken: SpokenRequest) -> float:
    result = await play_request(stack, spoken)
    if result.error or not result.answer or result.timings.first_audio is None:
        raise RuntimeError(f"{result.error or 'no answer audio'}: {result.transcript!r}")
    return result.timings.first_audio


def _request(
    stack: DemoStack, kind: str, rng: random.Random, spoken: list[SpokenRequest]
) -> Callable[[], Awaitable[float | None]]:
    request = rng.choice(spoken)
    if kind == "voice":
        return lambda: _voice(stack, request)
    if kind == "stt":
        return lambda: _stt(stack.ports.stt, request)
    if kind == "tts":
        sentence = rng.choice(SENTENCES)
        return lambda: _tts(stack.ports.tts, sentence)
    text = rng.choice(TEXTS)
    return lambda: _text(stack, text)


async def _traffic(
    stack: DemoStack, soak: Soak, spoken: list[SpokenRequest], minutes: float, interval: float
) -> None:
    rng = random.Random(2026)
    started = time.monotonic()
    next_sample = started
    next_request = started
    while (now := time.monotonic()) < started + minutes * 60:
        if now >= next_sample:
            soak.samples.append(_sample(stack, started))
            next_sample += 60
        if now < next_request:
            await asyncio.sleep(min(next_request, next_sample) - now)
            continue
        kind = rng.choices(KINDS, WEIGHTS)[0]
        call = _request(stack, kind, rng, spoken)
        begun = time.monotonic()
        try:
            async with asyncio.timeout(REQUEST_S):
                latency = await call()
        except (TimeoutError, StageError, HaApiError, RuntimeError, OSError, KeyError) as err:
            when = time.monotonic() - started
            soak.errors[kind].append(f"{when:.0f} s: {type(err).__name__}: {err}")
            print(f"[soak] {kind:<5} ERROR {err}", flush=True)
        else:
            latency = time.monotonic() - begun if latency is None else latency
            soak.latencies[kind].append(latency)
            print(f"[soak] {kind:<5} {latency:6.2f} s", flush=True)
        next_request = time.monotonic() + rng.expovariate(1 / interval)
    soak.samples.append(_sample(stack, started))


def _percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else None


def _summary(soak: Soak) -> dict[str, object]:
    requests = {
        kind: {
            "n": len(soak.latencies[kind]) + len(soak.errors[kind]),
            "errors": len(soak.errors[kind]),
            "p50_s": _percentile(soak.latencies[kind], 0.5),
            "p95_s": _percentile(soak.latencies[kind], 0.95),
        }
        for kind in KINDS
    }
    warm = next((s for s in soak.samples if s.minute >= WARM_UP_MIN), soak.samples[0])
    last = soak.samples[-1]
    processes = {}
    for name, end in last.processes.items():
        start = warm.processes.get(name, end)
        peak = max(s.processes.get(name, end)["rss_kib"] for s in soak.samples)
        processes[name] = {
            "rss_mib_after_warm_up": round(start["rss_kib"] / 1024, 1),
            "rss_mib_end": round(end["rss_kib"] / 1024, 1),
            "rss_mib_peak": round(peak / 1024, 1),
            "rss_growth_mib": round((end["rss_kib"] - start["rss_kib"]) / 1024, 1),
            "open_files_after_warm_up": start["open_files"],
            "open_files_end": end["open_files"],
        }
    return {"requests": requests, "processes": processes}


def _table(summary: dict[str, dict[str, dict[str, float | int | None]]]) -> str:
    def cell(value: float | int | None) -> str:
        return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| kind | requests | errors | p50 (s) | p95 (s) |", "|---|---|---|---|---|"]
    for kind, row in summary["requests"].items():
        lines.append(
            f"| {kind} | {row['n']} | {row['errors']} | {cell(row['p50_s'])} "
            f"| {cell(row['p95_s'])} |"
        )
    lines += [
        "",
        f"| process | RSS after {WARM_UP_MIN} min (MiB) | RSS at end | peak | growth "
        "| open files after warm-up | at end |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in summary["processes"].items():
        lines.append(
            f"| {name} | {row['rss_mib_after_warm_up']} | {row['rss_mib_end']} "
            f"| {row['rss_mib_peak']} | {row['rss_growth_mib']} "
            f"| {row['open_files_after_warm_up']} | {row['open_files_end']} |"
        )
    return "\n".join(lines)


async def _soak(minutes: float, interval: float, run_dir: Path) -> dict[str, object]:
    stack = DemoStack(StackOptions(repo=REPO, run_dir=run_dir, default_ports=False))
    soak = Soak()
    try:
        print("[soak] starting the stack (models load; a minute or two)", flush=True)
        await stack.start()
        spoken = await synthesize_requests(
            BENCH_REQUESTS,
            run_dir / "speech",
            services_python=REPO / ".venv" / "bin" / "python",
            log=run_dir / "speech.log",
        )
        print(f"[soak] {minutes:g} min of traffic, a request every ~{interval:g} s", flush=True)
        await _traffic(stack, soak, list(spoken), minutes, interval)
    finally:
        leftovers = await stack.stop()
    return {
        "summary": _summary(soak),
        "errors": soak.errors,
        "samples": [{"minute": s.minute, "processes": s.processes} for s in soak.samples],
        "leftover_processes": leftovers,
    }


def main() -> None:
    """Run the soak and print markdown tables for the docs."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument(
        "--interval", type=float, default=20.0, help="mean seconds between requests"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak.json")
    parser.add_argument("--run-dir", type=Path, default=REPO / "demo-run" / "soak")
    args = parser.parse_args()
    started = time.time()
    report = asyncio.run(_soak(args.minutes, args.interval, args.run_dir.resolve()))
    report["machine"] = {
        "cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "seconds": round(time.time() - started),
        "load_average_end": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print()
    print(_table(report["summary"]))  # type: ignore[arg-type]
    print(f"\nraw samples: {args.out}")
    if report["leftover_processes"]:
        print("WARNING: processes left running:", report["leftover_processes"])


if __name__ == "__main__":
    main()
