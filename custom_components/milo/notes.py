"""What changes with every message (the time, who the camera sees) rides with the question.

Servers that cache prompt prefixes (milo-llm, llama.cpp, vLLM) reuse everything up to the
first token that differs from an earlier request. So the system prompt and the tools carry
nothing that changes from message to message: HA's date and time line and the camera's
view go in a note in front of the newest question instead. Each earlier question is sent
again with the note it had then, so a follow-up repeats the previous request exactly up to
its newest turn, and the server reads only that turn.
"""

from __future__ import annotations

from collections import OrderedDict
import re

MAX_CONVERSATIONS = 32
"""Conversations whose notes are kept; HA forgets a chat log after 5 idle minutes anyway."""

# The line HA adds to the system prompt (llm.DATE_TIME_PROMPT) when no tool tells the time.
_DATE_TIME_LINE = re.compile(r"^Current time is [^\n]*\. Today's date is [^\n]*\.\n?", re.MULTILINE)


def split_moment(system: str) -> tuple[str, str]:
    """The system prompt without HA's date and time line, and that line."""
    if match := _DATE_TIME_LINE.search(system):
        rest = system[: match.start()] + system[match.end() :]
        return rest.rstrip("\n"), match.group().strip()
    return system, ""


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
