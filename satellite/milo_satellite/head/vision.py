"""The vision loop: the newest camera frame, faces found on a worker thread, tracks updated.

Detection takes tens of milliseconds of C++ (it releases the GIL), so it runs on its own
thread and the event loop stays free for the servos and the API. Where tracked faces
should be in the new frame allows for the head's own turn since the last one (a camera
on the head sees the room move). The camera switch lives here too: off, the device is
closed and no frame is read, kept or served as a snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
import logging
import time

import cv2

from .camera import Camera, Frame
from .config import HeadConfig
from .control import reproject
from .detect import Box, FaceDetector
from .motion import Pose
from .stats import HeadStats
from .tracking import Track, Tracker, select_target

_LOGGER = logging.getLogger(__name__)

JPEG_QUALITY = 85
STALE_FRAME_S = 3.0  # an older latest frame means the camera is gone
CAMERA_OFF_POLL_S = 0.25  # with the camera off, how often faces and buddies age out

# (boxes found, when they were seen, the frame or None when there was none in time)
ViewListener = Callable[[list[Box], float, Frame | None], None]


class Vision:
    """Camera, detector and tracker; tells `on_view` about every frame (or the lack of one)."""

    def __init__(
        self,
        config: HeadConfig,
        camera: Camera,
        tracker: Tracker,
        *,
        pose_at: Callable[[float], Pose],
        clock: Callable[[], float],
        stats: HeadStats,
    ) -> None:
        self._config = config
        self._camera = camera
        self.tracker = tracker
        self._pose_at = pose_at
        self._clock = clock
        self._stats = stats
        self.detector = FaceDetector(config.detection)
        self.camera_on = True
        self._camera_lock = asyncio.Lock()
        self._started = False
        self._pool: ThreadPoolExecutor | None = None
        self._latest_frame: Frame | None = None
        self._previous_capture: float | None = None
        self.visible: list[Track] = []
        self.target_id: int | None = None

    @property
    def target(self) -> Track | None:
        """The face the head follows (the listeners call it `person`)."""
        return next((t for t in self.visible if t.id == self.target_id), None)

    async def start(self) -> None:
        """Open the camera, unless the switch is already off."""
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="milo-vision")
        async with self._camera_lock:
            if self.camera_on:
                await self._camera.start()
            self._started = True

    async def stop(self) -> None:
        await self._camera.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def set_camera(self, on: bool) -> None:
        """The privacy switch; before start() it only says whether start() opens the camera."""
        async with self._camera_lock:
            if on == self.camera_on:
                return
            if self._started:
                if on:
                    await self._camera.start()
                else:
                    await self._camera.stop()
                    self._latest_frame = None
            self.camera_on = on
            _LOGGER.info("Camera %s", "on" if on else "off: nothing is captured")

    async def snapshot_jpeg(self) -> bytes | None:
        frame = self._latest_frame
        if frame is None:
            return None
        ok, data = await asyncio.to_thread(
            cv2.imencode, ".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        return bytes(data) if ok else None

    async def run(self, on_view: ViewListener) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if not self.camera_on:
                    await asyncio.sleep(CAMERA_OFF_POLL_S)  # faces age out, buddies leave
                    self._no_frame(on_view)
                    continue
                frame = await self._camera.read(max_wait=1.0)
                if frame is None or not self.camera_on:  # switched off while it waited
                    self._no_frame(on_view)
                    continue
                tracked = self.expected_faces(frame)
                started = time.perf_counter()
                boxes = await loop.run_in_executor(
                    self._pool, self.detector.find, frame.image, tracked
                )
                self._stats.detect_ms.append((time.perf_counter() - started) * 1000)
                self._stats.frames += 1
                if not self.camera_on:  # switched off while it was detected: not kept
                    continue
                self._latest_frame = frame
                on_view(boxes, frame.captured_at, frame)
            except Exception:  # one bad frame must not blind Milo for good
                _LOGGER.exception("Processing a camera frame failed")
                await asyncio.sleep(1.0)

    def _no_frame(self, on_view: ViewListener) -> None:
        """No frame in time: faces age out, and a stale picture is not served as a snapshot."""
        now = self._clock()
        frame = self._latest_frame
        if frame is not None and now - frame.captured_at > STALE_FRAME_S:
            self._latest_frame = None
        on_view([], now, None)

    def expected_faces(self, frame: Frame) -> list[Box]:
        """Where the tracked faces should be in `frame`, allowing for the head's own turn."""
        previous, self._previous_capture = self._previous_capture, frame.captured_at
        if self._config.camera.mount == "head" and previous is not None:
            before = self._pose_at(previous)
            after = self._pose_at(frame.captured_at)
            if before != after:
                fov = (self._config.camera.hfov, self._config.camera.vfov)
                self.tracker.shift(lambda box: reproject(box, before, after, frame.size, fov))
        return [track.box for track in self.tracker.tracks]

    def observe(self, boxes: list[Box], seen_at: float) -> Track | None:
        """Update the tracks from one frame's detections (or none); the target now."""
        self.visible = self.tracker.update(boxes, seen_at)
        target = select_target(self.visible, self.target_id)
        self.target_id = target.id if target else None
        return target

    def by_priority(self) -> list[Track]:
        """The faces in view, the target first (it is recognised first)."""
        return sorted(self.visible, key=lambda t: t.id != self.target_id)
