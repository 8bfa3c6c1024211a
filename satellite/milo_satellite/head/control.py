"""From "a face is at pixel (x, y)" to "point the head there", and what to do without one.

The face's direction is computed from the head pose *at the moment the frame was
captured* plus the angle the pixel offset spans through the lens. That absolute target
does not move while the head turns toward it, so the loop cannot overshoot by chasing an
error it has already corrected. The target is smoothed (EMA), errors inside a deadband
are ignored (no servo buzz; once moving it closes in to a quarter of the deadband), and a
proportional step moves part of the remaining way
each frame. There is no integral term, so there is nothing to wind up; the smoothed target
is also clamped to the reachable range so it cannot run away behind an end stop.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import random

from .config import CameraConfig, ServosConfig, TrackingConfig
from .detect import Box
from .motion import CENTRE, Pose


def pixel_to_angles(
    x: float, y: float, size: tuple[int, int], fov: tuple[float, float]
) -> tuple[float, float]:
    """Angles (pan right, tilt up) of pixel (x, y) from the optical axis (pinhole model).

    `size` is the frame's (width, height) in pixels, `fov` its (horizontal, vertical)
    field of view in degrees.
    """
    (width, height), (hfov, vfov) = size, fov
    fx = (width / 2) / math.tan(math.radians(hfov) / 2)
    fy = (height / 2) / math.tan(math.radians(vfov) / 2)
    pan = math.degrees(math.atan((x - width / 2) / fx))
    tilt = math.degrees(math.atan((height / 2 - y) / fy))
    return pan, tilt


def angles_to_pixel(
    pan: float, tilt: float, size: tuple[int, int], fov: tuple[float, float]
) -> tuple[float, float]:
    """The pixel at angles (pan right, tilt up) from the optical axis: pixel_to_angles' inverse."""
    (width, height), (hfov, vfov) = size, fov
    fx = (width / 2) / math.tan(math.radians(hfov) / 2)
    fy = (height / 2) / math.tan(math.radians(vfov) / 2)
    return (
        width / 2 + fx * math.tan(math.radians(pan)),
        height / 2 - fy * math.tan(math.radians(tilt)),
    )


def reproject(
    box: Box, before: Pose, after: Pose, size: tuple[int, int], fov: tuple[float, float]
) -> Box:
    """Where a still face seen at `box` with the head at `before` appears with it at `after`.

    The head's own turn shifts everything in the picture; without this a quick turn
    would lose the face it is turning toward.
    """
    x, y = box.centre
    pan, tilt = pixel_to_angles(x, y, size, fov)
    nx, ny = angles_to_pixel(
        pan - (after.pan - before.pan), tilt - (after.tilt - before.tilt), size, fov
    )
    return Box(nx - box.w / 2, ny - box.h / 2, box.w, box.h)


class TrackingController:
    """Proportional control toward a smoothed absolute face direction."""

    def __init__(self, tracking: TrackingConfig, camera: CameraConfig, servos: ServosConfig):
        self._cfg = tracking
        self._camera = camera
        self._servos = servos
        self._smoothed: Pose | None = None
        self._moving: set[str] = set()

    def reset(self) -> None:
        """Forget the smoothed target (a different face, or the face was lost)."""
        self._smoothed = None
        self._moving.clear()

    def face_direction(self, x: float, y: float, size: tuple[int, int], pose: Pose) -> Pose:
        """Where a face at pixel (x, y) is, given the head pose when the frame was taken."""
        fov = (self._camera.hfov, self._camera.vfov)
        pan, tilt = pixel_to_angles(x, y, size, fov)
        if self._camera.mount == "head":
            return Pose(pose.pan + pan, pose.tilt + tilt)
        return Pose(pan, tilt)

    def update(self, direction: Pose, current: Pose, dt: float) -> Pose:
        """The next setpoint given the face direction and the current commanded pose."""
        pan_cfg, tilt_cfg = self._servos.pan, self._servos.tilt
        measured = Pose(
            min(pan_cfg.max, max(pan_cfg.min, direction.pan)),
            min(tilt_cfg.max, max(tilt_cfg.min, direction.tilt)),
        )
        if self._smoothed is None:
            self._smoothed = measured
        else:
            alpha = self._cfg.smoothing
            self._smoothed = Pose(
                self._smoothed.pan + alpha * (measured.pan - self._smoothed.pan),
                self._smoothed.tilt + alpha * (measured.tilt - self._smoothed.tilt),
            )
        share = 1.0 - math.exp(-self._cfg.gain * max(0.0, dt))
        return Pose(
            self._axis("pan", current.pan, self._smoothed.pan, share),
            self._axis("tilt", current.tilt, self._smoothed.tilt, share),
        )

    def _axis(self, axis: str, current: float, target: float, share: float) -> float:
        """A deadband with hysteresis: start beyond `deadband`, stop within a quarter of it."""
        error = abs(target - current)
        threshold = self._cfg.deadband * (0.25 if axis in self._moving else 1.0)
        if error <= threshold:
            self._moving.discard(axis)
            return current
        self._moving.add(axis)
        return current + share * (target - current)


@dataclass(frozen=True)
class Motion:
    """A target pose and the speed to approach it with (None: the servo's max)."""

    pose: Pose
    speed: float | None = None


class IdleBehaviour:
    """Nobody to look at: hold still, ease back to centre, then (if wanted) look around."""

    _DWELL_S = (2.0, 5.0)

    def __init__(self, tracking: TrackingConfig, servos: ServosConfig, seed: int | None = None):
        self._cfg = tracking
        self._servos = servos
        self._random = random.Random(seed)
        self._glance: Pose | None = None
        self._glance_until = 0.0

    def motion(self, idle_since: float, now: float, current: Pose, look_around: bool) -> Motion:
        idle = now - idle_since
        if idle < self._cfg.hold_s:
            return Motion(current)
        if look_around and idle >= self._cfg.look_around_after_s:
            if self._glance is None or now >= self._glance_until:
                self._glance = self._pick_glance()
                self._glance_until = now + self._random.uniform(*self._DWELL_S)
            return Motion(self._glance, self._cfg.look_around_speed)
        self._glance = None
        return Motion(CENTRE, self._cfg.center_speed)

    def _pick_glance(self) -> Pose:
        """Somewhere within the middle 60 % of the range: curious, not frantic."""
        pan, tilt = self._servos.pan, self._servos.tilt
        return Pose(
            self._random.uniform(pan.min * 0.6, pan.max * 0.6),
            self._random.uniform(tilt.min * 0.3, tilt.max * 0.6),
        )
