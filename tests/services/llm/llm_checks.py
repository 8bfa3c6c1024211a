"""Assertions shared by the milo-llm tests."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z']+")


def assert_english(text: str) -> None:
    """Sane output from a tiny model: several words, mostly Latin letters."""
    words = _WORD.findall(text)
    assert len(words) >= 2, f"expected a few words, got {text!r}"
    letters = sum(ch.isascii() and ch.isalpha() for ch in text)
    assert letters >= 0.5 * len(text.strip()), f"expected English text, got {text!r}"
