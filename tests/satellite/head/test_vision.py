"""Detection and recognition on real photographs, through the real OpenCV and dlib."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from milo_satellite.head.buddies import BuddyDatabase
from milo_satellite.head.camera import Frame
from milo_satellite.head.config import DetectionConfig, RecognitionConfig
from milo_satellite.head.detect import Box, FaceDetector
from milo_satellite.head.enrol import REASONS, Enrolment
from milo_satellite.head.errors import HeadError
from milo_satellite.head.recognition import (
    MAX_FACE_PX,
    FaceEncoder,
    FaceEncoderProcess,
    face_crop,
    identify,
)

from .images import astronaut_frame, face_free_frames, messi_frame, variants

PEOPLE = {"astronaut": astronaut_frame, "messi": messi_frame}
VARIANTS = ["original", "smaller", "larger", "shifted", "darker", "brighter"]
CASES = [(who, variant) for who in PEOPLE for variant in VARIANTS]


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(DetectionConfig())


@pytest.fixture(scope="module")
def images() -> dict[tuple[str, str], np.ndarray]:
    return {
        (who, name): image
        for who, make in PEOPLE.items()
        for name, image in variants(make()).items()
    }


@pytest.fixture(scope="module")
def faces(detector: FaceDetector, images: dict) -> dict[tuple[str, str], Box]:
    found = {key: detector.detect(image) for key, image in images.items()}
    for key, boxes in found.items():
        assert len(boxes) == 1, f"{key}: expected one face, found {boxes}"
    return {key: boxes[0] for key, boxes in found.items()}


@pytest.fixture(scope="module")
def encodings(encoder: FaceEncoder, images: dict, faces: dict) -> dict:
    return {key: encoder.encode(images[key], faces[key]) for key in images}


@pytest.mark.parametrize("who", PEOPLE)
def test_one_face_where_the_variant_puts_it(faces: dict, who: str) -> None:
    original = faces[(who, "original")]
    ox, oy = original.centre
    sx, sy = faces[(who, "shifted")].centre
    assert abs(sx - ox - 70) < 10
    assert abs(sy - oy + 30) < 10
    # Haar boxes come in 1.2x size steps, so sizes only roughly follow the zoom.
    assert 0.6 < faces[(who, "smaller")].w / original.w < 0.95
    assert 1.05 < faces[(who, "larger")].w / original.w < 1.5
    for name in ("darker", "brighter"):
        assert faces[(who, name)].iou(original) > 0.7


def test_nothing_on_face_free_images(detector: FaceDetector) -> None:
    for name, image in face_free_frames().items():
        assert detector.detect(image) == [], name


def test_tracked_face_is_found_near_its_last_box(detector: FaceDetector, faces: dict) -> None:
    image = astronaut_frame()
    original = faces[("astronaut", "original")]
    detector.find(image)  # first call: full scan
    near = detector.find(image, [Box(original.x + 15, original.y - 10, original.w, original.h)])
    assert len(near) == 1
    assert near[0].iou(original) > 0.6


def test_dlib_really_computed_the_encodings(encoder: FaceEncoder, encodings: dict) -> None:
    """Real 128-d descriptors: tight within a person, far apart between people."""
    assert encoder.calls >= len(CASES)
    for key, encoding in encodings.items():
        assert encoding.shape == (128,), key
        assert np.all(np.isfinite(encoding)), key
        assert 0.5 < float(np.linalg.norm(encoding)) < 2.0, key
    for who in PEOPLE:
        reference = encodings[(who, "original")]
        for (other, variant), encoding in encodings.items():
            distance = float(np.linalg.norm(encoding - reference))
            if other == who:
                assert distance < 0.3, (who, variant, distance)
            else:
                assert distance > 0.65, (who, other, variant, distance)


@pytest.mark.parametrize("blas", [True, False])
def test_the_log_says_when_dlib_has_no_blas(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, blas: bool
) -> None:
    """A prebuilt dlib works but costs ~5x the CPU per face: the user is told why."""
    import dlib

    monkeypatch.setattr(dlib, "DLIB_USE_BLAS", blas)
    with caplog.at_level("INFO", logger="milo_satellite.head.recognition"):
        FaceEncoder()
    assert ("built without BLAS" in caplog.text) is not blas


def test_same_encoding_as_the_face_recognition_package(
    encodings: dict, images: dict, faces: dict, tmp_path: Path
) -> None:
    """Our dlib calls equal face_recognition.face_encodings for the same face box.

    Run in a subprocess that must print the result: a broken face_recognition install
    quits with exit code 0 and no output, which must fail this test, not pass it.
    """
    key = ("astronaut", "original")
    left, top, right, bottom = faces[key].clipped(640, 480)
    image_path = tmp_path / "face.png"
    cv2.imwrite(str(image_path), images[key])
    script = (
        "import json, sys, cv2, face_recognition\n"
        f"rgb = cv2.cvtColor(cv2.imread({str(image_path)!r}), cv2.COLOR_BGR2RGB)\n"
        f"enc = face_recognition.face_encodings(rgb, [({top}, {right}, {bottom}, {left})])\n"
        "print(json.dumps([list(e) for e in enc]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"face_recognition printed nothing: {result.stderr}"
    (reference,) = json.loads(result.stdout)
    assert float(np.linalg.norm(encodings[key] - np.array(reference))) < 0.02


def test_the_worker_process_computes_the_same_encodings(
    worker_encoder: FaceEncoderProcess, encodings: dict, images: dict, faces: dict
) -> None:
    """The head's recogniser runs dlib in another process (dlib holds the GIL), same result."""
    assert worker_encoder.worker_pid != os.getpid()
    calls = worker_encoder.calls
    for key in [("astronaut", "original"), ("messi", "shifted")]:
        remote = worker_encoder.encode(images[key], faces[key])
        np.testing.assert_allclose(remote, encodings[key], atol=1e-6)
    assert worker_encoder.calls == calls + 2
    assert len(worker_encoder.cpu_ms) >= 2
    assert all(ms > 0 for ms in worker_encoder.cpu_ms)  # the worker really computed


