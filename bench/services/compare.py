"""milo-stt/milo-tts against wyoming-faster-whisper/wyoming-piper, measured by wyoming-bench.

Run with .venv-peers (it has wyoming-bench); `bench/services/run` does everything. All four
servers run during the whole benchmark and are measured in alternating order, round after
round, so load from anything else on the machine hits them alike. Every figure a goal is
judged on is a ratio against the peer from this same run.

Phases (`--phases`): `stt` and `tts` (wyoming-bench's own measurements, audio and text sent
as fast as possible), `concurrency` (one client vs 4 at once) and `realtime`: recordings
streamed at real-time pace followed by the silence Home Assistant waits for, timing
`audio-stop` -> `transcript`, which is where milo-stt's speculative transcription shows,
and `noise`: a normal request alone vs the same request sent while another client's
60 s of loud noise is being transcribed (whisper cannot be interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import functools
import json
import os
from pathlib import Path
import platform
import socket
import statistics
import subprocess
import time
from typing import Any

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe
from wyoming_bench.stt.accuracy import word_accuracy
from wyoming_bench.stt.bench import bench_stt_server
from wyoming_bench.stt.client import measure_stt_once
from wyoming_bench.stt.corpus import AudioInput, load_corpus
from wyoming_bench.tts.bench import bench_server
from wyoming_bench.tts.client import measure_once
from wyoming_bench.tts.texts import DEFAULT_TEXTS

REPO = Path(__file__).resolve().parents[2]
MILO_BIN = REPO / ".venv" / "bin"
PEERS_BIN = REPO / ".venv-peers" / "bin"
TIMEOUT = 300.0
CONCURRENT_CLIENTS = 4
PHASES = ("stt", "tts", "concurrency", "realtime", "noise")
NOISE_S = 60.0
# Home Assistant streams 16 kHz audio in real time and ends it after its voice activity
# detection heard enough silence: about 0.8 s of it with the default end-of-speech setting,
# about 0.4 s with "aggressive" (0.25 s plus the detector's own delay).
HA_SILENCE_S = {"default": 0.8, "aggressive": 0.4}
REALTIME_CHUNK_S = 0.02


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    label: str
    argv: list[str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [*self.argv, "--uri", f"tcp://127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                async with AsyncTcpClient("127.0.0.1", self.port) as client:
                    await client.write_event(Describe().event())
                    if await client.read_event() is not None:
                        return
            except OSError:
                await asyncio.sleep(0.3)
        raise TimeoutError(self.label)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)


def describe(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "p95": p95,
    }


async def interleaved(
    servers: list[Server], rounds: int, measure: Callable[[Server, int], Awaitable[list[Any]]]
) -> dict[str, list[Any]]:
    """Round-robin the servers, reversing the order every round."""
    results: dict[str, list[Any]] = {server.label: [] for server in servers}
    for round_no in range(rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for server in order:
            results[server.label] += await measure(server, round_no)
    return results


async def bench_stt(servers: list[Server], corpus: list[AudioInput], rounds: int) -> dict:
    async def measure(server: Server, round_no: int) -> list[Any]:
        return await bench_stt_server(
            "127.0.0.1",
            server.port,
            corpus,
            ["non_streaming"],
            Transcribe(language="en"),
            rounds=1,
            warmup=1 if round_no == 0 else 0,
            verbose=False,
            chunk_samples=1024,
            chunk_delay=0.0,
            connect_timeout=TIMEOUT,
            read_timeout=TIMEOUT,
            trailing_silence=0.5,  # wyoming-bench's default
        )

    report = {}
    for label, measurements in (await interleaved(servers, rounds, measure)).items():
        ok = [m for m in measurements if m.ok]
        errors = sum(m.sub + m.ins + m.del_ for m in ok)
        words = sum(m.n_ref_words for m in ok)
        report[label] = {
            "failed": len(measurements) - len(ok),
            "total_s": describe([m.t_end - m.t_sent for m in ok]),
            "wer": errors / words if words else None,
            "exact_sentences": sum(m.exact for m in ok) / len(ok) if ok else None,
        }
    return report


async def bench_tts(servers: list[Server], rounds: int) -> dict:
    async def measure(server: Server, round_no: int) -> list[Any]:
        return await bench_server(
            "127.0.0.1",
            server.port,
            list(DEFAULT_TEXTS),
            ["non_streaming", "streaming"],
            voice=None,
            text_format=None,
            rounds=1,
            warmup=1 if round_no == 0 else 0,
            verbose=False,
            chunk_delay=0.0,
            connect_timeout=TIMEOUT,
            read_timeout=TIMEOUT,
            unique=True,
        )

    report: dict[str, dict] = {}
    for label, measurements in (await interleaved(servers, rounds, measure)).items():
        for mode in ("non_streaming", "streaming"):
            ok = [m for m in measurements if m.ok and m.mode == mode]
            report.setdefault(label, {})[mode] = {
                "failed": sum(1 for m in measurements if m.mode == mode and not m.ok),
                "first_audio_s": describe([m.ttft_s for m in ok]),
                "total_s": describe([m.total_s for m in ok]),
                "audio_s": statistics.fmean(m.audio_duration_s for m in ok),
            }
    return report


async def concurrency(server: Server, once: Callable[[], Awaitable[float | None]], n: int) -> dict:
    """Latency of a lone request vs requests from 4 clients at once, alternating n times so
    that changing load on the machine hits both alike."""
    single: list[float | None] = []
    together: list[float | None] = []
    for _ in range(n):
        single.append(await once())
        together += await asyncio.gather(*(once() for _ in range(CONCURRENT_CLIENTS)))
    failures = sum(x is None for x in single + together)
    one = describe([x for x in single if x is not None])
    four = describe([x for x in together if x is not None])
    return {
        "failed": failures,
        "single": one,
        f"{CONCURRENT_CLIENTS}_clients": four,
        "p95_ratio": four["p95"] / one["p95"],
    }


async def bench_concurrency(
    stt: list[Server], tts: list[Server], corpus: list[AudioInput], n: int
) -> dict:
    report = {}
    for server in stt:
        once = functools.partial(stt_once, server, corpus[1])
        report[server.label] = {"total_s": await concurrency(server, once, n)}
    for server in tts:

        async def tts_once(server: Server = server) -> float | None:
            m = await measure_once(
                "127.0.0.1",
                server.port,
                "streaming",
                DEFAULT_TEXTS[2],
                None,
                None,
                TIMEOUT,
                TIMEOUT,
            )
            return m.ttft_s

        report[server.label] = {"first_audio_s": await concurrency(server, tts_once, n)}
    return report


async def stt_once(server: Server, sample: AudioInput) -> float | None:
    """`audio-start` -> `transcript` of one request sent at once; None if it failed."""
    m = await measure_stt_once(
        "127.0.0.1",
        server.port,
        "non_streaming",
        sample,
        Transcribe(language="en"),
        1024,
        TIMEOUT,
        TIMEOUT,
        trailing_silence=0.5,
    )
    return m.t_end - m.t_sent if m.ok else None


async def bench_noise(stt: list[Server], corpus: list[AudioInput], n: int) -> dict:
    """A normal request alone, then beside a hostile client's noise, n times per server."""
    rng = np.random.default_rng(7)
    noise = (rng.normal(0.0, 0.3, int(16_000 * NOISE_S)).clip(-1, 1) * 32767).astype("<i2")
    hostile = AudioInput("noise", "", 16_000, 2, 1, noise.tobytes(), Path("noise.raw"))
    report = {}
    for server in stt:
        alone: list[float | None] = []
        beside: list[float | None] = []
        for _ in range(n):
            alone.append(await stt_once(server, corpus[1]))
            busy = asyncio.create_task(stt_once(server, hostile))
            await asyncio.sleep(1.0)  # its audio is in and the model is on it
            beside.append(await stt_once(server, corpus[1]))
            await busy
        one = describe([x for x in alone if x is not None])
        two = describe([x for x in beside if x is not None])
        report[server.label] = {
            "failed": sum(x is None for x in alone + beside),
            "alone_s": one,
            "beside_noise_s": two,
            "median_ratio": two["median"] / one["median"],
        }
    return report


