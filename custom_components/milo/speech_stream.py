"""Each sentence reaches streaming TTS with the space after it, so it is spoken at once.

A TTS engine that takes text as it streams (milo-tts, wyoming-piper) knows a sentence has
ended only when it sees the whitespace after its closing punctuation. Milo's answers come
sentence by sentence (each one checked whole before it is said, guards.py), the space
leading the next one: so the first sentence would wait for the whole second sentence to be
written. Here a delta that ends a sentence carries its space, and the next one's leading
space is dropped; the text is the same, split at another place.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
import re
from typing import TypeAlias, cast

from homeassistant.components import conversation

Delta: TypeAlias = conversation.AssistantContentDeltaDict | conversation.ToolResultContentDeltaDict

# Closing punctuation, then any closing quotes or brackets, at the very end.
_ENDS_SENTENCE = re.compile(r"[.!?\u2026][\"')\]\u201d\u2019]*$")


async def spaced_sentences(deltas: AsyncIterator[Delta]) -> AsyncGenerator[Delta]:
    """The deltas, each ending a sentence with the space that tells TTS it is complete."""
    spaced = False  # the text so far ends with whitespace
    async for delta in deltas:
        if "role" in delta:
            spaced = False  # a new message: HA puts its own space between messages
        content = delta.get("content")
        if not isinstance(content, str) or not content:
            yield delta
            continue
        if spaced:
            content = content.lstrip(" ")
        if _ENDS_SENTENCE.search(content):
            content += " "
        if content:
            spaced = content[-1].isspace()
        yield cast("Delta", {**delta, "content": content})
