"""What the line bank's examples cost small talk: time to first token with and without them.

The examples of Milo's voice ride in the note before the question (persona.voice_note), so
milo-llm reads them with the question on every small-talk request; the system prompt
before them stays cached. This runs the real milo-llm (the embedded SmolLM2-135M) and sends
the agent's small-talk prompt for each question twice, with and without the examples,
alternating so that other load on the machine hits both alike. The figure to read is the
ratio of the medians; the prompt tokens come from the server's own count.

    .venv-ha/bin/python bench/lines/run.py [--rounds N]
    results: bench/results/lines.json
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from aiohttp import ClientSession

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from custom_components.milo import persona  # noqa: E402
from custom_components.milo.notes import fresh_note, say_moment  # noqa: E402

MILO_LLM = REPO / ".venv" / "bin" / "milo-llm"
READY = re.compile(r"HTTP API ready on (http://\S+/v1)")
MOMENT = say_moment("2026-06-01", "08:30")
# Small talk from the character benchmark (bench/character/requests.toml): the questions
# the model answers with examples.
QUESTIONS = [
    "Hi Milo, how are you today?",
    "Tell me a joke.",
    "Tell me something funny about robots.",
    "You're useless.",
    "What do you do all day?",
    "Do you ever sleep?",
    "I'm bored. Any ideas?",
    "Thanks for your help today.",
]


async def first_token(
    session: ClientSession, url: str, model: str, messages: list[dict[str, str]]
) -> tuple[float, int]:
    """Seconds to the first streamed text, and the prompt tokens the server counted."""
    body = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 1,
        "temperature": 0,
    }
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    async with session.post(f"{url}/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and any(c["delta"].get("content") for c in chunk["choices"]):
                first = time.perf_counter() - start
            if usage := chunk.get("usage"):
                tokens = usage["prompt_tokens"]
    return (first if first is not None else time.perf_counter() - start), tokens


def messages(question: str, voice: str) -> list[dict[str, str]]:
    """The agent's small-talk request: the persona, then the note and the question."""
    note = fresh_note("", MOMENT, voice)
    return [
        {"role": "system", "content": persona.system_prompt("Milo", 2, "")},
        {"role": "user", "content": f"({note})\n{question}"},
    ]


async def measure(url: str, rounds: int) -> dict[str, Any]:
    """Both modes, alternating, question by question."""
    times: dict[str, list[float]] = {"plain": [], "examples": []}
    tokens: dict[str, list[int]] = {"plain": [], "examples": []}
    async with ClientSession() as session:
        async with session.get(f"{url}/models") as resp:
            model = (await resp.json())["data"][0]["id"]
        # Warm-up: the persona prefix is cached from here on, as on a running system.
        await first_token(session, url, model, messages("Hello.", ""))
        for round_ in range(rounds):
            for index, question in enumerate(QUESTIONS):
                voice = persona.voice_note([question], "Milo", 2)
                modes = [("plain", ""), ("examples", voice)]
                if (round_ + index) % 2:
                    modes.reverse()
                for mode, note in modes:
                    seconds, counted = await first_token(
                        session, url, model, messages(question, note)
                    )
                    times[mode].append(seconds)
                    tokens[mode].append(counted)
            print(f"round {round_ + 1}/{rounds} done", flush=True)
    plain, examples = (statistics.median(times[m]) for m in ("plain", "examples"))
    return {
        "ttft_median_s": {"plain": round(plain, 3), "examples": round(examples, 3)},
        "ttft_ratio_examples_to_plain": round(examples / plain, 2),
        "prompt_tokens_median": {m: statistics.median(tokens[m]) for m in tokens},
        "example_tokens_median": statistics.median(
            b - a for a, b in zip(tokens["plain"], tokens["examples"], strict=True)
        ),
        "requests_per_mode": len(times["plain"]),
    }


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    """Start milo-llm, measure, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "lines.json")
    args = parser.parse_args()
    print("starting milo-llm (the embedded model)...", flush=True)
    log = Path("/tmp/milo-llm-lines-bench.log")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(MILO_LLM), "--uri", f"tcp://127.0.0.1:{free_port()}", "--http-host",
             "127.0.0.1", "--http-port", str(free_port())],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (ready := READY.search(log.read_text(errors="replace"))):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"milo-llm did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        result = asyncio.run(measure(ready.group(1), args.rounds))
    finally:
        server.terminate()
        server.wait()
    result |= {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{len(os.sched_getaffinity(0))} cores",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "model": "SmolLM2-135M-Instruct (embedded)",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
