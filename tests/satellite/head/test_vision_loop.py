"""Vision: the camera's frames through the real detector into tracks, and the camera switch."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
from satellite_helpers import eventually

from milo_satellite.head.camera import Camera, Frame
from milo_satellite.head.config import HeadConfig
from milo_satellite.head.detect import Box
from milo_satellite.head.motion import Pose
from milo_satellite.head.stats import HeadStats
from milo_satellite.head.tracking import Tracker
from milo_satellite.head.vision import Vision

from .images import astronaut_frame


class Photo(Camera):
    """A camera that sees one photograph at 50 fps and counts how often it was opened."""

    def __init__(self) -> None:
        self.open = 0
        self._index = 0

    async def start(self) -> None:
        self.open += 1

    async def stop(self) -> None:
        self.open = max(0, self.open - 1)

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        await asyncio.sleep(0.02)
        self._index += 1
        return Frame(astronaut_frame(), time.monotonic(), self._index)


def vision(camera: Camera, mount: str = "fixed", pose_at=lambda t: Pose()) -> Vision:
    config = HeadConfig.from_dict({"camera": {"mount": mount}})
    return Vision(
        config, camera, Tracker(0.5), pose_at=pose_at, clock=time.monotonic, stats=HeadStats()
    )


async def test_frames_become_a_target_and_a_snapshot() -> None:
    camera = Photo()
    eyes = vision(camera)
    views: list[tuple[list[Box], Frame | None]] = []

    def on_view(boxes: list[Box], seen_at: float, frame: Frame | None) -> None:
        views.append((boxes, frame))
        eyes.observe(boxes, seen_at)

    await eyes.start()
    loop = asyncio.create_task(eyes.run(on_view))
    try:
        await eventually(lambda: eyes.target is not None, within=30)
        assert camera.open == 1
        assert all(frame is not None for _, frame in views)
        assert len(views[-1][0]) == 1  # an empty room is scanned now and then: she is found
        assert [t.id for t in eyes.by_priority()] == [eyes.target.id]
        jpeg = await eyes.snapshot_jpeg()
        assert jpeg is not None
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == astronaut_frame().shape

        await eyes.set_camera(False)  # privacy: closed, no picture, faces age out
        assert camera.open == 0
        assert await eyes.snapshot_jpeg() is None
        views.clear()
        await eventually(lambda: views and not eyes.visible, within=30)
        assert all(frame is None for _, frame in views)
        assert eyes.target is None
        await eyes.set_camera(True)
        assert camera.open == 1
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await eyes.stop()
    assert eyes._stats.frames >= 2


async def test_a_camera_switched_off_before_start_stays_closed() -> None:
    camera = Photo()
    eyes = vision(camera)
    await eyes.set_camera(False)
    await eyes.start()
    assert camera.open == 0
    await eyes.stop()


def test_a_camera_on_the_head_expects_faces_where_the_turn_moved_them() -> None:
    poses = {1.0: Pose(0.0, 0.0), 2.0: Pose(10.0, 0.0)}
    eyes = vision(Photo(), mount="head", pose_at=poses.__getitem__)
    image = astronaut_frame()
    (face,) = eyes.detector.detect(image)
    eyes.observe([face], 1.0)
    assert eyes.expected_faces(Frame(image, 1.0, 1)) == [face]
    (moved,) = eyes.expected_faces(Frame(image, 2.0, 2))
    assert moved.x < face.x - 50  # the head turned right: the face moved left in the picture
    assert (moved.y, moved.w) == (face.y, face.w)


async def test_a_frame_being_detected_when_the_camera_goes_off_is_not_kept() -> None:
    camera = Photo()
    eyes = vision(camera)
    frames: list[Frame | None] = []
    read = camera.read

    async def read_then_switch_off(max_wait: float = 1.0) -> Frame | None:
        frame = await read(max_wait)
        if eyes.camera_on:  # the switch flips while this frame is in the detector
            switching.append(asyncio.create_task(eyes.set_camera(False)))
        return frame

    switching: list[asyncio.Task[None]] = []
    camera.read = read_then_switch_off  # type: ignore[method-assign]
    await eyes.start()
    loop = asyncio.create_task(eyes.run(lambda boxes, seen_at, frame: frames.append(frame)))
    try:
        await eventually(lambda: frames, within=30)
        assert switching
        assert not eyes.camera_on
        assert frames == [None]  # the last frame read never reached the tracks...
        assert await eyes.snapshot_jpeg() is None  # ...nor the snapshot
    finally:
        loop.cancel()
        await asyncio.gather(loop, *switching, return_exceptions=True)
        await eyes.stop()
