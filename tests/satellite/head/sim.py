"""A closed-loop world for the head: a real face in a room, seen by the camera on the head.

The room is a panorama fixed in the world; the camera sees the part of it the head
points at, and a real face crop (the astronaut's) pasted where the face's direction
projects through the pinhole lens, plus (seeded) sensor noise. Time is simulated: frames
at 30 fps, the servo loop at 50 Hz, and a fixed processing latency between capture and
the new setpoint. Nothing here depends on how fast the machine is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import math

import cv2
import numpy as np
import skimage.data

from milo_satellite.head.camera import Frame, NoCamera
from milo_satellite.head.config import HeadConfig
from milo_satellite.head.head import Head
from milo_satellite.head.motion import Pose
from milo_satellite.head.servos import SimulatedServos

from .images import astronaut_frame

FPS = 30.0
SERVO_HZ = 50.0
LATENCY_S = 0.02  # capture -> detections ready
PX_PER_DEG = 10.0  # of the background panorama
FACE_DEG = 9.0  # angular width of the face: a person ~1 m away
NOISE_SIGMA = 4.0  # sensor noise, grey levels: no two frames are alike


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _face_crop() -> np.ndarray:
    """The astronaut's head with some hair and shoulders (the box is 236,56 106x106)."""
    image = astronaut_frame()
    return image[36:182, 216:362].copy()  # box plus 20 px: face is 106/146 of the crop


_FACE_FRACTION = 106 / 146


@dataclass
class Room:
    config: HeadConfig
    panorama: np.ndarray = field(init=False)
    face: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        width = int((180 + 2 * self.config.camera.hfov) * PX_PER_DEG)
        height = int((120 + 2 * self.config.camera.vfov) * PX_PER_DEG)
        coffee = cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR)
        self.panorama = cv2.resize(coffee, (width, height), interpolation=cv2.INTER_LINEAR)
        self.face = _face_crop()
        self._noise = np.random.default_rng(6)

    def render(self, head: Pose, face: Pose | None) -> np.ndarray:
        cam = self.config.camera
        out_w, out_h = cam.width, cam.height
        view_w = int(cam.hfov * PX_PER_DEG)
        view_h = int(cam.vfov * PX_PER_DEG)
        cx = self.panorama.shape[1] / 2 + head.pan * PX_PER_DEG
        cy = self.panorama.shape[0] / 2 - head.tilt * PX_PER_DEG
        left, top = int(cx - view_w / 2), int(cy - view_h / 2)
        view = self.panorama[top : top + view_h, left : left + view_w]
        image = cv2.resize(view, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        if face is not None:
            self._paste_face(image, head, face)
        noise = self._noise.normal(0.0, NOISE_SIGMA, image.shape)
        return np.clip(image + noise, 0, 255).astype(np.uint8)

    def _paste_face(self, image: np.ndarray, head: Pose, face: Pose) -> None:
        cam = self.config.camera
        fx = (cam.width / 2) / math.tan(math.radians(cam.hfov) / 2)
        fy = (cam.height / 2) / math.tan(math.radians(cam.vfov) / 2)
        x = cam.width / 2 + fx * math.tan(math.radians(face.pan - head.pan))
        y = cam.height / 2 - fy * math.tan(math.radians(face.tilt - head.tilt))
        size = int(fx * math.tan(math.radians(FACE_DEG)) / _FACE_FRACTION)
        crop = cv2.resize(self.face, (size, size), interpolation=cv2.INTER_AREA)
        left, top = round(x - size / 2), round(y - size / 2)
        l0, t0 = max(0, left), max(0, top)
        r0, b0 = min(cam.width, left + size), min(cam.height, top + size)
        if r0 > l0 and b0 > t0:
            image[t0:b0, l0:r0] = crop[t0 - top : b0 - top, l0 - left : r0 - left]


@dataclass
class Sample:
    time: float
    face: Pose | None
    actual: Pose
    commanded: Pose
    detected: bool  # the face was detected in this frame
    followed: bool  # the head has a target (a track survives a missed detection)


@dataclass
class Simulation:
    """Runs the real Head logic (detector, tracker, controller, limiter) in simulated time."""

    config: HeadConfig
    clock: Clock = field(default_factory=Clock)
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.servos = SimulatedServos(self.config.servos, self.clock)
        self.head = Head(
            self.config, NoCamera(), self.servos, encoder_factory=None, clock=self.clock
        )
        self.room = Room(self.config)
        self._frame = 0
        self._next_tick = 0.0

    async def run(self, seconds: float, face: Callable[[float], Pose | None]) -> None:
        head = self.head
        end = self.clock.now + seconds
        while self.clock.now < end - 1e-9:
            captured = self.clock.now
            direction = face(captured)
            image = self.room.render(self.servos.actual, direction)
            self._frame += 1
            frame = Frame(image, captured, self._frame)
            boxes = head._vision.detector.find(image, head._vision.expected_faces(frame))
            await self._advance_to(captured + LATENCY_S)
            head._observe(boxes, captured, frame)
            await head._servo_loop.step()  # the setpoint wakes the servo loop at once
            seen = any(t.last_seen == captured for t in head._vision.tracker.visible())
            followed = head._vision.target_id is not None
            await self._advance_to(captured + 1.0 / FPS)
            self.samples.append(
                Sample(captured, direction, self.servos.actual, head._motion.pose, seen, followed)
            )

    async def _advance_to(self, when: float) -> None:
        """Run the 50 Hz servo ticks due before `when`, then set the clock to it."""
        while self._next_tick <= when:
            self.clock.now = max(self.clock.now, self._next_tick)
            await self.head._servo_loop.step()
            self._next_tick += 1.0 / SERVO_HZ
        self.clock.now = when
