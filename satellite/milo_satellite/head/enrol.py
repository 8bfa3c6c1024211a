"""Enrolment: collect a few good, consistent encodings of one face from the live camera.

A single frame makes a poor template (a blink, motion blur, half a profile), so several
frames are taken a little apart, each checked for: exactly one face, big enough, sharp
enough and neither too dark nor too bright. The encodings must then agree with each
other: if they do not, two people took turns in front of the camera.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from .camera import Frame
from .detect import Box
from .errors import HeadError

MIN_FACE_FRACTION = 0.12  # of the frame width: ~77 px at 640 x 480
MIN_SHARPNESS = 20.0  # variance of the Laplacian of the face at 128 x 128
BRIGHTNESS = (40.0, 215.0)  # mean grey level of the face
MIN_SPACING_S = 0.15
CONSISTENCY = 0.6  # max distance between any two encodings (dlib's "same person")

REASONS = {
    "no_face": "no face was seen",
    "several_faces": "more than one face was in view (only the new buddy, please)",
    "too_small": "the face was too far away (come closer)",
    "blurry": "the image was blurry (hold still)",
    "too_dark": "the face was too dark (more light, please)",
    "too_bright": "the face was washed out (less backlight, please)",
}


@dataclass
class Enrolment:
    """Feed frames with `offer` until `done`; then `encodings()` gives the result."""

    frames_needed: int
    collected: list[np.ndarray] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    _last_at: float = -1e9

    @property
    def done(self) -> bool:
        return len(self.collected) >= self.frames_needed

    def check(self, frame: Frame, boxes: list[Box]) -> Box | None:
        """The face to encode from this frame, or None (and the reason is counted)."""
        if frame.captured_at - self._last_at < MIN_SPACING_S:
            return None
        reason = _quality_problem(frame, boxes)
        if reason is not None:
            self.rejected[reason] += 1
            return None
        return boxes[0]

    def add(self, frame: Frame, encoding: np.ndarray) -> None:
        self.collected.append(encoding)
        self._last_at = frame.captured_at

    def encodings(self) -> np.ndarray:
        """The consistent encodings; HeadError if they do not look like one person."""
        stack = np.vstack(self.collected)
        pairwise = np.linalg.norm(stack[:, None, :] - stack[None, :, :], axis=2)
        if float(pairwise.max()) > CONSISTENCY:
            raise HeadError(
                "The frames did not all show the same person; enrol again with only the "
                "new buddy in view"
            )
        return stack

    def failure(self) -> str:
        """Why enrolment did not finish, for the user."""
        got = f"got {len(self.collected)} of {self.frames_needed} good frames"
        if not self.rejected:
            if not self.collected:
                return f"Enrolment timed out: no camera frames ({got})"
            return f"Enrolment timed out: the camera or recognition is too slow ({got})"
        reason = REASONS[self.rejected.most_common(1)[0][0]]
        return f"Enrolment failed: {reason} ({got})"


def _quality_problem(frame: Frame, boxes: list[Box]) -> str | None:
    if not boxes:
        return "no_face"
    if len(boxes) > 1:
        return "several_faces"
    width, height = frame.size
    box = boxes[0]
    if box.w < MIN_FACE_FRACTION * width:
        return "too_small"
    left, top, right, bottom = box.clipped(width, height)
    face = cv2.cvtColor(frame.image[top:bottom, left:right], cv2.COLOR_BGR2GRAY)
    face = cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA)
    brightness = float(face.mean())
    if brightness < BRIGHTNESS[0]:
        return "too_dark"
    if brightness > BRIGHTNESS[1]:
        return "too_bright"
    if float(cv2.Laplacian(face, cv2.CV_64F).var()) < MIN_SHARPNESS:
        return "blurry"
    return None
