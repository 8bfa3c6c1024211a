"""The Head as the satellite uses it: real camera files, real detection and dlib, simulated servos.

These run in real time on the event loop, so they only wait (with generous limits) for
things to happen; how fast is the benchmark's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
import logging
from pathlib import Path
import stat
import time

import cv2
import numpy as np
import pytest

from milo_satellite.head import Head, HeadConfig, HeadError, HeadState, build_head
from milo_satellite.head.camera import Camera, FileCamera, Frame, LiveCamera
from milo_satellite.head.recognition import FaceEncoderProcess, SharedEncoder
from milo_satellite.head.servos import SimulatedServos

from .images import astronaut_frame, face_free_frames, messi_frame


class ScreenCamera(Camera):
    """A camera pointed at a screen the test controls (the scene can change mid-test)."""

    def __init__(self, image: np.ndarray, fps: float = 20.0) -> None:
        self.image = image
        self._period = 1.0 / fps
        self._index = 0

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        await asyncio.sleep(self._period)
        self._index += 1
        return Frame(self.image, time.monotonic(), self._index)


async def wait_until(predicate: Callable[[], bool], limit_s: float = 30.0) -> None:
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 - state changes come from the head's loops
            await asyncio.sleep(0.02)


def head_config(tmp_path: Path, enroll_timeout_s: float = 60, **tracking: object) -> HeadConfig:
    """`enroll_timeout_s` is generous: a loaded test machine is slow (a failure waits it out)."""
    return HeadConfig.from_dict(
        {
            "camera": {"fps": 20, "mount": "fixed"},
            "recognition": {
                "buddies_file": str(tmp_path / "buddies.json"),
                "enroll_frames": 3,
                "enroll_timeout_s": enroll_timeout_s,
            },
            "tracking": {"left_after_s": 0.5, **tracking},
        }
    )


class Rig:
    """A started head with its simulated servos and everything it told its listeners."""

    def __init__(self, head: Head, servos: SimulatedServos, camera: Camera) -> None:
        self.head, self.servos, self.camera = head, servos, camera
        self.states: list[HeadState] = []
        self.events: list[tuple[str, str]] = []
        head.add_state_listener(self.states.append)
        head.add_buddy_listener(lambda event, name: self.events.append((event, name)))


@pytest.fixture
async def rig_factory(
    tmp_path: Path, worker_encoder: FaceEncoderProcess
) -> AsyncIterator[Callable[..., asyncio.Future]]:
    rigs: list[Rig] = []

    async def make(camera: Camera | None = None, **options: object) -> Rig:
        config = head_config(tmp_path, **options)
        servos = SimulatedServos(config.servos)
        camera = camera or ScreenCamera(astronaut_frame())
        head = Head(config, camera, servos, encoder_factory=lambda: SharedEncoder(worker_encoder))
        rig = Rig(head, servos, camera)
        await head.start()
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.head.stop()


async def test_enrol_recognise_forget(rig_factory, tmp_path: Path) -> None:
    rig = await rig_factory()
    head = rig.head
    await wait_until(lambda: head.state.person == "stranger")
    assert head.state.present
    assert head.state.face_count == 1
    # Nobody is enrolled yet, so she is a sure stranger: one event for automations.
    await wait_until(lambda: ("stranger", "stranger") in rig.events)

    await head.enrol_buddy("Eileen")
    path = tmp_path / "buddies.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert head.buddies == ["Eileen"]
    with pytest.raises(HeadError, match="already enrolled as Eileen"):
        await head.enrol_buddy("Ellie")
    await wait_until(lambda: head.state.person == "Eileen")
    assert ("appeared", "Eileen") in rig.events
    assert any(s.person == "Eileen" for s in rig.states)

    rig.camera.image = messi_frame()  # Eileen leaves, Messi sits down
    await wait_until(lambda: head.state.person == "stranger")
    await wait_until(lambda: ("left", "Eileen") in rig.events)

    await head.forget_buddy("eileen")
    assert head.buddies == []
    with pytest.raises(HeadError, match="no buddy called"):
        await head.forget_buddy("Eileen")


async def test_recognition_runs_only_for_new_or_unsure_faces(rig_factory) -> None:
    rig = await rig_factory()
    await wait_until(lambda: rig.head.state.person == "stranger")
    frames_then, recognitions_then = rig.head.stats.frames, rig.head.stats.recognitions
    await wait_until(lambda: rig.head.stats.frames >= frames_then + 20)
    # Nobody is enrolled, so the stranger is a sure one: no more dlib calls for this track.
    assert rig.head.stats.recognitions == recognitions_then
    assert recognitions_then >= 1


async def test_enrol_explains_what_went_wrong(rig_factory) -> None:
    rig = await rig_factory(ScreenCamera(face_free_frames()["coffee"]), enroll_timeout_s=3)
    with pytest.raises(HeadError, match="no face was seen"):
        await rig.head.enrol_buddy("Jay")
    rig.camera.image = np.hstack([astronaut_frame()[:, 160:480], messi_frame()[:, 160:480]])
    with pytest.raises(HeadError, match="more than one face"):
        await rig.head.enrol_buddy("Jay")
    with pytest.raises(HeadError, match="cannot be a buddy"):
        await rig.head.enrol_buddy("stranger")


async def test_corrupt_buddy_file_is_kept_and_enrolment_refused(
    rig_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "buddies.json"
    path.write_text('{"version": 1, "buddies": {"Jay": [[1, 2')
    with caplog.at_level(logging.ERROR):
        rig = await rig_factory()
    assert "corrupt" in caplog.text
    await wait_until(lambda: rig.head.state.person == "stranger")
    with pytest.raises(HeadError, match="corrupt"):
        await rig.head.enrol_buddy("Eileen")
    assert path.read_text() == '{"version": 1, "buddies": {"Jay": [[1, 2'


async def test_follows_the_face_and_manual_pose_wins_for_a_while(rig_factory) -> None:
    """On the real loops; how long the manual pose holds is checked in simulated time
    (test_tracking_sim.py), not here against a wall clock."""
    rig = await rig_factory(manual_hold_s=1.0)
    head = rig.head
    # A fixed camera: the astronaut's face centre (289, 109) is 3.4 deg left and 13.6 up.
    await wait_until(lambda: abs(head.state.pan + 3.4) < 2 and abs(head.state.tilt - 13.6) < 2)
    await head.look_at(30.0, 0.0)
    await wait_until(lambda: head.state.pan == 30.0)
    await wait_until(lambda: abs(head.state.pan + 3.4) < 2)  # then back to the face

    head.set_tracking(False)
    await head.set_pan(-50.0)
    await wait_until(lambda: head.state.pan == -50.0)
    await asyncio.sleep(1.3)
    assert head.state.pan == -50.0  # tracking off: the manual pose stays
    assert not head.state.tracking


async def test_sleep_detaches_servos_and_refuses_moves(rig_factory) -> None:
    rig = await rig_factory()
    await wait_until(lambda: rig.servos.attached)
    await rig.head.set_sleep(True)
    assert not rig.servos.attached
    assert rig.head.state.asleep
    count = len(rig.servos.commands)
    with pytest.raises(HeadError, match="asleep"):
        await rig.head.look_at(10.0, 0.0)
    with pytest.raises(HeadError, match="asleep"):
        await rig.head.gesture("nod")
    await asyncio.sleep(0.5)
    assert len(rig.servos.commands) == count  # nothing moved while asleep
    await rig.head.set_sleep(False)
    await rig.head.centre()
    await wait_until(lambda: rig.servos.attached)


async def test_gestures(rig_factory) -> None:
    rig = await rig_factory()
    head = rig.head
    head.set_tracking(False)
    with pytest.raises(ValueError, match="Unknown gesture"):
        await head.gesture("moonwalk")
    start = len(rig.servos.commands)
    start_tilt = head.state.tilt
    await head.gesture("nod")
    tilts = [c.pose.tilt for c in rig.servos.commands[start:]]
    assert min(tilts) < start_tilt - 10
    start = len(rig.servos.commands)
    await head.gesture("dance")
    tilts = [c.pose.tilt for c in rig.servos.commands[start:]]
    assert max(tilts) - min(tilts) > 25  # a proper head-bang


async def test_a_dance_cut_short_returns_the_head_and_tracking_resumes(rig_factory) -> None:
    """The beat stopped (the wake word, say): the dance task is cancelled, the head glides
    back to where it started, and tracking has it again: it holds on the face."""
    rig = await rig_factory()
    head = rig.head
    # The astronaut's face is 3.4 deg left and 13.6 up (see the tracking test above).
    await wait_until(lambda: abs(head.state.pan + 3.4) < 2 and abs(head.state.tilt - 13.6) < 2)
    start = len(rig.servos.commands)
    dance = asyncio.create_task(head.dance(120.0, 15.0))

    def tilt_range() -> float:
        tilts = [c.pose.tilt for c in rig.servos.commands[start:]] or [head.state.tilt]
        return max(tilts) - min(tilts)

    await wait_until(lambda: tilt_range() > 25)  # banging away (a loaded machine is slower)
    dance.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dance
    await wait_until(lambda: abs(head.state.pan + 3.4) < 2 and abs(head.state.tilt - 13.6) < 2)
    await asyncio.sleep(0.5)  # past the glide back: nothing of the dance is left
    settled = len(rig.servos.commands)
    await asyncio.sleep(1.0)
    tilts = [c.pose.tilt for c in rig.servos.commands[settled:]] or [head.state.tilt]
    assert max(tilts) - min(tilts) < 3
    assert abs(head.state.tilt - 13.6) < 2


async def test_attention_modes_are_checked(rig_factory) -> None:
    rig = await rig_factory()
    rig.head.set_attention("listening")
    rig.head.set_attention("idle")
    with pytest.raises(ValueError, match="attention"):
        rig.head.set_attention("shouting")


async def test_snapshot_is_the_latest_frame_as_jpeg(rig_factory) -> None:
    rig = await rig_factory()
    await wait_until(lambda: rig.head.stats.frames > 0)
    jpeg = await rig.head.snapshot_jpeg()
    assert jpeg is not None
    assert jpeg[:2] == b"\xff\xd8"
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)


async def test_unplugged_camera_is_survived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = HeadConfig.from_dict(
        {
            "camera": {"source": "/dev/video-milo-unplugged"},
            "recognition": {"buddies_file": str(tmp_path / "b.json"), "enroll_timeout_s": 2},
        }
    )
    head = build_head(config)
    with caplog.at_level(logging.WARNING):
        await head.start()
        try:
            await wait_until(lambda: "not available" in caplog.text)
            assert await head.snapshot_jpeg() is None
            assert not head.state.present
            await head.look_at(20.0, 5.0)  # the head still moves on command
            await wait_until(lambda: head.state.pan == 20.0)
            with pytest.raises(HeadError, match="no camera frames"):
                await head.enrol_buddy("Jay")
        finally:
            await head.stop()


async def test_missing_camera_file_is_a_clear_error(tmp_path: Path) -> None:
    config = HeadConfig.from_dict(
        {"recognition": {"enabled": False, "buddies_file": str(tmp_path / "b.json")}}
    ).simulated(str(tmp_path / "nope.mp4"))
    head = build_head(config)
    with pytest.raises(HeadError, match=r"nope\.mp4 does not exist"):
        await head.start()


async def test_video_file_camera_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for shade in (0, 80, 160):
        writer.write(np.full((480, 640, 3), shade, np.uint8))
    writer.release()
    config = HeadConfig().simulated(str(path))
    assert config.camera.mount == "fixed"
    camera = FileCamera(replace(config.camera, fps=200.0), path)
    await camera.start()
    shades = []
    for _ in range(6):
        frame = await camera.read()
        assert frame is not None
        shades.append(round(float(frame.image.mean()) / 80))
    await camera.stop()
    assert shades == [0, 1, 2, 0, 1, 2]


async def test_live_camera_thread_keeps_the_newest_frame_and_reopens(tmp_path: Path) -> None:
    """The V4L2 reader, fed from a file: frames flow, and the end of the stream is reopened."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for shade in range(0, 250, 25):
        writer.write(np.full((240, 320, 3), shade, np.uint8))
    writer.release()
    config = HeadConfig.from_dict({"camera": {"source": str(path)}}).camera
    camera = LiveCamera(config)
    await camera.start()
    try:
        indexes = []
        for _ in range(25):  # more than the clip has: it must have been reopened
            frame = await camera.read(max_wait=5.0)
            assert frame is not None
            assert frame.size == (640, 480)  # fitted to the configured frame size
            indexes.append(frame.index)
        assert indexes == sorted(set(indexes))  # always a newer frame
    finally:
        await camera.stop()