async def realtime_stt_once(
    server: Server, sample: AudioInput, silence_s: float
) -> tuple[float, str] | None:
    """Stream a recording plus `silence_s` of silence in real time, as Home Assistant does,
    and time `audio-stop` -> `transcript`: the wait a person has after HA heard the end."""
    fmt = {"rate": sample.rate, "width": sample.width, "channels": sample.channels}
    frame = sample.width * sample.channels
    pcm = sample.pcm + bytes(round(silence_s * sample.rate) * frame)
    step = round(REALTIME_CHUNK_S * sample.rate) * frame
    try:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(Transcribe(language="en").event())
            await client.write_event(AudioStart(**fmt).event())
            started = time.perf_counter()
            for number, offset in enumerate(range(0, len(pcm), step)):
                due = started + number * REALTIME_CHUNK_S
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                await client.write_event(
                    AudioChunk(audio=pcm[offset : offset + step], **fmt).event()
                )
            await asyncio.sleep(
                max(0.0, started + len(pcm) / frame / sample.rate - time.perf_counter())
            )
            await client.write_event(AudioStop().event())
            stopped = time.perf_counter()
            while (event := await asyncio.wait_for(client.read_event(), TIMEOUT)) is not None:
                if Transcript.is_type(event.type):
                    return time.perf_counter() - stopped, Transcript.from_event(event).text
    except (OSError, TimeoutError):
        pass
    return None


