"""Servos that exist only in memory: limits, speed and attach state, like the real ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import time

from ..config import ServosConfig
from ..motion import Pose
from .base import ServoBackend


@dataclass(frozen=True)
class Command:
    time: float
    pose: Pose


class SimulatedServos(ServoBackend):
    """The physical pose follows commands at `simulated_speed`, stopped by the end stops.

    Used by `milo-satellite --simulate`, the tests and the benchmark; the record of
    commands lets them check what the head would have done to real servos.
    """

    def __init__(self, config: ServosConfig, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._clock = clock
        self._actual = Pose()
        self._target = Pose()
        self._updated = clock()
        self.attached = False
        self.commands: list[Command] = []

    async def move(self, pose: Pose) -> None:
        self.command(pose)

    def command(self, pose: Pose) -> None:
        """Synchronous `move` for simulations that run without an event loop."""
        self._settle()
        self._target = Pose(
            _stop(pose.pan, self._config.pan.min, self._config.pan.max),
            _stop(pose.tilt, self._config.tilt.min, self._config.tilt.max),
        )
        self.attached = True
        self.commands.append(Command(self._clock(), pose))

    async def detach(self) -> None:
        self._settle()
        self.attached = False

    @property
    def actual(self) -> Pose:
        """Where the horn really points now (lags the last command)."""
        self._settle()
        return self._actual

    def _settle(self) -> None:
        now = self._clock()
        dt = max(0.0, now - self._updated)
        self._updated = now
        if not self.attached:
            return
        step = self._config.simulated_speed * dt
        self._actual = Pose(
            self._actual.pan + max(-step, min(step, self._target.pan - self._actual.pan)),
            self._actual.tilt + max(-step, min(step, self._target.tilt - self._actual.tilt)),
        )


def _stop(value: float, low: float, high: float) -> float:
    """Mechanical end stops: the horn cannot go further whatever it is told."""
    return min(high, max(low, value))
