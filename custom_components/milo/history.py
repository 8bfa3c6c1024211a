"""Which earlier turns of a conversation go to the model, and in what form.

Pure (no Home Assistant), so the rules are tested on their own. A turn (a round) starts at a
user message and holds what followed it, so a tool call is never separated from its
result. Old turns beyond the agent's max history go in blocks of half the history, not one
per message: where the history starts then stays put for several messages, and a server
that caches prompt prefixes (milo-llm, llama.cpp) reads only the newest turns again.
Finished turns are sent as they were spoken: their tool calls and results (a surf report
is hundreds of tokens of JSON) are what the answers already say.
"""

from __future__ import annotations

import math
from typing import Any

Message = dict[str, Any]


def rounds(messages: list[Message]) -> list[list[Message]]:
    """`messages` (after the system prompt) split into turns, each from a user message."""
    turns: list[list[Message]] = []
    for message in messages:
        if message["role"] == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    return turns


def recent(turns: list[list[Message]], max_history: int) -> list[list[Message]]:
    """The newest turn and at most `max_history` finished ones before it (0: all), dropping
    the oldest in blocks of half the history; the finished ones as spoken."""
    excess = len(turns) - 1 - max_history
    if max_history > 0 and excess > 0:
        block = max(1, max_history // 2)
        turns = turns[math.ceil(excess / block) * block :]
    return [*map(spoken, turns[:-1]), turns[-1]] if turns else turns


def spoken(turn: list[Message]) -> list[Message]:
    """A finished turn without its tool traffic: the question and what was said."""
    return [
        # Stripped: an answer ends with the space that told streaming TTS it was complete.
        {"role": message["role"], "content": message["content"].strip()}
        for message in turn
        if message["role"] == "user" or (message["role"] == "assistant" and message["content"])
    ]
