"""Who is it: dlib's ResNet face descriptor, with the weights from face_recognition_models.

This is exactly the computation `face_recognition.face_encodings` does (5-point landmarks,
then the 128-d descriptor of a 150 px face chip, one jitter), called on dlib directly: the
face box comes from our own detector (no second detection), and importing the
`face_recognition` package is a trap (if its models package is missing or broken it
prints a hint and calls quit(), so a process "succeeds" with exit code 0 having
recognised nobody). Here a missing piece is a HeadError saying what to install.

dlib holds Python's GIL for the whole descriptor (40 ms with BLAS, ~200 ms without),
which would freeze the event loop - the 30 fps tracking, the servos, the voice pipeline - on
every recognition. So the head runs it in a worker process (`FaceEncoderProcess`) and sends
it only the face with a little context around it: tens of kilobytes, not the frame.

The descriptor's convolutions are matrix products: a dlib built against OpenBLAS (`pip
install dlib` with libopenblas-dev present) computes the same vector about 5x faster than
one without, such as the prebuilt `dlib-bin` wheels; a dlib without BLAS is logged.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
import logging
import multiprocessing
import os
from pathlib import Path
import threading
import time
from typing import Any, Protocol

import cv2
import numpy as np

from .buddies import BuddyDatabase
from .config import RecognitionConfig
from .detect import Box
from .errors import HeadError
from .state import STRANGER
from .tracking import Identity

_LOGGER = logging.getLogger(__name__)

_MARGIN = 0.5  # face widths of context around the box for the landmark model
# dlib describes a 150 px chip in which the face is ~100 px wide; a face much larger than
# that is shrunk first (the worker gets a small crop, and nothing dlib uses is lost).
MAX_FACE_PX = 200
# The worker is background work: where it shares a core with the tracking loop, the
# loop wins (a recognition may take longer; the head must not stutter).
WORKER_NICENESS = 5
PARENT_POLL_S = 1.0  # how soon an orphaned worker notices

Rect = tuple[int, int, int, int]  # left, top, right, bottom


class Encoder(Protocol):
    """What the head needs: a face in a frame -> 128 numbers (blocking; run on a thread)."""

    def encode(self, image: np.ndarray, box: Box) -> np.ndarray: ...

    def close(self) -> None: ...


def face_crop(image: np.ndarray, box: Box) -> tuple[np.ndarray, Rect]:
    """The face with half a face width of context, as RGB, and the face's box within it.

    Everything dlib looks at is in here: landmarks and the face chip never reach further.
    A face closer than it needs to be is scaled down to MAX_FACE_PX.
    """
    height, width = image.shape[:2]
    margin = _MARGIN * max(box.w, box.h)
    region = Box(box.x - margin, box.y - margin, box.w + 2 * margin, box.h + 2 * margin)
    left, top, right, bottom = region.clipped(width, height)
    crop = image[top:bottom, left:right]
    face_l, face_t, face_r, face_b = box.clipped(width, height)
    face = (face_l - left, face_t - top, face_r - left, face_b - top)
    scale = MAX_FACE_PX / max(box.w, box.h)
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        face = (
            round(face[0] * scale),
            round(face[1] * scale),
            round(face[2] * scale),
            round(face[3] * scale),
        )
    return np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)), face


class FaceEncoder:
    """dlib in this process: turns a face into a 128-d vector; same person = small distance."""

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
        if not dlib.DLIB_USE_BLAS:
            _LOGGER.info(
                "dlib %s was built without BLAS: each recognition takes ~5x longer than with "
                "a dlib built against OpenBLAS (see docs/head.md)",
                dlib.__version__,
            )
        self._dlib: Any = dlib
        self._landmarks = dlib.shape_predictor(str(landmarks))
        self._network = dlib.face_recognition_model_v1(str(network))
        self.calls = 0  # descriptors computed; lets tests and stats see dlib ran

    def encode(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The descriptor of the face in `box` of a BGR frame."""
        return self.encode_crop(*face_crop(image, box))

    def encode_crop(self, crop: np.ndarray, face: Rect) -> np.ndarray:
        """The descriptor of the face at `face` in an RGB crop (see `face_crop`)."""
        shape = self._landmarks(crop, self._dlib.rectangle(*face))
        descriptor = self._network.compute_face_descriptor(crop, shape, 1)
        self.calls += 1
        return np.asarray(descriptor, dtype=np.float64)

    def close(self) -> None:
        """Nothing to release; the models go with the object."""


