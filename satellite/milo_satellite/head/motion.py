"""Poses, and the single gate every servo command passes: calibrated limits and speed.

Whatever asks for a pose (tracking, gestures, HA's look_at, look-around), the
`MotionLimiter` is what turns it into a command, so no caller can push a servo past its
limits or faster than its rate. `PoseHistory` remembers where the head was commanded to
be, so a face seen in a frame is located relative to the pose at capture time, not the
pose now (which has moved on while the frame was being processed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math

from .config import ServoConfig


@dataclass(frozen=True)
class Pose:
    """Head direction in degrees: pan positive = right (as the camera sees), tilt positive = up."""

    pan: float = 0.0
    tilt: float = 0.0

    def distance(self, other: Pose) -> float:
        return max(abs(self.pan - other.pan), abs(self.tilt - other.tilt))


CENTRE = Pose(0.0, 0.0)
# A step never covers more time than this: after a stall (sleep, a busy CPU) the head
# resumes at its normal pace instead of jumping.
MAX_STEP_S = 0.1


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


class MotionLimiter:
    """Moves the commanded pose toward a target without exceeding limits or speed."""

    def __init__(self, pan: ServoConfig, tilt: ServoConfig, now: float, start: Pose = CENTRE):
        self._pan = pan
        self._tilt = tilt
        self._pose = CENTRE
        self._pose = self.clamp(start)
        self._time = now

    @property
    def pose(self) -> Pose:
        return self._pose

    def clamp(self, pose: Pose) -> Pose:
        """The nearest pose inside the calibrated limits (non-finite values mean "stay")."""
        pan = pose.pan if math.isfinite(pose.pan) else self._pose.pan
        tilt = pose.tilt if math.isfinite(pose.tilt) else self._pose.tilt
        return Pose(
            _clamp(pan, self._pan.min, self._pan.max),
            _clamp(tilt, self._tilt.min, self._tilt.max),
        )

    def step(self, target: Pose, now: float, speed: float | None = None) -> Pose:
        """Advance toward `target` by what the elapsed time allows; returns the new pose.

        `speed` (deg/s) can only slow an axis below its own `max_speed`, never speed it up.
        """
        dt = min(MAX_STEP_S, max(0.0, now - self._time))
        self._time = max(self._time, now)
        goal = self.clamp(target)
        self._pose = Pose(
            self._advance(self._pose.pan, goal.pan, self._pan.max_speed, speed, dt),
            self._advance(self._pose.tilt, goal.tilt, self._tilt.max_speed, speed, dt),
        )
        return self._pose

    @staticmethod
    def _advance(
        current: float, goal: float, max_speed: float, speed: float | None, dt: float
    ) -> float:
        limit = max_speed if speed is None or not speed >= 0 else min(max_speed, speed)
        max_step = limit * dt
        return current + _clamp(goal - current, -max_step, max_step)


class PoseHistory:
    """Recent commanded poses with their times; answers "where was the head at time t?"."""

    def __init__(self, size: int = 512):
        self._entries: deque[tuple[float, Pose]] = deque(maxlen=size)

    def add(self, now: float, pose: Pose) -> None:
        if self._entries and now < self._entries[-1][0]:
            return
        self._entries.append((now, pose))

    def at(self, when: float, default: Pose = CENTRE) -> Pose:
        """Linear interpolation between the commands around `when`."""
        if not self._entries:
            return default
        later_time, later = self._entries[-1]
        if when >= later_time:
            return later
        for time, pose in reversed(self._entries):
            if time <= when:
                span = later_time - time
                share = 0.0 if span <= 0 else (when - time) / span
                return Pose(
                    pose.pan + (later.pan - pose.pan) * share,
                    pose.tilt + (later.tilt - pose.tilt) * share,
                )
            later_time, later = time, pose
        return later
