"""Frame sources: a live camera (USB or Pi via V4L2), a still image or video file, or none.

A live camera is read by its own thread that keeps only the newest frame: OpenCV's
driver buffer would otherwise hand us frames that are several hundred milliseconds old,
and the head would chase where a face used to be. An unplugged or failing camera is
logged once, retried with backoff, and simply yields no frames meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging
from pathlib import Path
import threading
import time

import cv2
import numpy as np

from .config import CameraConfig, camera_source_kind
from .errors import HeadError

_LOGGER = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
_FLIP_CODES = {"horizontal": 1, "vertical": 0, "both": -1}
_RETRY_MIN_S = 1.0
_RETRY_MAX_S = 30.0


@dataclass(frozen=True)
class Frame:
    """One BGR image and the monotonic time it was captured."""

    image: np.ndarray
    captured_at: float
    index: int

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.image.shape[:2]
        return width, height


class Camera:
    """Base class; `read` waits for the next frame, or returns None after `max_wait` s."""

    async def start(self) -> None:
        """Begin capturing (never raises for an absent device: it is retried)."""

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        await asyncio.sleep(max_wait)
        return None

    async def stop(self) -> None:
        """Release the device."""


class NoCamera(Camera):
    """`source: none`: a head without eyes still moves on command."""


class LiveCamera(Camera):
    """A V4L2 device (index or /dev/videoN) or a stream URL, read on a background thread."""

    def __init__(self, config: CameraConfig):
        self._config = config
        source = config.source.strip()
        self._source: int | str = int(source) if source.isdigit() else source
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._running = False
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="milo-camera", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._running = False
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
            self._thread = None
        with self._cond:
            self._latest = None  # a restart counts its frames from 1 again

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        with self._cond:
            seen = self._latest.index if self._latest else -1
        return await asyncio.to_thread(self._wait_newer, seen, max_wait)

    def _wait_newer(self, seen: int, max_wait: float) -> Frame | None:
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    not self._running or (self._latest is not None and self._latest.index > seen)
                ),
                max_wait,
            )
            latest = self._latest
        return latest if latest is not None and latest.index > seen else None

    def _open(self) -> cv2.VideoCapture | None:
        capture = cv2.VideoCapture(self._source)
        if not capture.isOpened():
            capture.release()
            return None
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._config.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._config.height)
        capture.set(cv2.CAP_PROP_FPS, self._config.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    def _run(self) -> None:
        delay = _RETRY_MIN_S
        index = 0
        warned = False
        while self._running:
            capture = self._open()
            if capture is None:
                if not warned:
                    _LOGGER.warning(
                        "Camera %r is not available (unplugged or busy); retrying", self._source
                    )
                    warned = True
                self._sleep(delay)
                delay = min(_RETRY_MAX_S, delay * 2)
                continue
            _LOGGER.info("Camera %r opened", self._source)
            warned = False
            delay = _RETRY_MIN_S
            while self._running:
                ok, image = capture.read()
                if not ok or image is None:
                    _LOGGER.warning("Camera %r stopped delivering frames; reopening", self._source)
                    break
                index += 1
                frame = Frame(prepare(image, self._config), time.monotonic(), index)
                with self._cond:
                    self._latest = frame
                    self._cond.notify_all()
            capture.release()

    def _sleep(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._running, seconds)


class FileCamera(Camera):
    """A still image (repeated) or a video file (looped), paced at the configured fps."""

    def __init__(self, config: CameraConfig, path: Path):
        self._config = config
        self._path = path
        self._still: np.ndarray | None = None
        self._capture: cv2.VideoCapture | None = None
        self._index = 0
        self._next_at = 0.0

    async def start(self) -> None:
        if not self._path.is_file():
            raise HeadError(f"Camera file {self._path} does not exist")
        if self._path.suffix.lower() in IMAGE_SUFFIXES:
            image = cv2.imread(str(self._path), cv2.IMREAD_COLOR)
            if image is None:
                raise HeadError(f"Camera file {self._path} is not a readable image")
            self._still = prepare(image, self._config)
        else:
            capture = cv2.VideoCapture(str(self._path))
            if not capture.isOpened():
                raise HeadError(f"Camera file {self._path} is not a readable video")
            self._capture = capture

    async def stop(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        now = time.monotonic()
        wait = self._next_at - now
        if wait > max_wait:
            await asyncio.sleep(max_wait)
            return None
        if wait > 0:
            await asyncio.sleep(wait)
        self._next_at = max(self._next_at, now) + 1.0 / self._config.fps
        image = self._still if self._still is not None else await asyncio.to_thread(self._decode)
        if image is None:
            return None
        self._index += 1
        return Frame(image, time.monotonic(), self._index)

    def _decode(self) -> np.ndarray | None:
        assert self._capture is not None
        ok, image = self._capture.read()
        if not ok:  # end of file: loop
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        return prepare(image, self._config) if ok else None


def prepare(image: np.ndarray, config: CameraConfig) -> np.ndarray:
    """Fit into the configured frame size (letterboxed, undistorted) and apply the flip."""
    height, width = image.shape[:2]
    if (width, height) != (config.width, config.height):
        scale = min(config.width / width, config.height / height)
        fitted_w, fitted_h = max(1, round(width * scale)), max(1, round(height * scale))
        fitted = cv2.resize(image, (fitted_w, fitted_h), interpolation=cv2.INTER_AREA)
        image = np.zeros((config.height, config.width, 3), dtype=np.uint8)
        top, left = (config.height - fitted_h) // 2, (config.width - fitted_w) // 2
        image[top : top + fitted_h, left : left + fitted_w] = fitted
    code = _FLIP_CODES.get(config.flip)
    return image if code is None else cv2.flip(image, code)


def open_camera(config: CameraConfig) -> Camera:
    """The source named in config: "none", a file, or a live device/URL."""
    kind = camera_source_kind(config.source)
    if kind == "none":
        return NoCamera()
    if kind == "file":
        return FileCamera(config, Path(config.source.strip()).expanduser())
    return LiveCamera(config)
