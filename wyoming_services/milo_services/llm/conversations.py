"""Short-term memory of Wyoming conversations, keyed by `conversation_id`.

Home Assistant's Wyoming conversation agent sends only the newest sentence
and a `conversation_id`; remembering the earlier turns here is what lets
"and tomorrow?" follow "what's the surf like?". The model trims the oldest
turns to fit the context window; what it kept is what is remembered.
"""

from __future__ import annotations

from collections import OrderedDict
import time
from typing import Any

MAX_CONVERSATIONS = 64
IDLE_TIMEOUT_S = 30 * 60
"""A conversation not continued for this long is forgotten, like HA's own chat sessions."""


class ConversationMemory:
    """The recent, not yet expired conversations, least recently used evicted first."""

    def __init__(
        self, max_conversations: int = MAX_CONVERSATIONS, idle_timeout_s: float = IDLE_TIMEOUT_S
    ) -> None:
        self._max = max_conversations
        self._timeout = idle_timeout_s
        self._turns: OrderedDict[str, tuple[float, list[dict[str, Any]]]] = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self._turns)

    def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """Earlier user/assistant turns of this conversation (empty when new)."""
        self._expire()
        entry = self._turns.get(conversation_id)
        return list(entry[1]) if entry else []

    def remember(self, conversation_id: str, turns: list[dict[str, Any]]) -> None:
        """Replace the history with the trimmed turns plus the newest answer."""
        self._turns[conversation_id] = (time.monotonic(), list(turns))
        self._turns.move_to_end(conversation_id)
        while len(self._turns) > self._max:
            self._turns.popitem(last=False)

    def _expire(self) -> None:
        deadline = time.monotonic() - self._timeout
        while self._turns:
            oldest_id, (last_used, _turns) = next(iter(self._turns.items()))
            if last_used >= deadline:
                break
            del self._turns[oldest_id]
