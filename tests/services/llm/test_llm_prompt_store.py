"""milo-llm keeps the latest system prompts on disk and reads them at its next start, so
the first request after a restart reads only its own turns (the real embedded model)."""

from __future__ import annotations

import json
from pathlib import Path
import threading

import pytest

from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.model import ChatModel, GenerationRequest
from milo_services.llm.prefix_cache import SystemPromptStore
from milo_services.llm.requantize import q8_0_copy

AGENT = "You are Milo, a desk robot. Answer in one or two short sentences. " * 6


def ask(model: ChatModel, system: str, question: str) -> int:
    """The prompt tokens that were cached for one short answer."""
    request = GenerationRequest(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        max_tokens=2,
        seed=1,
    )
    return model.generate(request, lambda _text: None, threading.Event()).cached_tokens


def start(store: Path, weights: Path) -> ChatModel:
    """milo-llm's model as it starts: its saved system prompts read before any request."""
    path = embedded_model_path()
    assert path is not None
    model = ChatModel(path, weights=weights, n_ctx=1024, prompt_store=store)
    model.read_stored_system_prompts()
    return model


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded model's Q8_0 copy, as milo-llm loads it."""
    path = embedded_model_path()
    assert path is not None
    return q8_0_copy(path, tmp_path_factory.mktemp("models"))


def test_a_restarted_model_has_the_last_system_prompt_read(tmp_path: Path, weights: Path) -> None:
    store = tmp_path / "prompts.json"
    first = start(store, weights)
    try:
        assert ask(first, AGENT, "Hi?") < 20  # read for the first time
    finally:
        first.close()
    again = start(store, weights)
    try:
        assert ask(again, AGENT, "How are you?") > 70  # the whole system prompt was cached
    finally:
        again.close()


@pytest.mark.parametrize(
    "content",
    ["not json", json.dumps({"model": "x", "prompts": [["a"]]}), json.dumps([1, 2])],
)
def test_a_broken_store_is_ignored_with_a_warning(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "prompts.json"
    path.write_text(content, encoding="utf-8")
    assert SystemPromptStore(path, "x", 2).load(vocabulary=100) == []
    assert "Ignoring the saved system prompts" in caplog.text


def test_only_the_same_models_latest_prompts_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "prompts.json"
    store = SystemPromptStore(path, "smol:1", 2)
    for prefix in ((1, 2), (3, 4), (1, 2), (5, 6)):
        store.remember(prefix, vocabulary=100)
    assert store.load(vocabulary=100) == [[5, 6], [1, 2]]
    assert SystemPromptStore(path, "smol:2", 2).load(vocabulary=100) == []
    assert SystemPromptStore(path, "smol:1", 2).load(vocabulary=6) == []  # not its tokens
