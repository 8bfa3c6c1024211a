"""Keep the KV cache when a client drops old turns from the middle of its prompt.

An agent that trims its history (the Milo integration drops the oldest turns in
blocks) sends the system prompt, then history that now starts later: the prompt
equals the cached tokens with one stretch cut out. A plain prefix match ends at
that cut, so the whole history would be read again (2-3 s on a small CPU). Instead
the stretch is removed from the KV cache and the positions after it are moved back
(llama.cpp rotates the cached keys by the shift, RoPE), and only the new turn is read.

The kept tokens' cache entries were computed while the dropped turns were still
in front of them, so the state is close to, not bit-equal to, a fresh read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp
from llama_cpp import Llama
import numpy as np

MIN_KEPT_TOKENS = 16
"""Fewer reusable tokens after the cut are not worth editing the cache for."""
_SEQ = 0
"""The only sequence llama-cpp-python's `Llama` decodes."""


@dataclass(frozen=True)
class Cut:
    """Cached tokens `[start, end)` are gone from the new prompt, and `kept` after them stay."""

    start: int
    end: int
    kept: int

    @property
    def reused(self) -> int:
        """The new prompt's tokens the edited cache already holds."""
        return self.start + self.kept


def find_cut(
    cached: Sequence[int], tokens: Sequence[int], *, min_kept: int = MIN_KEPT_TOKENS
) -> Cut | None:
    """Where `tokens` is `cached` with one stretch removed, reusing the most cached tokens.

    The stretch starts where the two first differ; it ends wherever the longest run of
    `cached` then matches `tokens` from that point. None when the prompt simply extends
    the cache, or when fewer than `min_kept` tokens would be reused after the cut.
    """
    old = np.asarray(cached, dtype=np.int64)
    new = np.asarray(tokens, dtype=np.int64)
    shared = min(len(old), len(new))
    differ = np.flatnonzero(old[:shared] != new[:shared])
    start = int(differ[0]) if len(differ) else shared
    if start >= len(new) or start >= len(old):
        return None
    rest = new[start:]
    best: Cut | None = None
    for end in (start + 1 + np.flatnonzero(old[start + 1 :] == rest[0])).tolist():
        length = min(len(old) - end, len(rest))
        if best is not None and length <= best.kept:
            break  # later ends leave fewer tokens to match: none can do better
        mismatch = np.flatnonzero(old[end : end + length] != rest[:length])
        kept = int(mismatch[0]) if len(mismatch) else length
        if kept >= min_kept and (best is None or kept > best.kept):
            best = Cut(start, end, kept)
    return best


def can_cut(llama: Llama) -> bool:
    """Whether this model's cache can move positions (RoPE models can; some others can't)."""
    memory = llama._ctx.memory  # llama-cpp-python has no public handle
    return memory is not None and bool(llama_cpp.llama_memory_can_shift(memory))


def apply_cut(llama: Llama, cut: Cut) -> bool:
    """Remove the cut tokens from the KV cache and from `llama`'s record of what it holds.

    The keys after the cut are rotated back at the next decode, which always follows:
    at least the prompt's last token is evaluated before sampling. False, with the
    cache as it was, where llama.cpp can't remove part of it.
    """
    memory = llama._ctx.memory
    held = llama.n_tokens
    if not llama_cpp.llama_memory_seq_rm(memory, _SEQ, cut.start, cut.end):
        return False
    llama_cpp.llama_memory_seq_add(memory, _SEQ, cut.end, held, cut.start - cut.end)
    length = cut.end - cut.start
    llama.input_ids[cut.start : held - length] = llama.input_ids[cut.end : held]
    llama.n_tokens = held - length
    return True
