"""Real photographs for the head's tests, and their scaled/shifted/brightened variants.

Astronaut: Eileen Collins (scikit-image's `astronaut`). Messi: `messi5.jpg` from Debian's
opencv-doc package (installed by script/setup). Frames are 640 x 480 BGR, as the camera
delivers them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from milo_satellite.head.camera import prepare
from milo_satellite.head.config import CameraConfig

MESSI_JPG = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
FRAME = CameraConfig()  # 640 x 480


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def astronaut_frame() -> np.ndarray:
    return prepare(_bgr(skimage.data.astronaut()), FRAME)


def messi_frame() -> np.ndarray:
    """messi5.jpg enlarged so his face is ~65 px wide (a person ~1.3 m from the camera)."""
    if not MESSI_JPG.is_file():
        pytest.fail(f"{MESSI_JPG} is missing: apt-get install opencv-doc (script/setup does)")
    image = cv2.imread(str(MESSI_JPG))
    big = cv2.resize(image, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)
    return prepare(big[100:580, 100:740], FRAME)


def face_free_frames() -> dict[str, np.ndarray]:
    return {
        "coffee": prepare(_bgr(skimage.data.coffee()), FRAME),
        "rocket": prepare(_bgr(skimage.data.rocket()), FRAME),
        "blank": np.full((480, 640, 3), 128, np.uint8),
    }


def scaled(image: np.ndarray, factor: float) -> np.ndarray:
    """Zoom about the centre (the person moved closer or away), same frame size."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0, factor)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    height, width = image.shape[:2]
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def brightness(image: np.ndarray, gain: float, offset: float = 0.0) -> np.ndarray:
    return cv2.convertScaleAbs(image, alpha=gain, beta=offset)


def variants(image: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "original": image,
        "smaller": scaled(image, 0.8),
        "larger": scaled(image, 1.25),
        "shifted": shifted(image, 70, -30),
        "darker": brightness(image, 0.6),
        "brighter": brightness(image, 1.2, 30),
    }
