"""Tracks across frames and the choice of whom to follow (hysteresis, no flip-flopping)."""

from __future__ import annotations

import math

import pytest

from milo_satellite.head.config import RecognitionConfig
from milo_satellite.head.control import pixel_to_angles, reproject
from milo_satellite.head.detect import Box
from milo_satellite.head.motion import Pose
from milo_satellite.head.tracking import Identity, Tracker, select_target

BUDDY = Identity("Jay", 0.3, sure=True)
STRANGER = Identity("stranger", math.inf, sure=True)


def box(x: float, y: float = 100.0, w: float = 80.0) -> Box:
    return Box(x, y, w, w)


def test_a_moving_face_keeps_its_track() -> None:
    tracker = Tracker(lost_after_s=0.5)
    ids = set()
    for frame in range(20):
        visible = tracker.update([box(100 + 12 * frame)], frame / 30)
        ids.update(t.id for t in visible)
    assert ids == {1}


def test_a_face_must_be_seen_twice_and_survives_short_misses() -> None:
    tracker = Tracker(lost_after_s=0.5)
    assert tracker.update([box(100)], 0.0) == []  # one detection could be a false positive
    assert [t.id for t in tracker.update([box(102)], 0.033)] == [1]
    assert [t.id for t in tracker.update([], 0.3)] == [1]  # a blink
    assert [t.id for t in tracker.update([box(104)], 0.4)] == [1]
    assert tracker.update([], 1.0) == []  # gone


def test_someone_else_in_the_same_place_is_a_new_track() -> None:
    tracker = Tracker(lost_after_s=0.5)
    tracker.update([box(100, w=120)], 0.0)
    tracker.update([box(100, w=120)], 0.033)
    tracker.update([box(120, w=60)], 0.066)  # half the size, overlapping: a different person
    assert {t.id for t in tracker.tracks} == {1, 2}


def test_target_prefers_buddy_then_largest() -> None:
    tracker = Tracker(lost_after_s=0.5)
    for t in (0.0, 0.033):
        visible = tracker.update([box(50, w=120), box(300, w=70)], t)
    big, small = sorted(visible, key=lambda tr: -tr.box.w)
    assert select_target(visible, None) is big
    big.identity, small.identity = STRANGER, BUDDY
    assert select_target(visible, None) is small


def test_the_followed_face_keeps_the_head_no_flip_flop() -> None:
    """Two people; detections of each come and go. The head sticks with its choice."""
    tracker = Tracker(lost_after_s=0.5)
    target_id = None
    chosen = []
    for frame in range(60):
        boxes = []
        if frame % 3 != 0:  # A is missed every third frame
            boxes.append(box(100, w=80))
        if frame % 2 == 0:  # B, slightly larger, every other frame
            boxes.append(box(400, w=90))
        visible = tracker.update(boxes, frame / 30)
        target = select_target(visible, target_id)
        if target is not None:
            target_id = target.id
            chosen.append(target.id)
        if frame == 30:  # B turns out to be a buddy: still no switch
            for track in visible:
                if track.box.x > 300:
                    track.identity = BUDDY
    assert len(set(chosen)) == 1


def test_recognition_schedule() -> None:
    config = RecognitionConfig(retry_s=1.5, max_attempts=3, verify_s=10.0)
    tracker = Tracker(lost_after_s=0.5)
    tracker.update([box(100)], 0.0)
    (track,) = tracker.tracks
    assert not track.needs_recognition(0.0, config)  # not confirmed yet
    tracker.update([box(100)], 0.03)
    assert track.needs_recognition(0.03, config)  # new
    track.pending = True
    assert not track.needs_recognition(0.03, config)  # one at a time
    track.pending = False
    track.attempts, track.last_attempt = 1, 0.03
    track.adopt(Identity("Jay", 0.55, sure=False))
    assert not track.needs_recognition(1.0, config)
    assert track.needs_recognition(2.0, config)  # unsure: try again
    track.attempts, track.last_attempt = 2, 2.0
    track.adopt(Identity("stranger", 0.62, sure=False))
    assert track.identity.name == "Jay"  # among unsure answers the closest wins
    track.attempts = 3
    assert not track.needs_recognition(9.0, config)  # attempts used up
    track.adopt(Identity("Jay", 0.4, sure=True))
    assert not track.needs_recognition(5.0, config)
    assert track.needs_recognition(12.5, config)  # a sure identity is re-checked, rarely
    track.adopt(Identity("stranger", 0.9, sure=True))
    assert track.identity.name == "stranger"  # someone else sat down


def test_turning_toward_a_face_moves_it_to_the_centre_of_the_picture() -> None:
    size, fov = (640, 480), (62.2, 48.8)
    face = Box(500, 60, 80, 80)
    pan, tilt = pixel_to_angles(*face.centre, size, fov)
    centred = reproject(face, Pose(0, 0), Pose(pan, tilt), size, fov)
    assert centred.centre == pytest.approx((320, 240), abs=1e-6)
    assert (centred.w, centred.h) == (80, 80)
    back = reproject(centred, Pose(pan, tilt), Pose(0, 0), size, fov)
    assert back.centre == pytest.approx(face.centre, abs=1e-6)
