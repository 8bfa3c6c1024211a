"""Saved KV-cache states for system prompts and conversations, so each is processed once.

llama-cpp-python already reuses the KV cache when a prompt starts like the
previous one, but one request with another system prompt (the Milo
integration's, or a client's own) would throw the persona away. Keeping a
few snapshots, keyed by the exact prefix tokens, restores any of them in
milliseconds instead of re-processing hundreds of tokens.
"""

from __future__ import annotations

from collections import OrderedDict
import json
import logging
import os
from pathlib import Path

from llama_cpp import Llama, LlamaState

_LOGGER = logging.getLogger(__name__)


class PrefixStateCache:
    """Least-recently-used snapshots of the model state after a prompt prefix."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._states: OrderedDict[tuple[int, ...], LlamaState] = OrderedDict()
        self._pinned: set[tuple[int, ...]] = set()

    def __len__(self) -> int:
        return len(self._states)

    def longest_match(self, tokens: list[int]) -> tuple[int, LlamaState | None]:
        """The snapshot sharing the most leading tokens with `tokens`, and how many."""
        best_len, best_key = 0, None
        for key in self._states:
            shared = Llama.longest_token_prefix(key, tokens)
            if shared > best_len:
                best_len, best_key = shared, key
        if best_key is None:
            return 0, None
        self._states.move_to_end(best_key)
        return min(best_len, len(best_key)), self._states[best_key]

    def snapshots(self) -> list[tuple[tuple[int, ...], LlamaState]]:
        """Every saved prefix with its state, for matches other than a plain prefix."""
        return list(self._states.items())

    def put(self, prefix: tuple[int, ...], state: LlamaState, *, pinned: bool = False) -> None:
        """Store a snapshot; pinned ones (the default persona) are never evicted.

        A snapshot whose tokens begin this one's (the same conversation one message
        earlier) is dropped: this one serves every prompt that one would.
        """
        for key in [k for k in self._states if k not in self._pinned and prefix[: len(k)] == k]:
            del self._states[key]
        self._states[prefix] = _without_logit_history(state)
        self._states.move_to_end(prefix)
        if pinned:
            self._pinned.add(prefix)
        evictable = [key for key in self._states if key not in self._pinned]
        while len(self._states) > self._capacity and evictable:
            del self._states[evictable.pop(0)]


def _without_logit_history(state: LlamaState) -> LlamaState:
    """Drop all but one row of saved logits.

    Without `logits_all` nothing reads them (a restored state always
    re-evaluates a token before sampling), yet each row costs vocab x 4 bytes:
    ~20 MB for a 100-token prefix of a 49k-token vocabulary. One row keeps
    `Llama.load_state`'s array assignment valid by broadcasting.
    """
    if len(state.scores) > 1:
        state.scores = state.scores[-1:].copy()
    return state


class SystemPromptStore:
    """The system prompts (with their tools) milo-llm read last, as tokens in a JSON file,
    so the next start reads them again before the first request instead of during it: the
    first small talk after a restart then reads only its own turns (the demo agent's
    prompt is 86 tokens; with HA's Assist API and tools it is several times that)."""

    def __init__(self, path: Path, model_key: str, limit: int) -> None:
        self._path = path
        self._model_key = model_key
        self._limit = limit

    def load(self, vocabulary: int) -> list[list[int]]:
        """The saved prompts, the most recent first; none from another model, and none
        when the file is missing or is not what `remember` writes (logged)."""
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            _LOGGER.warning("Ignoring the saved system prompts in %s: %s", self._path, err)
            return []
        prompts = data.get("prompts") if isinstance(data, dict) else None
        if not isinstance(prompts, list) or not all(
            isinstance(tokens, list)
            and all(isinstance(t, int) and 0 <= t < vocabulary for t in tokens)
            for tokens in prompts
        ):
            _LOGGER.warning("Ignoring the saved system prompts in %s: not token lists", self._path)
            return []
        if data.get("model") != self._model_key:
            return []
        return [tokens for tokens in prompts[: self._limit] if tokens]

    def remember(self, prefix: tuple[int, ...], vocabulary: int) -> None:
        """Save `prefix` as the most recent, dropping the oldest beyond the limit."""
        kept = [p for p in self.load(vocabulary) if tuple(p) != prefix]
        prompts = [list(prefix), *kept][: self._limit]
        data = {"model": self._model_key, "prompts": prompts}
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            partial = self._path.with_name(f"{self._path.name}.{os.getpid()}.partial")
            partial.write_text(json.dumps(data), encoding="utf-8")
            partial.replace(self._path)  # a reader never sees half a file
        except OSError as err:
            _LOGGER.warning("Cannot save the system prompts to %s: %s", self._path, err)
