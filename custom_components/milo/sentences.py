"""Sentences and words of spoken text, compared the way a listener hears them.

One home for the splitting and word matching that the answer filters share: a sentence
is heard as its words, so case and punctuation never make two sentences differ.
"""

from __future__ import annotations

from collections.abc import Sequence
import re

# A sentence ends at . ! or ? and any closing quote or bracket, followed by white space
# (not the dot in "1.2").
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+")
_WORD = re.compile(r"[\w'°%]+")
# A sentence sharing this many consecutive words with the prompt is recited, not said.
RECITED_WORDS = 5
# A sentence sharing this many consecutive words with a sentence of the latest turns says
# it again with another ending.
REPEATED_WORDS = 6


def words(text: str) -> list[str]:
    """The words of a text, case and punctuation ignored."""
    return _WORD.findall(text.casefold())


def word_runs(text_words: Sequence[str], size: int = RECITED_WORDS) -> set[tuple[str, ...]]:
    """Every run of `size` consecutive words."""
    return {tuple(text_words[i : i + size]) for i in range(len(text_words) - size + 1)}


def split_sentences(text: str) -> list[str]:
    """Complete sentences (with their trailing space), then the unfinished rest."""
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        parts.append(text[start : match.end()])
        start = match.end()
    parts.append(text[start:])
    return parts


def heard(text: str) -> list[tuple[str, ...]]:
    """The sentences of a finished text, each as its words: what a repeat is compared by."""
    return [tuple(w) for sentence in split_sentences(text) if (w := words(sentence))]
