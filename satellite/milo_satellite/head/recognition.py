"""Who is it: dlib's ResNet face descriptor, with the weights from face_recognition_models.

This is exactly the computation `face_recognition.face_encodings` does (5-point landmarks,
then the 128-d descriptor), called on dlib directly: the face box comes from our own
detector, and importing the `face_recognition` package is a trap (if its models package
is missing or broken it prints a hint and calls quit(), so a process "succeeds" with exit
code 0 having recognised nobody). Here a missing piece is a HeadError saying what to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .buddies import BuddyDatabase
from .config import RecognitionConfig
from .detect import Box
from .errors import HeadError
from .state import STRANGER
from .tracking import Identity

_MARGIN = 0.5  # face widths of context around the box for the landmark model


class FaceEncoder:
    """Turns a face in a frame into a 128-d vector; same person = small distance."""

    def __init__(self) -> None:
        try:
            import dlib  # noqa: PLC0415 - optional heavy dependency
            import face_recognition_models as models  # noqa: PLC0415
        except ImportError as err:
            raise HeadError(
                "Face recognition needs dlib and face_recognition_models: "
                "pip install 'milo-satellite[faces]'"
            ) from err
        landmarks = Path(models.pose_predictor_five_point_model_location())
        network = Path(models.face_recognition_model_location())
        for path in (landmarks, network):
            if not path.is_file():
                raise HeadError(
                    f"dlib model file {path} is missing; reinstall face_recognition_models"
                )
        self._dlib: Any = dlib
        self._landmarks = dlib.shape_predictor(str(landmarks))
        self._network = dlib.face_recognition_model_v1(str(network))
        self.calls = 0  # descriptors computed; lets tests and stats see dlib ran

    def encode(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The descriptor of the face in `box` of a BGR frame."""
        height, width = image.shape[:2]
        margin = _MARGIN * max(box.w, box.h)
        region = Box(box.x - margin, box.y - margin, box.w + 2 * margin, box.h + 2 * margin)
        left, top, right, bottom = region.clipped(width, height)
        crop = np.ascontiguousarray(cv2.cvtColor(image[top:bottom, left:right], cv2.COLOR_BGR2RGB))
        face_l, face_t, face_r, face_b = box.clipped(width, height)
        rect = self._dlib.rectangle(face_l - left, face_t - top, face_r - left, face_b - top)
        shape = self._landmarks(crop, rect)
        descriptor = self._network.compute_face_descriptor(crop, shape, 1)
        self.calls += 1
        return np.asarray(descriptor, dtype=np.float64)


def identify(encoding: np.ndarray, buddies: BuddyDatabase, config: RecognitionConfig) -> Identity:
    """Buddy or stranger, and whether the distance leaves room for doubt."""
    name, distance = buddies.match(encoding)
    if distance <= config.tolerance:
        return Identity(name, distance, sure=distance <= config.sure)
    # As far above the threshold as `sure` is below it counts as a sure stranger.
    sure_stranger = distance >= 2 * config.tolerance - config.sure
    return Identity(STRANGER, distance, sure=sure_stranger)