def test_a_close_face_is_shrunk_before_dlib_sees_it(
    detector: FaceDetector, encoder: FaceEncoder, encodings: dict
) -> None:
    """A face filling the frame costs no more to send or describe, and is still the person."""
    close = cv2.resize(
        astronaut_frame()[30:180, 209:409], (640, 480), interpolation=cv2.INTER_CUBIC
    )
    (box,) = detector.detect(close)
    assert box.w > 1.4 * MAX_FACE_PX
    crop, (left, _, right, _) = face_crop(close, box)
    assert right - left <= MAX_FACE_PX + 1
    assert max(crop.shape[:2]) <= 2 * MAX_FACE_PX + 2  # the face plus half a face each side
    distance = float(
        np.linalg.norm(encoder.encode(close, box) - encodings[("astronaut", "original")])
    )
    assert distance < 0.15


def test_a_dead_worker_is_reported_and_replaced(images: dict, faces: dict) -> None:
    worker = FaceEncoderProcess()
    key = ("astronaut", "original")
    try:
        first = worker.encode(images[key], faces[key])
        os.kill(worker.worker_pid, signal.SIGKILL)  # e.g. the OOM killer
        with pytest.raises(HeadError, match="worker died"):
            worker.encode(images[key], faces[key])
        again = worker.encode(images[key], faces[key])
        np.testing.assert_allclose(again, first, atol=1e-6)
    finally:
        worker.close()
    with pytest.raises(HeadError, match="stopped"):  # no new worker after close()
        worker.encode(images[key], faces[key])


def test_enrol_one_and_the_other_is_a_stranger(encodings: dict, tmp_path: Path) -> None:
    buddies = BuddyDatabase(tmp_path / "buddies.json")
    buddies.add("Eileen", encodings[("astronaut", "original")])
    config = RecognitionConfig()
    for variant in VARIANTS:
        eileen = identify(encodings[("astronaut", variant)], buddies, config)
        assert (eileen.name, eileen.sure) == ("Eileen", True), variant
        messi = identify(encodings[("messi", variant)], buddies, config)
        assert (messi.name, messi.sure) == ("stranger", True), variant
        assert messi.distance > config.tolerance


def test_nobody_enrolled_means_everyone_is_a_sure_stranger(encodings: dict, tmp_path: Path) -> None:
    identity = identify(
        encodings[("messi", "original")], BuddyDatabase(tmp_path / "b.json"), RecognitionConfig()
    )
    assert identity.name == "stranger"
    assert identity.sure
    assert math.isinf(identity.distance)


def _frame(image: np.ndarray, at: float = 0.0) -> Frame:
    return Frame(image, at, 1)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda img: cv2.GaussianBlur(img, (0, 0), 6), "blurry"),
        (lambda img: cv2.convertScaleAbs(img, alpha=0.15), "too_dark"),
        (np.zeros_like, "no_face"),
    ],
)
def test_enrolment_rejects_poor_frames(detector: FaceDetector, make, reason: str) -> None:
    image = make(astronaut_frame())
    enrolment = Enrolment(frames_needed=3)
    boxes = detector.detect(image) or ([Box(236, 56, 106, 106)] if reason != "no_face" else [])
    assert enrolment.check(_frame(image), boxes) is None
    assert reason in enrolment.rejected
    assert REASONS[reason] in enrolment.failure()


def test_enrolment_rejects_two_people_and_small_faces(detector: FaceDetector) -> None:
    both = np.hstack([astronaut_frame()[:, 160:480], messi_frame()[:, 160:480]])
    enrolment = Enrolment(frames_needed=3)
    assert enrolment.check(_frame(both), detector.detect(both)) is None
    assert enrolment.rejected["several_faces"] == 1
    far = cv2.resize(astronaut_frame(), None, fx=0.6, fy=0.6)  # face ~64 px wide
    tiny_frame = np.zeros((480, 640, 3), np.uint8)
    tiny_frame[:288, :384] = far
    assert enrolment.check(_frame(tiny_frame), detector.detect(tiny_frame)) is None
    assert enrolment.rejected["too_small"] == 1
    assert "Enrolment failed" in enrolment.failure()


def test_enrolment_refuses_frames_of_different_people(encodings: dict) -> None:
    enrolment = Enrolment(frames_needed=2)
    enrolment.add(_frame(astronaut_frame(), 0.0), encodings[("astronaut", "original")])
    enrolment.add(_frame(messi_frame(), 1.0), encodings[("messi", "original")])
    assert enrolment.done
    with pytest.raises(HeadError, match="same person"):
        enrolment.encodings()
