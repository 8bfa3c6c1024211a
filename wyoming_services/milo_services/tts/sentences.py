"""Find complete sentences in text that arrives in pieces (an LLM's streamed answer).

A sentence is complete once its closing punctuation is followed by whitespace (or, for
CJK punctuation, immediately). A period after a known abbreviation or a single letter
("Mr.", "e.g.", "J. R. R.") does not end a sentence. Speaking a sentence as soon as it is
complete is what makes streamed replies start quickly.

No sentence is longer than `MAX_SENTENCE_CHARS`: the voice's text encoder attends over the
whole sentence, so its memory grows with the square of the length (12,000 characters without
a full stop took 23 GB). Longer ones are cut at a clause mark (, ; : dashes), else at a space,
else hard. That also bounds what is held back waiting for a sentence end. Every step is
linear in the text: nothing a client sends can make splitting slow.
"""

from __future__ import annotations

from collections.abc import Sequence
import re
from typing import TypeVar

# About 25 s of speech: far beyond a spoken sentence, small for the encoder (~100 MB).
MAX_SENTENCE_CHARS = 400
# Where a too-long sentence is best cut: after a clause mark, else at a space. The same
# marks appear in a Piper voice's phonemes, so `split_long` serves both.
CLAUSE_MARKS = frozenset(",;:\u2013\u2014")  # , ; : en dash, em dash
SPACES = frozenset(" \t\n\r\f\v\u00a0\u3000")

_ABBREVIATIONS = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "mr mrs ms dr prof sr jr st mt vs etc approx dept fig inc ltd co no vol "
        "jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e a.m p.m"
    ).split()
)
_LONGEST_ABBREVIATION = max(map(len, _ABBREVIATIONS)) + 2  # plus an opening quote or bracket

# End punctuation, any closing quotes/brackets, then whitespace; or CJK end punctuation.
# Matches start only at the beginning of a run of end punctuation and never backtrack into
# it (possessive), so a run of 100,000 dots is scanned once, not 100,000 times.
_CLOSERS = "\"')\\]\u201d\u2019"  # quotes and brackets that may follow the punctuation
_BOUNDARY = re.compile(
    f"(?<![.!?\u2026])[.!?\u2026]++[{_CLOSERS}]*+(?=\\s)"  # . ! ? and the ellipsis, then space
    f"|(?<![\u3002\uff01\uff1f])[\u3002\uff01\uff1f]++[{_CLOSERS}\u300d\u300f\uff09]*+"  # CJK
)
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")  # a blank line

_T = TypeVar("_T")


def _ends_with_abbreviation(text: str, end: int) -> bool:
    """Does the word before the period at `text[end - 1]` abbreviate something?"""
    tail = text[max(0, end - _LONGEST_ABBREVIATION - 8) : end].rstrip(".").split()
    if not tail:
        return False
    word = tail[-1].lower().lstrip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _last_index(items: Sequence[object], low: int, high: int, wanted: frozenset[str]) -> int | None:
    for index in range(high - 1, low - 1, -1):
        if items[index] in wanted:
            return index
    return None


def split_long(items: Sequence[_T], limit: int) -> list[Sequence[_T]]:
    """Cut `items` (text, or a voice's phonemes) into runs of at most `limit`: after the last
    clause mark in the second half of each window, else at its last space, else at `limit`.
    Linear: each cut looks back at most half a window and moves on at least that far."""
    pieces: list[Sequence[_T]] = []
    start = 0
    while len(items) - start > limit:
        low, high = start + limit // 2, start + limit
        mark = _last_index(items, low, high, CLAUSE_MARKS)
        space = _last_index(items, low, high, SPACES) if mark is None else None
        cut = mark + 1 if mark is not None else space if space is not None else high
        pieces.append(items[start:cut])
        start = cut + (1 if mark is None and space is not None else 0)  # drop the space
    pieces.append(items[start:])
    return pieces


def _spoken(text: str) -> list[str]:
    """`text`'s paragraphs, stripped and cut to `MAX_SENTENCE_CHARS`, empty ones dropped."""
    parts = _PARAGRAPH.split(text)
    pieces = (piece for part in parts for piece in split_long(part, MAX_SENTENCE_CHARS))
    return [stripped for piece in pieces if (stripped := str(piece).strip())]


class SentenceSplitter:
    """Feed text with `add()`; get back the sentences it completed. `finish()` flushes.

    At most `MAX_SENTENCE_CHARS` are held back between calls, so each call costs time in
    proportion to the text it is given.
    """

    def __init__(self) -> None:
        self._buffer = ""

    def add(self, text: str) -> list[str]:
        buffer = self._buffer + text
        sentences: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(buffer):
            if buffer[match.end() - 1] == "." and _ends_with_abbreviation(buffer, match.end()):
                continue
            sentences.extend(_spoken(buffer[start : match.end()]))
            start = match.end()
        # A blank line ends a paragraph even without punctuation (lists, headings).
        *complete, rest = _PARAGRAPH.split(buffer[start:])
        sentences.extend(piece for part in complete for piece in _spoken(part))
        if len(rest) > MAX_SENTENCE_CHARS:  # no end in sight: speak what can't wait
            *cut, rest = split_long(rest, MAX_SENTENCE_CHARS)
            sentences.extend(stripped for piece in cut if (stripped := str(piece).strip()))
        self._buffer = str(rest)
        return sentences

    def finish(self) -> str:
        rest, self._buffer = self._buffer.strip(), ""
        return rest


def split_sentences(text: str) -> list[str]:
    """All sentences of a complete text."""
    splitter = SentenceSplitter()
    sentences = splitter.add(text)
    rest = splitter.finish()
    return [*sentences, rest] if rest else sentences
