"""Face detection on every frame: OpenCV's Haar cascade on a downscaled grey copy.

OpenCV's wheels ship the Haar cascades but not the YuNet ONNX model (it lives in
opencv_zoo and would have to be downloaded), and nothing may be downloaded at run time;
the cascade at 320 px wide runs in a few milliseconds on one Pi core, which is what a
30 fps loop needs. Identity is dlib's job (recognition.py), done rarely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .config import DetectionConfig
from .errors import HeadError

CASCADE_FILE = "haarcascade_frontalface_default.xml"
ROI_FACE_PX = 32  # a tracked face is searched for at about this size...
ROI_MARGIN = 0.75  # ...within this many face widths of where it was...
ROI_SCALE_FACTOR = 1.05  # ...with finer scale steps (few scales, so enough neighbours)


@dataclass(frozen=True)
class Box:
    """A face rectangle in full-frame pixels."""

    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h

    def iou(self, other: Box) -> float:
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.w, other.x + other.w)
        bottom = min(self.y + self.h, other.y + other.h)
        inter = max(0.0, right - left) * max(0.0, bottom - top)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer (left, top, right, bottom) inside a width x height image."""
        left = int(max(0, min(width - 1, round(self.x))))
        top = int(max(0, min(height - 1, round(self.y))))
        right = int(max(left + 1, min(width, round(self.x + self.w))))
        bottom = int(max(top + 1, min(height, round(self.y + self.h))))
        return left, top, right, bottom


class FaceDetector:
    """Finds frontal faces: near the faces already tracked, and now and then everywhere.

    A full scan of a 320 px frame costs tens of milliseconds on a small CPU; searching a
    window around a tracked face, scaled so the face is ~32 px and only at sizes close to
    it, costs a millisecond or two. So every frame searches near the known faces, and
    the whole frame is also scanned for newcomers every `full_scan_every` frames and right
    after a tracked face was not found near where it was. With nobody tracked, every
    `idle_scan_every`-th frame is scanned: an empty room need not cost a whole core.
    One caller at a time (it keeps state between frames).
    """

    def __init__(self, config: DetectionConfig):
        self._config = config
        self._frames = 0
        self._missed = False
        path = Path(cv2.data.haarcascades) / CASCADE_FILE  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise HeadError(f"OpenCV's face cascade {path} is missing or unreadable")

    def find(self, image: np.ndarray, tracked: Sequence[Box] = ()) -> list[Box]:
        """This frame's faces, given where faces were last seen."""
        self._frames += 1
        if not tracked:  # an empty room: scan, but not every frame (idle CPU)
            due = self._frames % self._config.idle_scan_every == 0
            return self.detect(image) if due or self._missed else []
        grey = _grey(image)
        found: list[Box] = []
        missed = False
        for box in tracked:
            near = self._detect_near(grey, box)
            missed = missed or not near
            found.extend(near)
        if self._missed or self._frames % self._config.full_scan_every == 0:
            found.extend(self.detect(grey))
        self._missed = missed
        return _distinct(found)

    def detect(self, image: np.ndarray) -> list[Box]:
        """All faces in a BGR (or grey) image, largest first."""
        grey = _grey(image)
        width = grey.shape[1]
        scale = min(1.0, self._config.detect_width / width)
        found = self._scan(
            grey,
            scale=scale,
            sizes=(self._config.min_face, 0),
            offset=(0, 0),
            scale_factor=self._config.scale_factor,
        )
        return _distinct(found)

    def _detect_near(self, grey: np.ndarray, box: Box) -> list[Box]:
        height, width = grey.shape[:2]
        margin = ROI_MARGIN * max(box.w, box.h)
        region = Box(box.x - margin, box.y - margin, box.w + 2 * margin, box.h + 2 * margin)
        left, top, right, bottom = region.clipped(width, height)
        scale = min(1.0, ROI_FACE_PX / max(box.w, 1.0))
        low = max(self._config.min_face, round(ROI_FACE_PX * 0.6 * min(1.0, box.w / ROI_FACE_PX)))
        high = round(ROI_FACE_PX * 1.6)
        return self._scan(
            grey[top:bottom, left:right],
            scale=scale,
            sizes=(low, high),
            offset=(left, top),
            scale_factor=ROI_SCALE_FACTOR,
        )

    def _scan(
        self,
        grey: np.ndarray,
        *,
        scale: float,
        sizes: tuple[int, int],
        offset: tuple[int, int],
        scale_factor: float,
    ) -> list[Box]:
        """Faces sized sizes[0]..sizes[1] px (0: no limit) after scaling `grey` by `scale`."""
        low, high = sizes
        if scale < 1.0:
            height, width = grey.shape[:2]
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        if min(grey.shape[:2]) < low:
            return []
        found = self._cascade.detectMultiScale(
            cv2.equalizeHist(grey),
            scaleFactor=scale_factor,
            minNeighbors=self._config.min_neighbors,
            minSize=(low, low),
            maxSize=(high, high),
        )
        dx, dy = offset
        return [Box(x / scale + dx, y / scale + dy, w / scale, h / scale) for (x, y, w, h) in found]


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _distinct(boxes: list[Box]) -> list[Box]:
    """Largest first, dropping boxes that mostly overlap a larger one (ROI overlaps).

    Ties are broken by position, not by input order: OpenCV's multi-threaded cascade
    returns its boxes in an order that depends on thread timing, and the result must not.
    """
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: (-b.area, b.x, b.y)):
        if all(box.iou(other) < 0.5 for other in kept):
            kept.append(box)
    return kept