async def bench_realtime(servers: list[Server], corpus: list[AudioInput], rounds: int) -> dict:
    """Each recording to each server in turn (order alternating), for each silence length."""
    samples: dict[tuple[str, str], list[tuple[AudioInput, tuple[float, str] | None]]] = {}
    for round_no in range(rounds):
        for index, sample in enumerate(corpus):
            for setting, silence_s in HA_SILENCE_S.items():
                flip = (round_no + index) % 2
                for server in reversed(servers) if flip else servers:
                    result = await realtime_stt_once(server, sample, silence_s)
                    samples.setdefault((server.label, setting), []).append((sample, result))
    report: dict[str, dict] = {}
    for (label, setting), items in samples.items():
        ok = [(sample, result) for sample, result in items if result is not None]
        errors = words = 0
        for sample, (_seconds, text) in ok:
            accuracy = word_accuracy(text, sample.reference)
            errors += accuracy["sub"] + accuracy["ins"] + accuracy["del"]
            words += accuracy["n_ref"]
        report.setdefault(label, {})[setting] = {
            "silence_s": HA_SILENCE_S[setting],
            "failed": len(items) - len(ok),
            "after_audio_stop_s": describe([result[0] for _sample, result in ok]),
            "wer": errors / words if words else None,
            "texts": {sample.sample_id: result[1] for sample, result in ok},
        }
    return report


