"""What the one face encoder works on, frame by frame: an enrolment's frames, else the new
or unsure faces in view (the target first), one at a time.

dlib takes about 100 ms a face, in a worker process (it holds the GIL), so at most one
encoding is in flight and a frame that arrives meanwhile is not queued: the next free
frame is newer anyway. The encoder loads in the background after start(); until it is
up nobody is named, and if it fails, everyone is a stranger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
import logging
import math
import time
from typing import Any

import numpy as np

from .buddies import BuddyDatabase
from .camera import Frame
from .config import RecognitionConfig
from .detect import Box
from .enrol import Enrolment
from .errors import HeadError
from .recognition import Encoder, identify
from .state import STRANGER
from .stats import HeadStats
from .tracking import Identity, Track, Tracker

_LOGGER = logging.getLogger(__name__)


class RecognitionScheduler:
    """Runs recognition and enrolment on the encoder; `on_result()` after each recognition."""

    def __init__(
        self,
        config: RecognitionConfig,
        buddies: BuddyDatabase,
        tracker: Tracker,
        *,
        encoder_factory: Callable[[], Encoder] | None,
        on_result: Callable[[], None],
        stats: HeadStats,
    ) -> None:
        self._config = config
        self._buddies = buddies
        self._tracker = tracker
        self._encoder_factory = encoder_factory if config.enabled else None
        self._on_result = on_result
        self._stats = stats
        self._encoder: Encoder | None = None
        self._loading: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._busy = False
        self._jobs: set[asyncio.Task[None]] = set()
        self._enrolment: Enrolment | None = None
        self._enrolment_done: asyncio.Event | None = None

    @property
    def available(self) -> bool:
        """The encoder is up: a face nobody knows is a stranger, not just unknown yet."""
        return self._encoder is not None

    async def start(self) -> None:
        """Load the buddies; the encoder loads meanwhile (its worker takes a few seconds to
        start; the head need not wait)."""
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="milo-recognition")
        await asyncio.get_running_loop().run_in_executor(self._pool, self._buddies.load)
        if self._encoder_factory is not None:
            self._loading = asyncio.create_task(
                self._load(self._encoder_factory), name="milo-head-recogniser"
            )

    async def _load(self, factory: Callable[[], Encoder]) -> None:
        try:
            self._encoder = await asyncio.get_running_loop().run_in_executor(self._pool, factory)
        except HeadError as err:
            _LOGGER.error("Face recognition is off: %s", err)  # noqa: TRY400
        except Exception:
            _LOGGER.exception("Face recognition is off: its worker did not start")

    async def stop(self) -> None:
        if self._loading is not None:
            # Not cancelled: a worker that starts after stop() would be left running.
            await self._loading
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            await asyncio.to_thread(encoder.close)  # waits for a running recognition
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def feed(self, frame: Frame, boxes: list[Box], tracks: list[Track], now: float) -> None:
        """Offer a frame: to the enrolment if one runs, else for the first of `tracks`
        (in priority order) that needs recognising."""
        if self._busy:
            return
        enrolment = self._enrolment
        if enrolment is not None:
            box = enrolment.check(frame, boxes)
            if box is not None:
                self._run(self._enrol_frame(enrolment, frame, box))
            return
        for track in tracks:
            if not track.needs_recognition(now, self._config):
                continue
            if self._encoder is None:
                if self._loading is not None and not self._loading.done():
                    return  # recognition is still starting: nobody is called anything yet
                track.identity = Identity(STRANGER, math.inf, sure=True)
                continue
            track.pending = True
            track.attempts += 1
            track.last_attempt = now
            self._run(self._recognise(track.id, frame, track.box))
            return

    def _run(self, job: Coroutine[Any, Any, None]) -> None:
        self._busy = True
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _encode(self, frame: Frame, box: Box) -> np.ndarray:
        assert self._encoder is not None
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, self._encoder.encode, frame.image, box
            )
        finally:
            self._busy = False
            self._stats.recognitions += 1
            self._stats.recognition_ms.append((time.perf_counter() - started) * 1000)

    async def _recognise(self, track_id: int, frame: Frame, box: Box) -> None:
        identity: Identity | None = None
        try:
            encoding = await self._encode(frame, box)
            identity = identify(encoding, self._buddies, self._config)
        except Exception:
            _LOGGER.exception("Face recognition failed")
        track = self._tracker.get(track_id)
        if track is None:
            return
        track.pending = False
        if identity is not None:
            track.adopt(identity)
        self._on_result()

    async def _enrol_frame(self, enrolment: Enrolment, frame: Frame, box: Box) -> None:
        try:
            encoding = await self._encode(frame, box)
        except Exception:
            _LOGGER.exception("Encoding an enrolment frame failed")
            return
        enrolment.add(frame, encoding)
        if enrolment.done and self._enrolment is enrolment and self._enrolment_done:
            self._enrolment_done.set()

    async def enrol(self, name: str) -> None:
        """Learn the one face in view as `name` (checked), from several good frames."""
        if self._buddies.error is not None:
            raise HeadError(self._buddies.error)
        if self._loading is not None:
            await asyncio.shield(self._loading)
        if self._encoder is None:
            raise HeadError("Face recognition is not available (see the log), so no enrolment")
        if self._enrolment is not None:
            raise HeadError("An enrolment is already running")
        enrolment = Enrolment(self._config.enroll_frames)
        self._enrolment, self._enrolment_done = enrolment, asyncio.Event()
        try:
            async with asyncio.timeout(self._config.enroll_timeout_s):
                await self._enrolment_done.wait()
        except TimeoutError:
            raise HeadError(enrolment.failure()) from None
        finally:
            self._enrolment = self._enrolment_done = None
        encodings = enrolment.encodings()
        other, distance = self._buddies.match(encodings.mean(axis=0))
        same_name = other.casefold() == name.casefold()
        if other != STRANGER and not same_name and distance <= self._config.sure:
            raise HeadError(f"This face is already enrolled as {other}")
        await asyncio.get_running_loop().run_in_executor(
            self._pool, self._buddies.add, name, encodings
        )
        self._tracker.forget_identities()
        _LOGGER.info("Enrolled buddy %s from %d frames", name, len(encodings))

    async def forget(self, name: str) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._buddies.remove, name)
        self._tracker.forget_identities()
        _LOGGER.info("Forgot buddy %s", name.strip())
