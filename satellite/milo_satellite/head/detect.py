"""Face detection on every frame: OpenCV's Haar cascade on a downscaled grey copy.

OpenCV's wheels ship the Haar cascades but not the YuNet ONNX model (it lives in
opencv_zoo and would have to be downloaded), and nothing may be downloaded at run time;
the cascade at 320 px wide runs in a few milliseconds on one Pi core, which is what a
30 fps loop needs. Identity is dlib's job (recognition.py), done rarely.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .config import DetectionConfig
from .errors import HeadError

CASCADE_FILE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class Box:
    """A face rectangle in full-frame pixels."""

    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> tuple[float, float]:
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
    """Finds frontal faces; thread-safe enough for one caller at a time."""

    def __init__(self, config: DetectionConfig):
        self._config = config
        path = Path(cv2.data.haarcascades) / CASCADE_FILE
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise HeadError(f"OpenCV's face cascade {path} is missing or unreadable")

    def detect(self, image: np.ndarray) -> list[Box]:
        """All faces in a BGR (or grey) image, largest first."""
        height, width = image.shape[:2]
        scale = min(1.0, self._config.detect_width / width)
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        found = self._cascade.detectMultiScale(
            grey,
            scaleFactor=self._config.scale_factor,
            minNeighbors=self._config.min_neighbors,
            minSize=(self._config.min_face, self._config.min_face),
        )
        boxes = [Box(x / scale, y / scale, w / scale, h / scale) for (x, y, w, h) in found]
        return sorted(boxes, key=lambda box: box.area, reverse=True)