class FaceEncoderProcess:
    """`FaceEncoder` in a worker process, so dlib's GIL hold never stalls the event loop.

    The worker starts at construction (loading the models takes about a second; a missing
    dlib is a HeadError right here) and is restarted if it dies (killed for memory, say).
    Blocking calls, `close` included (it lets a running encoding finish): use a thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._pool: ProcessPoolExecutor | None = None
        self.calls = 0
        self.cpu_ms: deque[float] = deque(maxlen=1000)  # worker CPU time per encoding
        self.worker_pid = self._start()

    def _start(self) -> int:
        # spawn, not fork: forking a process that runs threads (camera, event loop) can
        # copy a lock in a held state into the child.
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            pid: int = self._submit(_worker_load).result()
        except BaseException:  # HeadError from the worker (no dlib), or a crash
            self._shutdown()
            raise
        return pid

    def _submit(self, fn: Any, *args: Any) -> Future[Any]:
        assert self._pool is not None
        return self._pool.submit(fn, *args)

    def encode(self, image: np.ndarray, box: Box) -> np.ndarray:
        crop, face = face_crop(image, box)
        with self._lock:  # one face at a time: the worker has one core's worth of work
            if self._closed:
                raise HeadError("Face recognition has been stopped")
            try:
                if self._pool is None:
                    self.worker_pid = self._start()
                encoding, cpu_s = self._submit(_worker_encode, crop, face).result()
            except BrokenProcessPool:
                _LOGGER.warning("The face recognition worker died; starting a new one")
                self._shutdown()
                raise HeadError("The face recognition worker died (restarting it)") from None
        self.calls += 1
        self.cpu_ms.append(cpu_s * 1000)
        return encoding

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._shutdown()

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class SharedEncoder:
    """One encoder lent to several heads in turn (tests, the benchmark): a head's stop()
    closes what its factory gave it, and must not end a worker the next head uses."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder

    def encode(self, image: np.ndarray, box: Box) -> np.ndarray:
        return self._encoder.encode(image, box)

    def close(self) -> None:
        """The lender closes the encoder."""


_worker_encoder: FaceEncoder | None = None


def _worker_load() -> int:
    """Runs first in the worker: load the models (HeadError travels back if it cannot)."""
    global _worker_encoder  # noqa: PLW0603 - one encoder per worker process
    if _worker_encoder is None:
        threading.Thread(
            target=_exit_with_parent, args=(os.getppid(),), name="parent watch", daemon=True
        ).start()
        os.nice(WORKER_NICENESS)
        # One BLAS thread: recognition is background work, the cores belong to the loop.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        _worker_encoder = FaceEncoder()
    return os.getpid()


def _exit_with_parent(parent: int) -> None:
    """End the worker (about 110 MB) when the satellite is gone, even SIGKILLed: nothing
    else would, and its exit also lets multiprocessing's resource tracker end."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def _worker_encode(crop: np.ndarray, face: Rect) -> tuple[np.ndarray, float]:
    """The encoding, and the CPU seconds it took (the cost, whatever else the core did;
    the whole process's, in case a BLAS library adds threads)."""
    _worker_load()
    assert _worker_encoder is not None
    started = time.process_time()
    encoding = _worker_encoder.encode_crop(crop, face)
    return encoding, time.process_time() - started


def identify(encoding: np.ndarray, buddies: BuddyDatabase, config: RecognitionConfig) -> Identity:
    """Buddy or stranger, and whether the distance leaves room for doubt."""
    name, distance = buddies.match(encoding)
    if distance <= config.tolerance:
        return Identity(name, distance, sure=distance <= config.sure)
    # As far above the threshold as `sure` is below it counts as a sure stranger.
    sure_stranger = distance >= 2 * config.tolerance - config.sure
    return Identity(STRANGER, distance, sure=sure_stranger)
