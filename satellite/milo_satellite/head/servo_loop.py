"""The 50 Hz servo loop: asks the arbiter for the next pose and sends it to the servos.

It wakes early whenever the arbiter's `changed` is set (a new tracking setpoint is sent
within the same event-loop turn, not up to 20 ms later), skips changes too small for a
servo to show (no buzz), and measures capture-to-command latency for the benchmark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging

from .arbiter import MotionArbiter
from .motion import Pose
from .servos import ServoBackend
from .stats import HeadStats

_LOGGER = logging.getLogger(__name__)

SERVO_RATE_HZ = 50.0
MIN_MOVE_DEG = 0.1  # smaller changes are not sent to the servos


class ServoLoop:
    """Moves `servos` to where `arbiter` says, and tells `on_moved` after each command."""

    def __init__(
        self,
        servos: ServoBackend,
        arbiter: MotionArbiter,
        on_moved: Callable[[], None],
        clock: Callable[[], float],
        stats: HeadStats,
    ) -> None:
        self._servos = servos
        self._arbiter = arbiter
        self._on_moved = on_moved
        self._clock = clock
        self._stats = stats
        self._written: Pose | None = None
        self._pending_capture: float | None = None

    async def run(self) -> None:
        changed = self._arbiter.changed
        period = 1.0 / SERVO_RATE_HZ
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the event, and stop() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await changed.wait()
            changed.clear()
            if self._arbiter.asleep:
                continue
            try:
                await self.step()
            except Exception:
                _LOGGER.exception("Moving the servos failed")
                await asyncio.sleep(1.0)

    async def step(self) -> None:
        """One tick: command the arbiter's pose if it moved enough to matter."""
        pose = self._arbiter.step()
        if self._written is not None and pose.distance(self._written) < MIN_MOVE_DEG:
            return
        await self._servos.move(pose)
        self._written = pose
        if self._pending_capture is not None:
            self._stats.latency_ms.append((self._clock() - self._pending_capture) * 1000)
            self._pending_capture = None
        self._on_moved()

    def steered(self, captured_at: float) -> None:
        """A frame captured at `captured_at` set a new setpoint: time it to the next command."""
        self._pending_capture = captured_at

    async def detach(self) -> None:
        """Servos limp (sleep, stop); the next command is sent whatever it is."""
        await self._servos.detach()
        self._written = None