def ratios(results: dict) -> dict:
    out = {}
    peers = (
        ("wyoming-faster-whisper", ""),
        ("wyoming-faster-whisper --compute-type int8", "_int8"),
    )
    if stt := results.get("stt"):
        for peer, suffix in peers:
            for stat in ("mean", "median"):
                out[f"stt_total_{stat}_vs_peer{suffix}"] = (
                    stt["milo-stt"]["total_s"][stat] / stt[peer]["total_s"][stat]
                )
            out[f"stt_wer_peer{suffix}"] = stt[peer]["wer"]
        out["stt_wer_milo"] = stt["milo-stt"]["wer"]
    if tts := results.get("tts"):
        for mode in ("non_streaming", "streaming"):
            for stat in ("mean", "median"):
                out[f"tts_first_audio_{stat}_vs_peer_{mode}"] = (
                    tts["milo-tts"][mode]["first_audio_s"][stat]
                    / tts["wyoming-piper"][mode]["first_audio_s"][stat]
                )
    for label, entry in results.get("concurrency", {}).items():
        out[f"concurrency_p95_ratio_{label}"] = next(iter(entry.values()))["p95_ratio"]
    for label, entry in results.get("noise", {}).items():
        out[f"beside_noise_median_ratio_{label}"] = entry["median_ratio"]
    if realtime := results.get("realtime"):
        for setting in HA_SILENCE_S:
            milo = realtime["milo-stt"][setting]["after_audio_stop_s"]
            for peer, suffix in (*peers, ("milo-stt --no-speculation", "_no_speculation")):
                other = realtime[peer][setting]["after_audio_stop_s"]
                for stat in ("mean", "median"):
                    out[f"stt_after_stop_{setting}_{stat}_vs{suffix or '_peer'}"] = (
                        milo[stat] / other[stat]
                    )
            same = realtime["milo-stt"][setting]["texts"]
            plain = realtime["milo-stt --no-speculation"][setting]["texts"]
            out[f"stt_speculation_same_texts_{setting}"] = sum(
                same[key] == plain.get(key) for key in same
            ) / max(1, len(same))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--whisper-model", required=True, help="the tiny.en CTranslate2 folder")
    parser.add_argument("--voice-dir", required=True, help="folder of en_US-joe-medium.onnx")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency-requests", type=int, default=6)
    parser.add_argument("--noise-requests", type=int, default=3)
    parser.add_argument(
        "--realtime-rounds", type=int, default=1, help="rounds of the real-time STT phase"
    )
    parser.add_argument(
        "--realtime-recordings",
        type=int,
        default=12,
        help="how many recordings (spread over the corpus) the real-time phase streams",
    )
    parser.add_argument(
        "--phases", nargs="+", choices=PHASES, default=list(PHASES), help="what to measure"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    threads = str(len(os.sched_getaffinity(0)))
    peer_stt = [
        str(PEERS_BIN / "wyoming-faster-whisper"),
        *("--model", args.whisper_model, "--data-dir", str(args.out.parent / "peer-data")),
        *("--language", "en", "--local-files-only"),
    ]
    stt = [
        Server("milo-stt", [str(MILO_BIN / "milo-stt")]),
        Server("wyoming-faster-whisper", peer_stt),
        # milo-stt runs int8 by default; the peer keeps the model's float type unless told.
        Server("wyoming-faster-whisper --compute-type int8", [*peer_stt, "--compute-type", "int8"]),
    ]
    # What speculation alone buys, in the real-time phase.
    no_speculation = Server(
        "milo-stt --no-speculation", [str(MILO_BIN / "milo-stt"), "--no-speculation"]
    )
    tts = [
        Server("milo-tts", [str(MILO_BIN / "milo-tts")]),
        Server(
            "wyoming-piper",
            [
                str(PEERS_BIN / "wyoming-piper"),
                *("--voice", "en_US-joe-medium", "--data-dir", args.voice_dir),
                "--local-files-only",
            ],
        ),
    ]
    corpus = load_corpus(args.corpus)
    servers = [*stt, no_speculation, *tts]
    for server in servers:
        server.start()
    try:
        for server in servers:
            await server.wait_ready()
        started = time.time()
        results: dict[str, Any] = {
            "machine": {"cpus": threads, "platform": platform.platform()},
            "corpus": {"recordings": len(corpus), "seconds": sum(a.duration_s for a in corpus)},
            "rounds": args.rounds,
            "load_average_before": os.getloadavg(),
        }
        if "stt" in args.phases:
            results["stt"] = await bench_stt(stt, corpus, args.rounds)
        if "tts" in args.phases:
            results["tts"] = await bench_tts(tts, args.rounds)
        if "concurrency" in args.phases:
            results["concurrency"] = await bench_concurrency(
                stt[:2], tts, corpus, args.concurrency_requests
            )
        if "noise" in args.phases:
            results["noise"] = await bench_noise(stt[:2], corpus, args.noise_requests)
        if "realtime" in args.phases:
            step = max(1, len(corpus) // max(1, args.realtime_recordings))
            results["realtime"] = await bench_realtime(
                [*stt, no_speculation], corpus[::step], args.realtime_rounds
            )
        results["ratios"] = ratios(results)
        results["wall_s"] = time.time() - started
        results["load_average_after"] = os.getloadavg()
    finally:
        for server in servers:
            server.stop()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["ratios"], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
