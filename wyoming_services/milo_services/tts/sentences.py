"""Find complete sentences in text that arrives in pieces (an LLM's streamed answer).

A sentence is complete once its closing punctuation is followed by whitespace (or, for
CJK punctuation, immediately). A period after a known abbreviation or a single letter
("Mr.", "e.g.", "J. R. R.") does not end a sentence. Speaking a sentence as soon as it is
complete is what makes streamed replies start quickly.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "mr mrs ms dr prof sr jr st mt vs etc approx dept fig inc ltd co no vol "
        "jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e a.m p.m"
    ).split()
)

# End punctuation, any closing quotes/brackets, then whitespace; or CJK end punctuation.
_CLOSERS = "\"')\\]\u201d\u2019"  # quotes and brackets that may follow the punctuation
_BOUNDARY = re.compile(
    f"[.!?\u2026]+[{_CLOSERS}]*(?=\\s)"  # . ! ? and the ellipsis, then whitespace
    f"|[\u3002\uff01\uff1f]+[{_CLOSERS}\u300d\u300f\uff09]*"  # CJK: no space needed
)
_PARAGRAPH = re.compile(r"\n\s*\n")


def _ends_with_abbreviation(text: str) -> bool:
    words = text.rstrip(".").split()
    if not words:
        return False
    word = words[-1].lower().lstrip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


class SentenceSplitter:
    """Feed text with `add()`; get back the sentences it completed. `finish()` flushes."""

    def __init__(self) -> None:
        self._buffer = ""

    def add(self, text: str) -> list[str]:
        self._buffer += text
        sentences: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(self._buffer):
            candidate = self._buffer[start : match.end()]
            if candidate.rstrip().endswith(".") and _ends_with_abbreviation(candidate):
                continue
            sentences.extend(_paragraphs(candidate))
            start = match.end()
        rest = self._buffer[start:]
        # A blank line ends a paragraph even without punctuation (lists, headings).
        *complete, rest = _PARAGRAPH.split(rest)
        sentences.extend(part.strip() for part in complete if part.strip())
        self._buffer = rest
        return [s for s in sentences if s]

    def finish(self) -> str:
        rest, self._buffer = self._buffer.strip(), ""
        return rest


def _paragraphs(text: str) -> list[str]:
    return [part.strip() for part in _PARAGRAPH.split(text) if part.strip()]


def split_sentences(text: str) -> list[str]:
    """All sentences of a complete text."""
    splitter = SentenceSplitter()
    sentences = splitter.add(text)
    rest = splitter.finish()
    return [*sentences, rest] if rest else sentences
