"""Who moves the head: gesture > manual pose from HA > tracking > idle behaviour.

Every source of a pose writes it here and the servo loop asks `step()` for the next
command, so there is one place that decides and one gate (the motion limiter) it all goes
through. `changed` is set whenever a source changes, so the servo loop moves at once
instead of at its next 50 Hz tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import math

from .camera import Frame
from .config import HeadConfig
from .control import IdleBehaviour, Motion, TrackingController
from .detect import Box
from .errors import HeadError
from .gestures import RETURN_S, Keyframe
from .motion import MotionLimiter, Pose, PoseHistory
from .state import ATTENTION_MODES, Attention


class MotionArbiter:
    """The head's pose sources, its switches, and the pose to command next."""

    def __init__(self, config: HeadConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        now = clock()
        self._controller = TrackingController(config.tracking, config.camera, config.servos)
        self._idle = IdleBehaviour(config.tracking, config.servos)
        self._limiter = MotionLimiter(config.servos.pan, config.servos.tilt, now)
        self._history = PoseHistory()
        self.changed = asyncio.Event()

        self.tracking = config.tracking.enabled
        self.look_around = config.tracking.look_around
        self.asleep = False
        self._attention: Attention = "idle"
        self._idle_since = now
        self._manual: Pose | None = None
        self._manual_at = now
        self._gesture_pose: Pose | None = None
        self._gesture_generation = 0
        self._track_setpoint: Pose | None = None
        self._last_frame_at: float | None = None

    @property
    def pose(self) -> Pose:
        """The pose commanded last."""
        return self._limiter.pose

    @property
    def aim(self) -> Pose:
        """Where HA last pointed the head, while that holds; else the pose now."""
        return self._manual or self._limiter.pose

    def pose_at(self, when: float) -> Pose:
        """Where the head was commanded to be at `when` (a frame's capture time)."""
        return self._history.at(when, self._limiter.pose)

    # ----- commands ----------------------------------------------------------------------

    def look_at(self, pan: float, tilt: float) -> None:
        """Point the head (degrees); tracking takes over again after `manual_hold_s`."""
        if not (math.isfinite(pan) and math.isfinite(tilt)):
            raise HeadError("look_at needs finite pan and tilt angles")
        self.awake("move")
        self._manual = self._limiter.clamp(Pose(pan, tilt))
        self._manual_at = self._clock()
        self.changed.set()

    def set_attention(self, mode: Attention) -> None:
        """While listening or speaking the head looks at the talker, tracking switch or not."""
        if mode not in ATTENTION_MODES:
            raise ValueError(f"Unknown attention mode {mode!r}; use one of {ATTENTION_MODES}")
        self._attention = mode
        self.changed.set()

    def sleep(self, on: bool) -> bool:
        """Asleep, nothing moves the head and gestures and manual poses end; whether it changed."""
        if on == self.asleep:
            return False
        self.asleep = on
        self._gesture_generation += 1
        self._gesture_pose = None
        self._manual = None
        if not on:
            self._idle_since = self._clock()
            self.changed.set()
        return True

    def awake(self, what: str) -> None:
        if self.asleep:
            raise HeadError(f"Milo is asleep; turn sleep off to {what}")

    async def perform(self, keyframes: list[Keyframe], what: str) -> None:
        """Keyframes relative to the pose now, each due at its time from the start: a
        long dance keeps the beat's time (sleeping each step's length drifts by the lag).
        A newer gesture, or sleep, supersedes it."""
        self.awake(what)
        start = self._limiter.pose
        self._gesture_generation += 1
        generation = self._gesture_generation
        loop = asyncio.get_running_loop()
        due = loop.time()
        finished = False
        try:
            for key in keyframes:
                if generation != self._gesture_generation:
                    return
                self._gesture_pose = Pose(start.pan + key.pan, start.tilt + key.tilt)
                self.changed.set()
                due += key.seconds
                await asyncio.sleep(max(0.0, due - loop.time()))
            finished = True
        finally:
            if generation == self._gesture_generation:
                # Cut short: back to the start first (no awaiting here, it may be cancelled).
                self._gesture_pose = None if finished else start
                if not finished:
                    loop.call_later(RETURN_S, self._end_gesture, generation)
                self.changed.set()

    def _end_gesture(self, generation: int) -> None:
        if generation == self._gesture_generation:
            self._gesture_pose = None
            self.changed.set()

    # ----- tracking ----------------------------------------------------------------------

    def retarget(self, lost: bool) -> None:
        """Another face is the target, or (`lost`) none is: the old setpoint is void."""
        self._controller.reset()
        self._track_setpoint = None
        self._last_frame_at = None
        if lost:
            self._idle_since = self._clock()

    def steer(self, face: Box, frame: Frame) -> None:
        """A new tracking setpoint from where the target's face is in `frame`."""
        x, y = face.centre
        pose_then = self.pose_at(frame.captured_at)
        direction = self._controller.face_direction(x, y, frame.size, pose_then)
        previous = self._last_frame_at
        dt = 1.0 / self._config.camera.fps if previous is None else frame.captured_at - previous
        self._last_frame_at = frame.captured_at
        self._track_setpoint = self._controller.update(direction, self._limiter.pose, dt)
        self.changed.set()

    # ----- the next command --------------------------------------------------------------

    def step(self) -> Pose:
        """The pose to command now: the winning source's, through the limiter."""
        now = self._clock()
        motion = self._desired(now)
        pose = self._limiter.step(motion.pose, now, motion.speed)
        self._history.add(now, pose)
        return pose

    def _desired(self, now: float) -> Motion:
        if self._gesture_pose is not None:
            return Motion(self._gesture_pose)
        following = self.tracking or self._attention != "idle"
        if self._manual is not None:
            if not following or now - self._manual_at < self._config.tracking.manual_hold_s:
                return Motion(self._manual)
            self._manual = None
            self._idle_since = now
        if following and self._track_setpoint is not None:
            return Motion(self._track_setpoint)
        if not following and not self.look_around:
            return Motion(self._limiter.pose)
        look_around = self.look_around and self._attention == "idle"
        return self._idle.motion(self._idle_since, now, self._limiter.pose, look_around)
