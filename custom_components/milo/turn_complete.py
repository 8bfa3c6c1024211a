"""Whether the words said so far are a whole request, so the satellite may stop listening.

A Milo satellite waits a second of silence before it ends a turn, because silence alone
cannot tell "Turn on the... desk lamp" from the end. The words can: milo-stt transcribes a
pause 0.22 s in, and when the transcript is a request Milo or Home Assistant handles whole
(the caller's judgement: HA's intents, the device matcher, the word rules) and its last
word leaves nothing hanging, the satellite is told to end the turn sooner (end_of_turn.py).
A wrong "whole" cuts the user off, so anything doubtful is not whole: an article, a
preposition, a conjunction, a filler, a verb waiting for its object, a number waiting for
its unit, or whisper's own sign of more to come (a trailing comma or dots).

A question for the model ("How are you today?") counts too when whisper heard it end as a
question (a question mark), but only for a satellite that then waits its `balanced` 0.9 s:
small talk ends 0.1 s sooner, and on the truncation bench's 128 hesitant requests that cut
none off, where `fast`'s 0.6 s cut off nine more (23 instead of 14). A statement for the
model ("I had a long day") stays the silence's to end: whisper ends many a fragment with a
full stop ("Set the living room.").

Knows no Home Assistant, so it is tested on its own (tests/ha/test_turn_complete.py).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")
# Punctuation whisper writes when the voice did not finish (dots, a comma, a dash).
_TRAILING_OFF = re.compile(r"(,|\.\.\.|\u2026|-|\u2013|\u2014|:|;)\s*$")
_APOSTROPHE = "\u2019"
_ASKED = re.compile(r"\?\s*$")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold().replace(_APOSTROPHE, "'"))


DANGLING = frozenset(
    _words(
        # articles, possessives and other words before a noun
        "a an the my your our their his her its this that these those "
        "some any every each another no more less few all both "
        # prepositions and conjunctions
        "at in into to for from of with about by near under over like than as "
        "until till after before between through towards onto upon via within "
        "without during per and or but so because if when while whether unless "
        # fillers
        "um umm uh uhh uhm er erm hmm mm ah eh well "
        # question words and verbs that wait for what comes next
        "what what's whats who who's where where's how how's which when's why "
        "is are was were be been being am will would can could should shall may "
        "might must do does did have has had going gonna wanna want let let's get "
        "make set turn switch put play tell show give dim brighten say"
    )
)
NUMBERS = frozenset(
    _words(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty "
        "sixty seventy eighty ninety hundred thousand half quarter"
    )
)


def dangles(text: str) -> bool:
    """Whether `text` stops where more must follow (or says nothing at all)."""
    words = _words(text)
    if not words or _TRAILING_OFF.search(text):
        return True
    last = words[-1]
    return last in DANGLING or last in NUMBERS or last.isdigit()


def is_whole(text: str, *, handled_whole: bool, questions: bool = False) -> bool:
    """Whether the satellite may end the turn on `text`: a request handled whole (HA's
    intents, Milo's device commands or word rules take it), or with `questions` a question
    whisper heard end, that leaves nothing hanging."""
    asked = questions and _ASKED.search(text) is not None
    return (handled_whole or asked) and not dangles(text)
