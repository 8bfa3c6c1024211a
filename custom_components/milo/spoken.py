"""Text as Milo speaks it: asides in brackets cut, figures read plainly.

Small models write stage directions ("(smiles)", "[beep]") and echo the bracketed notes
Milo gives them, such as who the camera sees ("(You're talking to Eileen.)"). Read aloud,
both sound broken, so they are cut from the text as it streams, before TTS hears it.
"""

from __future__ import annotations

from typing import Any

OPENERS = {"(": ")", "[": "]"}


class AsideFilter:
    """Drops bracketed asides from streamed text, chunk by chunk.

    Brackets may open in one chunk and close in a later one. The spaces around a
    dropped aside collapse to one, and none is left at the start.
    """

    def __init__(self) -> None:
        """Start outside any aside, at the start of the text."""
        self._closers: list[str] = []
        self._space = False  # a space is owed before the next spoken character
        self._started = False

    def feed(self, text: str) -> str:
        """The spoken part of the next chunk."""
        out: list[str] = []
        for char in text:
            if char in OPENERS:
                self._closers.append(OPENERS[char])
            elif self._closers:
                if char == self._closers[-1]:
                    self._closers.pop()
            elif char.isspace():
                self._space = self._started
            else:
                if self._space:
                    out.append(" ")
                    self._space = False
                out.append(char)
                self._started = True
        return "".join(out)


def number(value: Any) -> str:
    """A figure as it is read aloud: 1.2, 15, never 1.20 or 15.0."""
    return f"{value:g}" if isinstance(value, int | float) else str(value)
