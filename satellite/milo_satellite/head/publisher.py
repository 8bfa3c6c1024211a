"""The head's state to its listeners: every visible change, but a turning head's pose at most
every STATE_INTERVAL_S (each update is an ESPHome message HA records)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
import math

from .listeners import Listeners
from .state import HeadState

STATE_INTERVAL_S = 0.2  # pose-only state updates are published at most this often


class StatePublisher:
    """Publishes `snapshot()` when it differs from what listeners last got."""

    def __init__(self, snapshot: Callable[[], HeadState], clock: Callable[[], float]) -> None:
        self._snapshot = snapshot
        self._clock = clock
        self._state = snapshot()
        self._published_at = -math.inf
        self._deferred: asyncio.TimerHandle | None = None
        self.listeners: Listeners[[HeadState]] = Listeners("State")

    def publish(self) -> None:
        """Tell the listeners now, or, when only the pose moved, when the interval is up."""
        state = self._snapshot()
        if state == self._state:
            return
        pose_only = replace(state, pan=self._state.pan, tilt=self._state.tilt) == self._state
        now = self._clock()
        wait = self._published_at + STATE_INTERVAL_S - now
        if pose_only and wait > 0:
            if self._deferred is None:
                self._deferred = asyncio.get_running_loop().call_later(wait, self._publish_late)
            return
        self._state = state
        self._published_at = now
        self.listeners.notify(state)

    def close(self) -> None:
        """No late publish after the head has stopped."""
        if self._deferred is not None:
            self._deferred.cancel()

    def _publish_late(self) -> None:
        self._deferred = None
        self.publish()
