"""What changes with every message (the time, the room, who is seen) rides with the question.

Servers that cache prompt prefixes (milo-llm, llama.cpp, vLLM) reuse everything up to the
first token that differs from an earlier request. So the system prompt and the tools carry
nothing that changes from message to message: HA's date and time line, the room of the
satellite that heard it and the camera's view go in a note in front of the newest question
instead. Each earlier question is sent again with the note it had then, so a follow-up
repeats the previous request exactly up to its newest turn, and the server reads only that
turn. The note opens with what the next question's note will most likely say too (the room,
who is seen, the date, the time to the minute), so milo-llm can read that much ahead of the
question (conversation.py's read-ahead) and leave only the bank's lines and the question.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
import re

MAX_CONVERSATIONS = 32
"""Conversations whose notes are kept; HA forgets a chat log after 5 idle minutes anyway."""

# The line HA adds to the system prompt (llm.DATE_TIME_PROMPT) when no tool tells the time.
_DATE_TIME_LINE = re.compile(
    r"^Current time is (?P<time>[^\n]*?)\. Today's date is (?P<date>[^\n]*?)\.\n?", re.MULTILINE
)
_SECONDS = re.compile(r"^(\d{1,2}:\d{2}):\d{2}$")
_TIME = re.compile(r"Current time is \d{1,2}:\d{2}(?::\d{2})?\.")


def split_moment(system: str) -> tuple[str, str]:
    """The system prompt without HA's date and time line, and that moment as the note
    says it (`say_moment`)."""
    if match := _DATE_TIME_LINE.search(system):
        rest = system[: match.start()] + system[match.end() :]
        return rest.rstrip("\n"), say_moment(match["date"], match["time"])
    return system, ""


def say_moment(date: str, time: str) -> str:
    """The date, then the time to the minute: what milo-llm reads ahead of the next question
    (`ahead_of_question`) stays true for a minute, and only the time's end changes then.
    HA's line says the time first, to the second."""
    time = _SECONDS.sub(r"\1", time)
    return f"Today's date is {date}. Current time is {time}."


def without_time(text: str) -> str:
    """`text` with the note's time of day blanked: the same request, asked a little later."""
    return _TIME.sub("Current time is now.", text)


def moment_now(now: datetime) -> str:
    """`say_moment` for `now`, as HA's line would give it (its template's formats)."""
    return say_moment(now.strftime("%Y-%m-%d"), now.strftime("%H:%M"))


def ahead_of_question(situation: str, moment: str) -> str:
    """How the next question's message will begin, before anyone has asked it: its note's
    opening (`fresh_note` without the voice), for milo-llm to read ahead; "" if none."""
    opening = fresh_note(situation, moment, "")
    return f"({opening}" if opening else ""


def fresh_note(situation: str, moment: str, voice: str) -> str:
    """The note of a question sent for the first time: what stays the same between
    questions first (the room, who is seen, the date, the time to the minute), and the
    bank's lines for this question, which nothing can foresee, last."""
    return " ".join(part for part in (situation, moment, voice) if part)


# The line HA's Assist API adds for a satellite with an area (intent/llm.py); the note says
# the room instead (origin.py), so one system prompt serves every room.
_AREA_LINE = re.compile(r"^You are in area [^\n]* should target this area\.(?:\n|$)", re.MULTILINE)


def without_area_line(prompt: str) -> str:
    """HA's API prompt without the line that names the satellite's area."""
    return _AREA_LINE.sub("", prompt).rstrip("\n")


def with_note(question: str, note: str) -> str:
    """The question as the model reads it: the note first, in brackets."""
    return f"({note})\n{question}" if note else question


class SentNotes:
    """The note each question of the recent conversations went out with."""

    def __init__(self, max_conversations: int = MAX_CONVERSATIONS) -> None:
        """Keep the notes of this many conversations, the least recently used dropped."""
        self._max = max_conversations
        self._notes: OrderedDict[str, dict[int, tuple[str, str]]] = OrderedDict()

    def note(self, conversation_id: str, index: int, question: str, fresh: str) -> str:
        """The note the question at `index` of the chat log went out with.

        A question not sent before goes with `fresh`, and keeps it: a second tool round
        sends the same note again. The question is compared too, because HA starts a new
        chat log under the same id when a client picks its own conversation ids.
        """
        notes = self._notes.setdefault(conversation_id, {})
        self._notes.move_to_end(conversation_id)
        while len(self._notes) > self._max:
            self._notes.popitem(last=False)
        sent = notes.get(index)
        if sent is None or sent[0] != question:
            sent = notes[index] = (question, fresh)
        return sent[1]

    def sent_instead(self, conversation_id: str, message: str) -> None:
        """The newest question went out as `message` after all: a speculative request the
        model answered, its note (HA's clock) written seconds earlier (speculation.py).
        Later requests send the question so again, as the model read it, or the server
        reads the conversation again from there."""
        notes = self._notes.get(conversation_id)
        if not notes:
            return
        index = max(notes)
        question = notes[index][0]
        if message == question:
            notes[index] = (question, "")
        elif message.startswith("(") and message.endswith(f")\n{question}"):
            notes[index] = (question, message[1 : -len(question) - 2])
