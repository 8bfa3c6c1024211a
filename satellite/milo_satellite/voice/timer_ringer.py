"""HA's timers on this device, and the alarm that rings when one finishes.

HA keeps the timers (the intent "set a timer for 5 minutes" runs there) and tells the
satellite as they start, tick, are cancelled and finish; a finished one rings for up to
`ring_s` seconds, until the stop word, a new request or mute ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import logging
from typing import Any

from ..api.messages import pb
from .player import AudioPlayer

_LOGGER = logging.getLogger(__name__)

RING_GAP_S = 0.5  # between two rings of a finished timer


class TimerRinger:
    """Keeps HA's running timers; rings when one finishes. `on_change()` when it starts or
    stops ringing; `spawn` runs the ringing as one of the satellite's tasks."""

    def __init__(
        self,
        player: AudioPlayer,
        sound: bytes | str,
        *,
        ring_s: float,
        on_change: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[Any]],
    ) -> None:
        self.player = player
        self.sound = sound
        self.ring_s = ring_s
        self.on_change = on_change
        self.spawn = spawn
        self.timers: dict[str, pb.VoiceAssistantTimerEventResponse] = {}  # id -> HA's last word
        self._ringing: asyncio.Task[Any] | None = None

    @property
    def ringing(self) -> bool:
        return self._ringing is not None and not self._ringing.done()

    def on_timer_event(self, msg: pb.VoiceAssistantTimerEventResponse) -> None:
        kind = pb.VoiceAssistantTimerEvent.Name(msg.event_type)
        _LOGGER.info("Timer %s %r: %d s left", kind, msg.name or msg.timer_id, msg.seconds_left)
        if msg.event_type == pb.VOICE_ASSISTANT_TIMER_FINISHED:
            self.timers.pop(msg.timer_id, None)
            if not self.ringing:
                self._ringing = self.spawn(self._ring())
        elif msg.event_type == pb.VOICE_ASSISTANT_TIMER_CANCELLED:
            self.timers.pop(msg.timer_id, None)
        else:
            self.timers[msg.timer_id] = msg

    def stop(self) -> None:
        if self._ringing is not None:
            self._ringing.cancel()
            self._ringing = None

    async def _ring(self) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + self.ring_s
        self.on_change()
        try:
            while loop.time() < until:
                if not await self.player.play([self.sound], "timer"):
                    break
                await asyncio.sleep(RING_GAP_S)
        finally:
            self._ringing = None
            self.on_change()