class SwitchableCamera(ScreenCamera):
    """Knows whether it is open, and counts reads made while it is closed."""

    def __init__(self, image: np.ndarray) -> None:
        super().__init__(image)
        self.open = False
        self.opened = 0
        self.reads_while_closed = 0

    async def start(self) -> None:
        self.open = True
        self.opened += 1

    async def stop(self) -> None:
        self.open = False

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        if not self.open:
            self.reads_while_closed += 1
        return await super().read(max_wait)


async def test_the_camera_switch_really_closes_the_camera(rig_factory) -> None:
    """Off: the device is closed and never read, nobody is in view, the buddy leaves, no
    snapshot, no enrolment. On again: Milo sees and knows the buddy again."""
    camera = SwitchableCamera(astronaut_frame())
    rig = await rig_factory(camera)
    head = rig.head
    await head.enrol_buddy("Eileen")
    await wait_until(lambda: head.state.person == "Eileen")
    await head.set_camera(False)
    assert not camera.open
    await wait_until(lambda: head.state.face_count == 0 and head.state.person == "")
    assert not head.state.camera
    assert not head.state.present
    await wait_until(lambda: ("left", "Eileen") in rig.events)
    assert await head.snapshot_jpeg() is None
    with pytest.raises(HeadError, match="camera is off"):
        await head.enrol_buddy("Bob")
    await asyncio.sleep(0.5)
    assert camera.reads_while_closed == 0
    await head.set_camera(True)
    assert camera.open
    await wait_until(lambda: head.state.person == "Eileen")
    assert head.state.camera


async def test_a_camera_switched_off_before_start_is_never_opened(tmp_path: Path) -> None:
    config = head_config(tmp_path)
    camera = SwitchableCamera(astronaut_frame())
    head = Head(config, camera, SimulatedServos(config.servos), encoder_factory=None)
    await head.set_camera(False)
    await head.start()
    try:
        await asyncio.sleep(0.5)
        assert (camera.opened, camera.reads_while_closed) == (0, 0)
        assert not head.state.camera
    finally:
        await head.stop()
