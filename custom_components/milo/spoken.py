"""Text as Milo speaks it: asides and speaker labels cut, figures read plainly.

Small models write stage directions ("(smiles)", "[beep]", "*laughs*"), echo the
bracketed notes Milo gives them, such as who the camera sees ("(You're talking to
Eileen.)"), and start with a speaker label as in a script ("Milo: Oh, hello."). Read
aloud, all of these sound broken, so they are cut from the text as it streams, before
TTS hears it. Labels later in the text are the answer guards' (guards.py).
"""

from __future__ import annotations

from typing import Any

# An asterisk opens and closes a stage direction ("*laughs*"); inside brackets it is text.
OPENERS = {"(": ")", "[": "]", "*": "*"}
CLOSERS = frozenset(OPENERS.values())
# A first word this long is not a name, so it is not held back as a possible label.
MAX_LABEL_CHARS = 20


class SpokenFilter:
    """Drops bracketed and starred asides and a leading speaker label from streamed text.

    Brackets may open in one chunk and close in a later one. The first word is held back
    until the character after it shows whether it is a label ("Milo:"). The spaces around
    a dropped part collapse to one, and none is left at the start. Call `flush()` at the
    end of the stream for a first word that nothing followed.
    """

    def __init__(self) -> None:
        """Start outside any aside, at the start of the text."""
        self._closers: list[str] = []
        self._space = False  # a space is owed before the next spoken character
        self._started = False
        self._label: str | None = ""  # the first word so far; None once it is decided

    def feed(self, text: str) -> str:
        """The spoken part of the next chunk."""
        out: list[str] = []
        for char in text:
            if not self._held(char, out):
                self._take(char, out)
        return "".join(out)

    def _held(self, char: str, out: list[str]) -> bool:
        """Whether `char` was taken while deciding if the first word is a label."""
        if self._label is None or self._closers:
            return False
        if char.isalpha() or (self._label and (char.isalnum() or char in "'-")):
            self._label += char
            if len(self._label) <= MAX_LABEL_CHARS:
                return True
            out.append(self.flush())  # too long for a name: said as it is
            return True
        if char == ":" and self._label:
            self._label = None  # a speaker label: not said
            return True
        if not self._label and char.isspace():
            return True
        out.append(self.flush())
        return False

    def flush(self) -> str:
        """The first word, when the stream ended right after it."""
        out: list[str] = []
        self._say(self._label or "", out)
        self._label = None
        return "".join(out)

    def _say(self, text: str, out: list[str]) -> None:
        for char in text:
            self._take(char, out)

    def _take(self, char: str, out: list[str]) -> None:
        if self._closers:
            if char == self._closers[-1]:
                self._closers.pop()
            elif char in OPENERS and char != "*":
                self._closers.append(OPENERS[char])
        elif char in OPENERS:
            self._closers.append(OPENERS[char])
        elif char in CLOSERS:
            pass  # closes an aside that never opened ("right?)"): nothing to say
        elif char.isspace():
            self._space = self._started
        else:
            if self._space:
                out.append(" ")
                self._space = False
            out.append(char)
            self._started = True


def number(value: Any) -> str:
    """A figure as it is read aloud: 1.2, 15, never 1.20 or 15.0."""
    return f"{value:g}" if isinstance(value, int | float) else str(value)
