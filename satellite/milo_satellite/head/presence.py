"""Who has come and gone, as events for automations: a buddy appeared or left, a stranger
arrived."""

from __future__ import annotations

import logging

from .buddies import BuddyDatabase
from .listeners import Listeners
from .state import STRANGER
from .tracking import Track

_LOGGER = logging.getLogger(__name__)


class Presence:
    """Turns the faces in view, frame by frame, into arrivals and departures."""

    def __init__(self, buddies: BuddyDatabase, left_after_s: float) -> None:
        self._buddies = buddies
        self._left_after_s = left_after_s
        self._seen: dict[str, float] = {}  # buddy name or STRANGER -> last seen
        self.listeners: Listeners[[str, str]] = Listeners("Buddy")

    def update(self, visible: list[Track], now: float, recognising: bool) -> None:
        """Fire `appeared` when a buddy is recognised, `left` when unseen for a while, and
        `stranger` when a face Milo is sure it doesn't know arrives after none was in view
        for as long (an unsure one may be a buddy at a bad angle, and without recognition
        - `recognising` False - everyone is "stranger": neither fires it)."""
        for track in visible:
            if track.is_buddy:
                if track.name not in self._seen:
                    self._emit("appeared", track.name)
                self._seen[track.name] = now
            elif recognising and track.identity is not None and track.identity.sure:
                if STRANGER not in self._seen:
                    self._emit("stranger", STRANGER)
                self._seen[STRANGER] = now
        for name, seen in list(self._seen.items()):
            if name == STRANGER:
                if now - seen > self._left_after_s:
                    del self._seen[name]
            elif now - seen > self._left_after_s or name not in self._buddies.names:
                del self._seen[name]
                self._emit("left", name)

    def _emit(self, event: str, name: str) -> None:
        _LOGGER.info("Buddy %s %s", name, event)
        self.listeners.notify(event, name)
