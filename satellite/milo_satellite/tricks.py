"""Milo's party tricks: drop a beat, and dance to it.

HA asks for a trick while Milo is still answering the request ("Dance!" - "Boogie time!"),
and the answer would cut the beat off: so a trick waits until Milo is quiet, then plays
the synthesised beat (voice/beat.py) on the speaker, and for a dance the head bangs to
the same tempo for as long as the beat plays. The dance is tied to the beat: whatever
stops the beat stops the dance (the wake word, the stop word, an announcement, HA's
media player, a new trick), and the head glides back and tracks again (head.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from typing import Any, Protocol

from .voice.beat import Beat
from .voice.player import AudioPlayer

_LOGGER = logging.getLogger(__name__)

BEAT_LABEL = "beat"  # the clip's label (simulation: NNNN-beat.wav)
# A trick asked for during an answer starts when the answer ends; one still waiting after
# this long (a conversation that went on) is dropped, not sprung on someone later.
QUIET_WAIT_S = 60.0


class Dancer(Protocol):
    """What a dance needs of the head (milo_satellite.head.Head)."""

    @property
    def state(self) -> Any: ...
    async def dance(self, bpm: float, seconds: float) -> None: ...


class Tricks:
    """Plays the beat (and dances) once Milo is quiet; one trick at a time."""

    def __init__(
        self,
        player: AudioPlayer,
        quiet: Callable[[], bool],
        on_change: Callable[[Callable[[], None]], None],
        head: Dancer | None,
    ) -> None:
        """`quiet()` says whether Milo is done talking; `on_change(cb)` subscribes `cb` to
        whatever may change that (the voice satellite's listeners)."""
        self.player = player
        self.head = head
        self._quiet = quiet
        self._quiet_now = asyncio.Event()
        self._trick: asyncio.Task[None] | None = None
        on_change(self._changed)

    async def drop_beat(self, seconds: float) -> None:
        """Play the beat for about `seconds` (whole bars) once Milo is quiet."""
        self._start(Beat.lasting(seconds), dance=False)

    async def dance(self, seconds: float) -> None:
        """Dance to the beat for about `seconds`; refused at once when there is no head or
        it is asleep, rather than after the answer."""
        if self.head is None:
            raise ValueError("Milo has no head to dance with (no head: in the config)")
        if self.head.state.asleep:
            raise ValueError("Milo is asleep; turn sleep off to dance")
        self._start(Beat.lasting(seconds), dance=True)

    def _start(self, beat: Beat, *, dance: bool) -> None:
        if self._trick is not None:
            self._trick.cancel()
        self._trick = asyncio.get_running_loop().create_task(self._perform(beat, dance))
        self._trick.add_done_callback(_log_failure)

    def _changed(self) -> None:
        if self._quiet():
            self._quiet_now.set()
        else:
            self._quiet_now.clear()

    async def _perform(self, beat: Beat, dance: bool) -> None:
        self._changed()
        try:
            async with asyncio.timeout(QUIET_WAIT_S):
                await self._quiet_now.wait()
        except TimeoutError:
            _LOGGER.warning("Not dropping the beat: Milo was not quiet for %.0f s", QUIET_WAIT_S)
            return
        pcm = beat.render(self.player.sink.format)
        _LOGGER.info(
            "%s for %.1f s at %.0f bpm", "Dancing" if dance else "Beat", beat.seconds, beat.bpm
        )
        moves = None
        if dance and self.head is not None:
            moves = asyncio.get_running_loop().create_task(self.head.dance(beat.bpm, beat.seconds))
        try:
            await self.player.play([pcm], BEAT_LABEL)
        finally:
            if moves is not None:
                moves.cancel()
                (outcome,) = await asyncio.gather(moves, return_exceptions=True)
                if isinstance(outcome, Exception):  # e.g. put to sleep meanwhile
                    _LOGGER.warning("The head could not dance: %s", outcome)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (err := task.exception()) is not None:
        _LOGGER.error("The trick failed: %s", err, exc_info=err)
