"""RecognitionScheduler: which face dlib encodes next, and enrolment, on real photographs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from satellite_helpers import eventually

from milo_satellite.head.buddies import BuddyDatabase
from milo_satellite.head.camera import Frame
from milo_satellite.head.config import DetectionConfig, RecognitionConfig
from milo_satellite.head.detect import Box, FaceDetector
from milo_satellite.head.errors import HeadError
from milo_satellite.head.recognition import FaceEncoder, SharedEncoder
from milo_satellite.head.recognition_scheduler import RecognitionScheduler
from milo_satellite.head.stats import HeadStats
from milo_satellite.head.tracking import Track, Tracker

from .images import astronaut_frame, messi_frame


class Scene:
    """Eileen and Messi side by side, as tracked faces, and a scheduler to name them."""

    def __init__(self, tmp_path: Path, encoder: FaceEncoder | None, **options: object) -> None:
        self.image = np.hstack([astronaut_frame()[:, 160:480], messi_frame()[:, 160:480]])
        self.boxes = sorted(FaceDetector(DetectionConfig()).detect(self.image), key=lambda b: b.x)
        assert len(self.boxes) == 2
        self.buddies = BuddyDatabase(tmp_path / "buddies.json")
        self.tracker = Tracker(lost_after_s=1.0)
        self.stats = HeadStats()
        self.results = asyncio.Event()
        self.scheduler = RecognitionScheduler(
            RecognitionConfig(**options),  # type: ignore[arg-type]
            self.buddies,
            self.tracker,
            encoder_factory=(lambda: SharedEncoder(encoder)) if encoder else None,
            on_result=self.results.set,
            stats=self.stats,
        )
        self.now = 0.0
        self.with_encoder = encoder is not None

    async def start(self) -> None:
        """Start the scheduler and wait for its encoder (it loads in the background)."""
        await self.scheduler.start()
        await eventually(lambda: self.scheduler.available or not self.with_encoder, within=30)

    def frame(self, boxes: list[Box] | None = None) -> tuple[Frame, list[Box]]:
        """The next frame (0.2 s on) and its faces; the tracks follow them."""
        self.now += 0.2
        boxes = self.boxes if boxes is None else boxes
        self.tracker.update(boxes, self.now)
        return Frame(self.image, self.now, round(self.now * 5)), boxes

    def tracks(self) -> list[Track]:
        """Two frames on, the faces are confirmed tracks (left to right)."""
        self.frame()
        self.frame()
        return self.tracker.visible()

    def feed(self, tracks: list[Track]) -> None:
        frame, boxes = self.frame()
        self.scheduler.feed(frame, boxes, tracks, self.now)

    async def recognised(self, tracks: list[Track]) -> None:
        self.results.clear()
        self.feed(tracks)
        await asyncio.wait_for(self.results.wait(), 30)


async def test_one_face_at_a_time_in_the_order_given(tmp_path: Path, encoder: FaceEncoder) -> None:
    scene = Scene(tmp_path, encoder)
    await scene.start()
    try:
        scene.buddies.add("Eileen", encoder.encode(scene.image, scene.boxes[0])[None, :])
        eileen, messi = scene.tracks()
        scene.feed([messi, eileen])
        scene.feed([messi, eileen])  # busy with Messi: this frame is not queued
        assert (messi.pending, eileen.pending) == (True, False)
        await asyncio.wait_for(scene.results.wait(), 30)
        assert (messi.name, messi.identity and messi.identity.sure) == ("stranger", True)
        await scene.recognised([messi, eileen])  # Messi is sure: Eileen's turn
        assert eileen.name == "Eileen"
        assert scene.stats.recognitions == 2
        scene.feed([messi, eileen])  # both known for sure: nothing to do for a while
        assert (messi.pending, eileen.pending) == (False, False)
    finally:
        await scene.scheduler.stop()


async def test_without_recognition_everyone_is_a_sure_stranger(tmp_path: Path) -> None:
    scene = Scene(tmp_path, encoder=None)
    await scene.start()
    tracks = scene.tracks()
    scene.feed(tracks)
    assert [(t.name, t.identity and t.identity.sure) for t in tracks] == [("stranger", True)] * 2
    assert not scene.scheduler.available
    assert scene.stats.recognitions == 0
    with pytest.raises(HeadError, match="not available"):
        await scene.scheduler.enrol("Jay")
    await scene.scheduler.stop()


async def test_enrol_takes_good_frames_and_refuses_a_known_face(
    tmp_path: Path, encoder: FaceEncoder
) -> None:
    scene = Scene(tmp_path, encoder, enroll_frames=3, enroll_timeout_s=30)
    scene.image = astronaut_frame()
    (face,) = FaceDetector(DetectionConfig()).detect(scene.image)
    await scene.start()
    try:
        for name in ("Eileen", "Ellie"):
            enrolling = asyncio.create_task(scene.scheduler.enrol(name))
            while not enrolling.done():
                frame, boxes = scene.frame([face])
                scene.scheduler.feed(frame, boxes, scene.tracker.visible(), scene.now)
                await asyncio.sleep(0.05)
            if name == "Eileen":
                await enrolling
                assert scene.buddies.names == ["Eileen"]
                assert len(scene.buddies.encodings("Eileen")) == 3
                assert all(t.identity is None for t in scene.tracker.tracks)  # looked at again
            else:
                with pytest.raises(HeadError, match="already enrolled as Eileen"):
                    await enrolling
        await scene.scheduler.forget("eileen")
        assert scene.buddies.names == []
    finally:
        await scene.scheduler.stop()
