"""MotionArbiter: who moves the head, decided in one place, on a simulated clock."""

from __future__ import annotations

import asyncio

import pytest

from milo_satellite.head.arbiter import MotionArbiter
from milo_satellite.head.camera import Frame
from milo_satellite.head.config import DetectionConfig, HeadConfig
from milo_satellite.head.detect import FaceDetector
from milo_satellite.head.errors import HeadError
from milo_satellite.head.gestures import Keyframe
from milo_satellite.head.motion import CENTRE, Pose

from .images import astronaut_frame
from .sim import Clock

CONFIG = HeadConfig.from_dict(
    {"tracking": {"hold_s": 0.5, "manual_hold_s": 1.0, "look_around_after_s": 1.0}}
)


def settle(arbiter: MotionArbiter, clock: Clock, seconds: float) -> Pose:
    """Step at 50 Hz for `seconds` of simulated time; the pose at the end."""
    end = clock.now + seconds
    pose = arbiter.pose
    while clock.now < end:
        clock.now += 0.02
        pose = arbiter.step()
    return pose


def following_her() -> tuple[Clock, MotionArbiter, Pose]:
    """An arbiter steered toward the face the real detector finds in a real photo, and the
    pose it settles at."""
    clock = Clock()
    arbiter = MotionArbiter(CONFIG, clock)
    image = astronaut_frame()
    (face,) = FaceDetector(DetectionConfig()).detect(image)
    arbiter.steer(face, Frame(image, clock.now, 1))
    return clock, arbiter, settle(arbiter, clock, 0.5)


def test_manual_pose_wins_over_tracking_for_a_while() -> None:
    clock, arbiter, following = following_her()
    assert following.pan < 0 < following.tilt  # toward her face, up and left of centre

    arbiter.look_at(30.0, 10.0)
    assert settle(arbiter, clock, 0.5) == Pose(30.0, 10.0)
    # manual_hold_s is up: tracking has the head again.
    assert settle(arbiter, clock, 1.5) == following


def test_manual_pose_stays_while_nothing_follows() -> None:
    clock = Clock()
    arbiter = MotionArbiter(CONFIG, clock)
    arbiter.tracking = False
    arbiter.look_at(-20.0, 5.0)
    assert settle(arbiter, clock, 3.0) == Pose(-20.0, 5.0)
    arbiter.set_attention("listening")  # someone talks: the manual pose yields after its hold
    clock.now += 1.0
    arbiter.step()
    assert arbiter.aim == arbiter.pose  # the manual pose is gone


def test_look_at_is_clamped_and_checked() -> None:
    clock = Clock()
    arbiter = MotionArbiter(CONFIG, clock)
    arbiter.look_at(500.0, -500.0)
    assert arbiter.aim == Pose(CONFIG.servos.pan.max, CONFIG.servos.tilt.min)
    with pytest.raises(HeadError, match="finite"):
        arbiter.look_at(float("nan"), 0.0)


def test_a_lost_face_holds_then_eases_back_to_centre() -> None:
    clock, arbiter, turned = following_her()
    arbiter.retarget(lost=True)
    assert settle(arbiter, clock, 0.4) == turned  # hold_s: keeps still where she was
    assert settle(arbiter, clock, 5.0) == CENTRE


def test_sleep_ends_gestures_and_refuses_moves() -> None:
    async def scenario() -> None:
        clock = Clock()
        arbiter = MotionArbiter(CONFIG, clock)
        nod = asyncio.create_task(arbiter.perform([Keyframe(0.0, -20.0, 10.0)], "nod"))
        await asyncio.sleep(0)
        assert settle(arbiter, clock, 0.5).tilt == pytest.approx(-20.0)
        assert arbiter.sleep(True)
        assert not arbiter.sleep(True)  # already asleep: nothing changes
        with pytest.raises(HeadError, match="asleep"):
            arbiter.look_at(0.0, 0.0)
        with pytest.raises(HeadError, match="asleep"):
            await arbiter.perform([Keyframe(0.0, 5.0, 0.1)], "nod")
        arbiter.changed.clear()
        assert arbiter.sleep(False)
        assert arbiter.changed.is_set()  # the servo loop wakes to move again
        arbiter.look_at(5.0, 0.0)  # the nod, still in its keyframe, no longer has the head
        assert settle(arbiter, clock, 0.5) == Pose(5.0, 0.0)
        nod.cancel()
        await asyncio.gather(nod, return_exceptions=True)
        assert settle(arbiter, clock, 0.5) == Pose(5.0, 0.0)  # nor when it ends

    asyncio.run(scenario())


def test_a_gesture_cut_short_returns_to_its_start() -> None:
    async def scenario() -> None:
        clock = Clock()
        arbiter = MotionArbiter(CONFIG, clock)
        arbiter.tracking = False
        arbiter.look_at(10.0, 0.0)
        settle(arbiter, clock, 0.5)
        dance = asyncio.create_task(arbiter.perform([Keyframe(0.0, -25.0, 10.0)], "dance"))
        await asyncio.sleep(0)
        assert settle(arbiter, clock, 0.5).tilt == pytest.approx(-25.0)
        dance.cancel()
        await asyncio.gather(dance, return_exceptions=True)
        assert settle(arbiter, clock, 0.3) == Pose(10.0, 0.0)

    asyncio.run(scenario())


def test_attention_modes_are_checked() -> None:
    arbiter = MotionArbiter(CONFIG, Clock())
    with pytest.raises(ValueError, match="Unknown attention mode"):
        arbiter.set_attention("dozing")  # type: ignore[arg-type]
