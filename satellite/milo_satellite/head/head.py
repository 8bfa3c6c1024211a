"""The head: camera in, servo commands out, state and buddy events to whoever listens.

Two loops run on the event loop. The vision loop takes the newest frame, detects faces on
a worker thread, updates tracks and picks the target, and computes a tracking setpoint
from the pose the head had when that frame was captured. The servo loop (50 Hz, and
woken at once by every new setpoint) decides what the head should do now - sleep,
gesture, a manual pose from HA, tracking, or idle behaviour - and moves it there through
the motion limiter. Recognition runs for new or unsure tracks only, in a worker process
(dlib holds the GIL), so a 100 ms dlib call never stalls the 30 fps loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
import contextlib
from dataclasses import dataclass, field, replace
import logging
import math
import time
from typing import Any

import cv2
import numpy as np

from .buddies import BuddyDatabase, check_name
from .camera import Camera, Frame
from .config import HeadConfig
from .control import IdleBehaviour, Motion, TrackingController, reproject
from .detect import Box, FaceDetector
from .enrol import Enrolment
from .errors import HeadError
from .gestures import RETURN_S, Keyframe, dance_keyframes, gesture_keyframes
from .motion import CENTRE, MotionLimiter, Pose, PoseHistory
from .recognition import Encoder, FaceEncoderProcess, identify
from .servos import ServoBackend
from .state import ATTENTION_MODES, STRANGER, HeadState
from .tracking import Identity, Track, Tracker, select_target

_LOGGER = logging.getLogger(__name__)

SERVO_RATE_HZ = 50.0
MIN_MOVE_DEG = 0.1  # smaller changes are not sent to the servos
STATE_INTERVAL_S = 0.2  # pose-only state updates are published at most this often
JPEG_QUALITY = 85
STALE_FRAME_S = 3.0  # an older latest frame means the camera is gone
CAMERA_OFF_POLL_S = 0.25  # with the camera off, how often faces and buddies age out

StateListener = Callable[[HeadState], None]
BuddyListener = Callable[[str, str], None]


@dataclass
class HeadStats:
    """Loop figures for the debug log and the benchmark."""

    frames: int = 0
    recognitions: int = 0
    detect_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    recognition_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))


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
        self._config = config
        self._camera = camera
        self._servos = servos
        self._encoder_factory = encoder_factory if config.recognition.enabled else None
        self._encoder: Encoder | None = None
        self._encoder_loading: asyncio.Task[None] | None = None
        self._clock = clock
        now = clock()

        self._detector = FaceDetector(config.detection)
        self._tracker = Tracker(config.tracking.lost_after_s)
        self._controller = TrackingController(config.tracking, config.camera, config.servos)
        self._idle = IdleBehaviour(config.tracking, config.servos)
        self._limiter = MotionLimiter(config.servos.pan, config.servos.tilt, now)
        self._history = PoseHistory()
        self._buddies = BuddyDatabase(config.buddies_path)

        self._tracking = config.tracking.enabled
        self._look_around = config.tracking.look_around
        self._asleep = False
        self._camera_on = True
        self._camera_lock = asyncio.Lock()
        self._started = False
        self._attention = "idle"
        self._target_id: int | None = None
        self._visible: list[Track] = []
        self._track_setpoint: Pose | None = None
        self._last_frame_at: float | None = None
        self._previous_capture: float | None = None
        self._idle_since = now
        self._manual: Pose | None = None
        self._manual_at = now
        self._gesture_pose: Pose | None = None
        self._gesture_generation = 0
        self._written: Pose | None = None
        self._pending_capture: float | None = None
        self._latest_frame: Frame | None = None
        self._present_buddies: dict[str, float] = {}
        self._enrolment: Enrolment | None = None
        self._enrolment_done: asyncio.Event | None = None
        self._recognising = False

        self._state = self._make_state()
        self._published_at = -math.inf
        self._deferred_publish: asyncio.TimerHandle | None = None
        self._state_listeners: list[StateListener] = []
        self._buddy_listeners: list[BuddyListener] = []
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._vision_pool: ThreadPoolExecutor | None = None
        self._recognition_pool: ThreadPoolExecutor | None = None
        self.stats = HeadStats()

    # ----- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open camera and servos, load buddies, start both loops; the recogniser loads
        meanwhile (its worker takes a few seconds to start; the head need not wait)."""
        self._vision_pool = ThreadPoolExecutor(1, thread_name_prefix="milo-vision")
        self._recognition_pool = ThreadPoolExecutor(1, thread_name_prefix="milo-recognition")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._recognition_pool, self._buddies.load)
        if self._encoder_factory is not None:
            self._encoder_loading = asyncio.create_task(
                self._load_encoder(self._encoder_factory), name="milo-head-recogniser"
            )
        try:
            async with self._camera_lock:
                if self._camera_on:
                    await self._camera.start()
                self._started = True
            await self._servos.start()
        except BaseException:  # e.g. a missing camera file: release what was opened
            await self.stop()
            raise
        self._tasks = [
            asyncio.create_task(self._vision_loop(), name="milo-head-vision"),
            asyncio.create_task(self._servo_loop(), name="milo-head-servos"),
        ]

    async def _load_encoder(self, factory: Callable[[], Encoder]) -> None:
        try:
            self._encoder = await asyncio.get_running_loop().run_in_executor(
                self._recognition_pool, factory
            )
        except HeadError as err:
            _LOGGER.error("Face recognition is off: %s", err)  # noqa: TRY400
        except Exception:
            _LOGGER.exception("Face recognition is off: its worker did not start")

    async def stop(self) -> None:
        """Stop the loops and release the hardware; the servos are left detached."""
        if self._encoder_loading is not None:
            # Not cancelled: a worker that starts after stop() would be left running.
            await self._encoder_loading
        tasks, self._tasks = self._tasks, []
        for task in [*tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*tasks, *self._background, return_exceptions=True)
        if self._deferred_publish is not None:
            self._deferred_publish.cancel()
        await self._camera.stop()
        try:
            await self._servos.detach()
        finally:
            await self._servos.stop()
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            await asyncio.to_thread(encoder.close)  # waits for a running recognition
        for pool in (self._vision_pool, self._recognition_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    # ----- state and listeners -----------------------------------------------------------

    @property
    def state(self) -> HeadState:
        return self._make_state()

    @property
    def buddies(self) -> list[str]:
        return self._buddies.names

    def add_state_listener(self, cb: StateListener) -> Callable[[], None]:
        """`cb(state)` on every visible change; returns the unsubscribe function."""
        return _subscribe(self._state_listeners, cb)

    def add_buddy_listener(self, cb: BuddyListener) -> Callable[[], None]:
        """`cb("appeared" | "left", name)` or `cb("stranger", "stranger")`; returns the
        unsubscribe function."""
        return _subscribe(self._buddy_listeners, cb)

    # ----- commands ----------------------------------------------------------------------

    async def look_at(self, pan: float, tilt: float) -> None:
        """Point the head (degrees); tracking takes over again after `manual_hold_s`."""
        if not (math.isfinite(pan) and math.isfinite(tilt)):
            raise HeadError("look_at needs finite pan and tilt angles")
        self._awake("move")
        self._manual = self._limiter.clamp(Pose(pan, tilt))
        self._manual_at = self._clock()
        self._kick.set()

    async def set_pan(self, pan: float) -> None:
        current = self._manual or self._limiter.pose
        await self.look_at(pan, current.tilt)

    async def set_tilt(self, tilt: float) -> None:
        current = self._manual or self._limiter.pose
        await self.look_at(current.pan, tilt)

    async def center(self) -> None:
        await self.look_at(CENTRE.pan, CENTRE.tilt)

    def set_tracking(self, on: bool) -> None:
        self._tracking = on
        self._publish()

    def set_look_around(self, on: bool) -> None:
        self._look_around = on
        self._publish()

    async def set_sleep(self, on: bool) -> None:
        """Asleep: no movement at all and the servos detached (limp, silent)."""
        if on == self._asleep:
            return
        self._asleep = on
        self._gesture_generation += 1
        self._gesture_pose = None
        self._manual = None
        if on:
            await self._servos.detach()
            self._written = None
        else:
            self._idle_since = self._clock()
            self._kick.set()
        self._publish()

    async def set_camera(self, on: bool) -> None:
        """The privacy switch. Off: the camera device is closed, no frame is read or
        recognised, the faces in view clear, buddies leave and the snapshot is empty, until
        it is on again. Before start() it only says whether start() opens the camera."""
        async with self._camera_lock:
            if on == self._camera_on:
                return
            if self._started:
                if on:
                    await self._camera.start()
                else:
                    await self._camera.stop()
                    self._latest_frame = None
            self._camera_on = on
            _LOGGER.info("Camera %s", "on" if on else "off: nothing is captured")
        self._publish()

    async def gesture(self, name: str) -> None:
        """Play nod, shake or dance; returns when done (or superseded)."""
        await self._perform(gesture_keyframes(name), name)

    async def dance(self, bpm: float, seconds: float) -> None:
        """Head-bang in time to a beat of `bpm` for `seconds` (tricks.py starts both at
        once). Cancelled, because the beat was cut short, the head glides back to where it
        started; then tracking or idle have it again, as after any gesture."""
        await self._perform(dance_keyframes(bpm, seconds), "dance")

    async def _perform(self, keyframes: list[Keyframe], what: str) -> None:
        """Keyframes relative to the pose now, each due at its time from the start: a
        long dance keeps the beat's time (sleeping each step's length drifts by the lag)."""
        self._awake(what)
        start = self._limiter.pose
        self._gesture_generation += 1
        generation = self._gesture_generation
        loop = asyncio.get_running_loop()
        due = loop.time()
        finished = False
        try:
            for key in keyframes:
                if generation != self._gesture_generation:
                    return
                self._gesture_pose = Pose(start.pan + key.pan, start.tilt + key.tilt)
                self._kick.set()
                due += key.seconds
                await asyncio.sleep(max(0.0, due - loop.time()))
            finished = True
        finally:
            if generation == self._gesture_generation:
                # Cut short: back to the start first (no awaiting here, it may be cancelled).
                self._gesture_pose = None if finished else start
                if not finished:
                    loop.call_later(RETURN_S, self._end_gesture, generation)
                self._kick.set()

    def _end_gesture(self, generation: int) -> None:
        if generation == self._gesture_generation:
            self._gesture_pose = None
            self._kick.set()

    def set_attention(self, mode: str) -> None:
        """While listening or speaking the head looks at the talker, tracking switch or not."""
        if mode not in ATTENTION_MODES:
            raise ValueError(f"Unknown attention mode {mode!r}; use one of {ATTENTION_MODES}")
        self._attention = mode
        self._kick.set()

    async def enroll_buddy(self, name: str) -> None:
        """Learn the one face in view as `name`, from several good frames."""
        name = check_name(name)
        if not self._camera_on:
            raise HeadError("The camera is off; turn it on to enrol a buddy")
        if self._buddies.error is not None:
            raise HeadError(self._buddies.error)
        if self._encoder_loading is not None:
            await asyncio.shield(self._encoder_loading)
        if self._encoder is None:
            raise HeadError("Face recognition is not available (see the log), so no enrolment")
        if self._enrolment is not None:
            raise HeadError("An enrolment is already running")
        enrolment = Enrolment(self._config.recognition.enroll_frames)
        self._enrolment, self._enrolment_done = enrolment, asyncio.Event()
        try:
            async with asyncio.timeout(self._config.recognition.enroll_timeout_s):
                await self._enrolment_done.wait()
        except TimeoutError:
            raise HeadError(enrolment.failure()) from None
        finally:
            self._enrolment = self._enrolment_done = None
        encodings = enrolment.encodings()
        other, distance = self._buddies.match(encodings.mean(axis=0))
        same_name = other.casefold() == name.casefold()
        if other != STRANGER and not same_name and distance <= self._config.recognition.sure:
            raise HeadError(f"This face is already enrolled as {other}")
        await asyncio.get_running_loop().run_in_executor(
            self._recognition_pool, self._buddies.add, name, encodings
        )
        self._tracker.forget_identities()
        _LOGGER.info("Enrolled buddy %s from %d frames", name, len(encodings))

    async def forget_buddy(self, name: str) -> None:
        await asyncio.get_running_loop().run_in_executor(
            self._recognition_pool, self._buddies.remove, name
        )
        self._tracker.forget_identities()
        _LOGGER.info("Forgot buddy %s", name.strip())

    async def snapshot_jpeg(self) -> bytes | None:
        frame = self._latest_frame
        if frame is None:
            return None
        ok, data = await asyncio.to_thread(
            cv2.imencode, ".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        return bytes(data) if ok else None

    # ----- vision ------------------------------------------------------------------------

    async def _vision_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if not self._camera_on:
                    await asyncio.sleep(CAMERA_OFF_POLL_S)  # faces age out, buddies leave
                    self._no_frame()
                    continue
                frame = await self._camera.read(max_wait=1.0)
                if frame is None or not self._camera_on:  # switched off while it waited
                    self._no_frame()
                    continue
                tracked = self._expected_faces(frame)
                started = time.perf_counter()
                boxes = await loop.run_in_executor(
                    self._vision_pool, self._detector.find, frame.image, tracked
                )
                self.stats.detect_ms.append((time.perf_counter() - started) * 1000)
                self.stats.frames += 1
                self._latest_frame = frame
                self._observe(boxes, frame.captured_at, frame)
            except Exception:  # one bad frame must not blind Milo for good
                _LOGGER.exception("Processing a camera frame failed")
                await asyncio.sleep(1.0)

    def _no_frame(self) -> None:
        """No frame in time: faces age out, and a stale picture is not served as a snapshot."""
        now = self._clock()
        frame = self._latest_frame
        if frame is not None and now - frame.captured_at > STALE_FRAME_S:
            self._latest_frame = None
        self._observe([], now, None)

    def _expected_faces(self, frame: Frame) -> list[Box]:
        """Where the tracked faces should be in `frame`, allowing for the head's own turn."""
        previous, self._previous_capture = self._previous_capture, frame.captured_at
        if self._config.camera.mount == "head" and previous is not None:
            before = self._history.at(previous, self._limiter.pose)
            after = self._history.at(frame.captured_at, self._limiter.pose)
            if before != after:
                fov = (self._config.camera.hfov, self._config.camera.vfov)
                self._tracker.shift(lambda box: reproject(box, before, after, frame.size, fov))
        return [track.box for track in self._tracker.tracks]

    def _observe(self, boxes: list[Box], seen_at: float, frame: Frame | None) -> None:
        """Update tracks, target and setpoint from one frame's detections (or none)."""
        now = self._clock()
        self._visible = self._tracker.update(boxes, seen_at if frame else now)
        target = select_target(self._visible, self._target_id)
        if target is None or target.id != self._target_id:
            self._controller.reset()
            self._track_setpoint = None
            self._last_frame_at = None
            if self._target_id is not None and target is None:
                self._idle_since = now
        self._target_id = target.id if target else None
        if frame is not None:
            if target is not None and target.last_seen == frame.captured_at:
                self._steer(target, frame)
            self._feed_recognition(frame, boxes, now)
        self._update_buddies(now)
        self._publish()

    def _steer(self, target: Track, frame: Frame) -> None:
        x, y = target.box.center
        pose_then = self._history.at(frame.captured_at, self._limiter.pose)
        direction = self._controller.face_direction(x, y, frame.size, pose_then)
        previous = self._last_frame_at
        dt = 1.0 / self._config.camera.fps if previous is None else frame.captured_at - previous
        self._last_frame_at = frame.captured_at
        self._track_setpoint = self._controller.update(direction, self._limiter.pose, dt)
        self._pending_capture = frame.captured_at
        self._kick.set()

    # ----- recognition -------------------------------------------------------------------

    def _feed_recognition(self, frame: Frame, boxes: list[Box], now: float) -> None:
        if self._recognising:
            return
        enrolment = self._enrolment
        if enrolment is not None:
            box = enrolment.check(frame, boxes)
            if box is not None:
                self._run_recognition(self._enrol_frame(enrolment, frame, box))
            return
        cfg = self._config.recognition
        ordered = sorted(self._visible, key=lambda t: t.id != self._target_id)
        for track in ordered:
            if not track.needs_recognition(now, cfg):
                continue
            if self._encoder is None:
                if self._encoder_loading is not None and not self._encoder_loading.done():
                    return  # recognition is still starting: nobody is called anything yet
                track.identity = Identity(STRANGER, math.inf, sure=True)
                continue
            track.pending = True
            track.attempts += 1
            track.last_attempt = now
            self._run_recognition(self._recognise(track.id, frame, track.box))
            return

    def _run_recognition(self, job: Coroutine[Any, Any, None]) -> None:
        self._recognising = True
        task = asyncio.create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _encode(self, frame: Frame, box: Box) -> np.ndarray:
        assert self._encoder is not None
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._recognition_pool, self._encoder.encode, frame.image, box
            )
        finally:
            self._recognising = False
            self.stats.recognitions += 1
            self.stats.recognition_ms.append((time.perf_counter() - started) * 1000)

    async def _recognise(self, track_id: int, frame: Frame, box: Box) -> None:
        identity: Identity | None = None
        try:
            encoding = await self._encode(frame, box)
            identity = identify(encoding, self._buddies, self._config.recognition)
        except Exception:
            _LOGGER.exception("Face recognition failed")
        track = self._tracker.get(track_id)
        if track is None:
            return
        track.pending = False
        if identity is not None:
            track.adopt(identity)
        self._update_buddies(self._clock())
        self._publish()

    async def _enrol_frame(self, enrolment: Enrolment, frame: Frame, box: Box) -> None:
        try:
            encoding = await self._encode(frame, box)
        except Exception:
            _LOGGER.exception("Encoding an enrolment frame failed")
            return
        enrolment.add(frame, encoding)
        if enrolment.done and self._enrolment is enrolment and self._enrolment_done:
            self._enrolment_done.set()

    def _update_buddies(self, now: float) -> None:
        """Fire `appeared` when a buddy is recognised, `left` when unseen for a while, and
        `stranger` when a face Milo is sure it doesn't know arrives after none was in view
        for as long (an unsure one may be a buddy at a bad angle, and without recognition
        everyone is "stranger": neither fires it)."""
        for track in self._visible:
            if track.is_buddy:
                if track.name not in self._present_buddies:
                    self._emit_buddy("appeared", track.name)
                self._present_buddies[track.name] = now
            elif self._encoder is not None and track.identity is not None and track.identity.sure:
                if STRANGER not in self._present_buddies:
                    self._emit_buddy("stranger", STRANGER)
                self._present_buddies[STRANGER] = now
        left_after = self._config.tracking.left_after_s
        for name, seen in list(self._present_buddies.items()):
            if name == STRANGER:
                if now - seen > left_after:
                    del self._present_buddies[name]
            elif now - seen > left_after or name not in self._buddies.names:
                del self._present_buddies[name]
                self._emit_buddy("left", name)

    def _emit_buddy(self, event: str, name: str) -> None:
        _LOGGER.info("Buddy %s %s", name, event)
        for cb in list(self._buddy_listeners):
            try:
                cb(event, name)
            except Exception:
                _LOGGER.exception("Buddy listener failed")

    # ----- motion ------------------------------------------------------------------------

    async def _servo_loop(self) -> None:
        period = 1.0 / SERVO_RATE_HZ
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the event, and stop() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._kick.wait()
            self._kick.clear()
            if self._asleep:
                continue
            try:
                await self._servo_step()
            except Exception:
                _LOGGER.exception("Moving the servos failed")
                await asyncio.sleep(1.0)

    async def _servo_step(self) -> None:
        now = self._clock()
        motion = self._desired_motion(now)
        pose = self._limiter.step(motion.pose, now, motion.speed)
        self._history.add(now, pose)
        if self._written is not None and pose.distance(self._written) < MIN_MOVE_DEG:
            return
        await self._servos.move(pose)
        self._written = pose
        if self._pending_capture is not None:
            self.stats.latency_ms.append((self._clock() - self._pending_capture) * 1000)
            self._pending_capture = None
        self._publish()

    def _following(self) -> bool:
        return self._tracking or self._attention != "idle"

    def _desired_motion(self, now: float) -> Motion:
        """Who gets to move the head: gesture > manual > tracking > idle behaviour."""
        if self._gesture_pose is not None:
            return Motion(self._gesture_pose)
        following = self._following()
        if self._manual is not None:
            if not following or now - self._manual_at < self._config.tracking.manual_hold_s:
                return Motion(self._manual)
            self._manual = None
            self._idle_since = now
        if following and self._track_setpoint is not None:
            return Motion(self._track_setpoint)
        if not following and not self._look_around:
            return Motion(self._limiter.pose)
        look_around = self._look_around and self._attention == "idle"
        return self._idle.motion(self._idle_since, now, self._limiter.pose, look_around)

    def _awake(self, what: str) -> None:
        if self._asleep:
            raise HeadError(f"Milo is asleep; turn sleep off to {what}")

    # ----- publishing --------------------------------------------------------------------

    def _make_state(self) -> HeadState:
        pose = self._limiter.pose
        target = next((t for t in self._visible if t.id == self._target_id), None)
        return HeadState(
            pan=round(pose.pan, 1),
            tilt=round(pose.tilt, 1),
            tracking=self._tracking,
            look_around=self._look_around,
            asleep=self._asleep,
            person=target.name if target else "",
            face_count=len(self._visible),
            present=bool(self._visible),
            camera=self._camera_on,
        )

    def _publish(self) -> None:
        state = self._make_state()
        if state == self._state:
            return
        pose_only = replace(state, pan=self._state.pan, tilt=self._state.tilt) == self._state
        now = self._clock()
        wait = self._published_at + STATE_INTERVAL_S - now
        if pose_only and wait > 0:
            if self._deferred_publish is None:
                loop = asyncio.get_running_loop()
                self._deferred_publish = loop.call_later(wait, self._deferred)
            return
        self._state = state
        self._published_at = now
        for cb in list(self._state_listeners):
            try:
                cb(state)
            except Exception:
                _LOGGER.exception("State listener failed")

    def _deferred(self) -> None:
        self._deferred_publish = None
        self._publish()


def _subscribe(listeners: list[Any], cb: Any) -> Callable[[], None]:
    listeners.append(cb)

    def unsubscribe() -> None:
        if cb in listeners:
            listeners.remove(cb)

    return unsubscribe
