"""The head: camera in, servo commands out, state and buddy events to whoever listens.

`Head` is the composition the satellite uses; each concern is its own part:

- `Vision` (vision.py): the camera, its privacy switch, and the vision loop - the newest
  frame, faces detected on a worker thread, tracks and the target;
- `MotionArbiter` (arbiter.py): who moves the head - gesture, manual pose from HA,
  tracking, idle behaviour - and the tracking setpoint from the target's face;
- `ServoLoop` (servo_loop.py): 50 Hz, woken at once by every new setpoint, sends the
  arbiter's pose through the motion limiter to the servos;
- `RecognitionScheduler` (recognition_scheduler.py): which face the worker process
  encodes next (dlib holds the GIL, so a 100 ms call never stalls the 30 fps loop), and
  enrolment;
- `Presence` (presence.py): buddy appeared / left and stranger events;
- `StatePublisher` (publisher.py): the state to its listeners, pose updates rate-limited.

`Head` wires them: each frame's faces go to the arbiter, the scheduler and presence, and
every change is published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import time

from .arbiter import MotionArbiter
from .buddies import BuddyDatabase, check_name
from .camera import Camera, Frame
from .config import HeadConfig
from .detect import Box
from .errors import HeadError
from .gestures import dance_keyframes, gesture_keyframes
from .motion import CENTRE
from .presence import Presence
from .publisher import StatePublisher
from .recognition import Encoder, FaceEncoderProcess
from .recognition_scheduler import RecognitionScheduler
from .servo_loop import ServoLoop
from .servos import ServoBackend
from .state import Attention, HeadState
from .stats import HeadStats
from .tracking import Tracker
from .vision import Vision

StateListener = Callable[[HeadState], None]
BuddyListener = Callable[[str, str], None]


class Head:
    """Milo's face-tracking pan/tilt head (see docs/head.md)."""

    def __init__(
        self,
        config: HeadConfig,
        camera: Camera,
        servos: ServoBackend,
        encoder_factory: Callable[[], Encoder] | None = FaceEncoderProcess,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._clock = clock
        self._servos = servos
        self.stats = HeadStats()
        self._buddies = BuddyDatabase(config.buddies_path)
        tracker = Tracker(config.tracking.lost_after_s)
        self._motion = MotionArbiter(config, clock)
        self._vision = Vision(
            config, camera, tracker, pose_at=self._motion.pose_at, clock=clock, stats=self.stats
        )
        self._recognition = RecognitionScheduler(
            config.recognition,
            self._buddies,
            tracker,
            encoder_factory=encoder_factory,
            on_result=self._faces_changed,
            stats=self.stats,
        )
        self._presence = Presence(self._buddies, config.tracking.left_after_s)
        self._publisher = StatePublisher(self._make_state, clock)
        self._servo_loop = ServoLoop(
            servos, self._motion, self._publisher.publish, clock, self.stats
        )
        self._tasks: list[asyncio.Task[None]] = []

    # ----- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Load buddies, open camera and servos, start both loops; the recogniser loads
        meanwhile."""
        await self._recognition.start()
        try:
            await self._vision.start()
            await self._servos.start()
        except BaseException:  # e.g. a missing camera file: release what was opened
            await self.stop()
            raise
        self._tasks = [
            asyncio.create_task(self._vision.run(self._observe), name="milo-head-vision"),
            asyncio.create_task(self._servo_loop.run(), name="milo-head-servos"),
        ]

    async def stop(self) -> None:
        """Stop the loops and release the hardware; the servos are left detached."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self._recognition.stop()
        finally:
            self._publisher.close()
            await self._vision.stop()
            try:
                await self._servo_loop.detach()
            finally:
                await self._servos.stop()

    # ----- state and listeners -----------------------------------------------------------

    @property
    def state(self) -> HeadState:
        return self._make_state()

    @property
    def buddies(self) -> list[str]:
        return self._buddies.names

    def add_state_listener(self, cb: StateListener) -> Callable[[], None]:
        """`cb(state)` on every visible change; returns the unsubscribe function."""
        return self._publisher.listeners.add(cb)

    def add_buddy_listener(self, cb: BuddyListener) -> Callable[[], None]:
        """`cb("appeared" | "left", name)` or `cb("stranger", "stranger")`; returns the
        unsubscribe function."""
        return self._presence.listeners.add(cb)

    # ----- commands ----------------------------------------------------------------------

    async def look_at(self, pan: float, tilt: float) -> None:
        """Point the head (degrees); tracking takes over again after `manual_hold_s`."""
        self._motion.look_at(pan, tilt)

    async def set_pan(self, pan: float) -> None:
        await self.look_at(pan, self._motion.aim.tilt)

    async def set_tilt(self, tilt: float) -> None:
        await self.look_at(self._motion.aim.pan, tilt)

    async def centre(self) -> None:
        await self.look_at(CENTRE.pan, CENTRE.tilt)

    def set_tracking(self, on: bool) -> None:
        self._motion.tracking = on
        self._publisher.publish()

    def set_look_around(self, on: bool) -> None:
        self._motion.look_around = on
        self._publisher.publish()

    def set_attention(self, mode: Attention) -> None:
        """While listening or speaking the head looks at the talker, tracking switch or not."""
        self._motion.set_attention(mode)

    async def set_sleep(self, on: bool) -> None:
        """Asleep: no movement at all and the servos detached (limp, silent)."""
        if not self._motion.sleep(on):
            return
        if on:
            await self._servo_loop.detach()
        self._publisher.publish()

    async def set_camera(self, on: bool) -> None:
        """The privacy switch. Off: the camera device is closed, no frame is read or
        recognised, the faces in view clear, buddies leave and the snapshot is empty, until
        it is on again. Before start() it only says whether start() opens the camera."""
        await self._vision.set_camera(on)
        self._publisher.publish()

    async def gesture(self, name: str) -> None:
        """Play nod, shake or dance; returns when done (or superseded)."""
        await self._motion.perform(gesture_keyframes(name), name)

    async def dance(self, bpm: float, seconds: float) -> None:
        """Head-bang in time to a beat of `bpm` for `seconds` (tricks.py starts both at
        once). Cancelled, because the beat was cut short, the head glides back to where it
        started; then tracking or idle have it again, as after any gesture."""
        await self._motion.perform(dance_keyframes(bpm, seconds), "dance")

    async def enrol_buddy(self, name: str) -> None:
        """Learn the one face in view as `name`, from several good frames."""
        name = check_name(name)
        if not self._vision.camera_on:
            raise HeadError("The camera is off; turn it on to enrol a buddy")
        await self._recognition.enrol(name)

    async def forget_buddy(self, name: str) -> None:
        await self._recognition.forget(name)

    async def snapshot_jpeg(self) -> bytes | None:
        return await self._vision.snapshot_jpeg()

    # ----- wiring ------------------------------------------------------------------------

    def _observe(self, boxes: list[Box], seen_at: float, frame: Frame | None) -> None:
        """One frame's detections (or none): target, setpoint, recognition, presence."""
        previous = self._vision.target_id
        target = self._vision.observe(boxes, seen_at)
        if target is None or target.id != previous:
            self._motion.retarget(lost=previous is not None and target is None)
        if frame is not None:
            if target is not None and target.last_seen == frame.captured_at:
                self._motion.steer(target.box, frame)
                self._servo_loop.steered(frame.captured_at)
            now = self._clock()
            self._recognition.feed(frame, boxes, self._vision.by_priority(), now)
        self._faces_changed()

    def _faces_changed(self) -> None:
        """The faces in view or who they are changed: presence and state follow."""
        self._presence.update(self._vision.visible, self._clock(), self._recognition.available)
        self._publisher.publish()

    def _make_state(self) -> HeadState:
        pose = self._motion.pose
        target = self._vision.target
        return HeadState(
            pan=round(pose.pan, 1),
            tilt=round(pose.tilt, 1),
            tracking=self._motion.tracking,
            look_around=self._motion.look_around,
            asleep=self._motion.asleep,
            person=target.name if target else "",
            face_count=len(self._vision.visible),
            present=bool(self._vision.visible),
            camera=self._vision.camera_on,
        )
