"""The head's vision loop on ONE core: frames per second, capture-to-servo latency, recognition.

Milo's loop is the real `Head` (detect near tracked faces + periodic full scans, tracking,
target choice, control, motion limiter, simulated servos, dlib recognition of new tracks
in its worker process) fed from a synthetic video: a real face (the astronaut's) moving
across a real photo, with sensor noise. It runs twice per frame size: as fast as frames
can be taken (the most it can do) and paced like a 30 fps camera (what it costs). The
peer, measured in the same run on the same frames, is the original Milo's approach:
face_recognition's HOG detector plus a 128-d encoding of every face on every frame.
Milo's loop is also run with a full Haar scan on every frame, to show what searching
near tracked faces saves. Finally, on two cores (a Pi has four), the recognition worker
is compared with dlib on a thread, as it was before: dlib holds the GIL, so on a thread
every recognition stalls the loop whatever the number of cores.

One recognition is timed three ways, interleaved round by round so that whatever else
the machine is doing weighs on all three alike: Milo's worker process, the same dlib
calls in this process, and the original's per-face work (HOG detection, then
face_recognition.face_encodings). CPU time is reported next to wall time: on a shared
machine wall time includes waiting for the core, CPU time is the work itself.

Everything - this process, its threads and the recognition worker - is pinned to one
CPU and OpenCV runs single-threaded, as on a busy Pi whose other cores run the wake word
and the voice pipeline.

    .venv/bin/python bench/head/run.py [--frames N] [--peer-frames N] [--rounds N]
    results: bench/results/head.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/dlib load their thread pools
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
from collections import deque
import json
import math
from pathlib import Path
import platform
import statistics
import tempfile
import time
from typing import Any

import cv2
import numpy as np
import skimage.data

from milo_satellite.head import Head, HeadConfig
from milo_satellite.head.camera import Camera, Frame
from milo_satellite.head.detect import Box, FaceDetector
from milo_satellite.head.recognition import FaceEncoder, FaceEncoderProcess, SharedEncoder
from milo_satellite.head.servos import SimulatedServos

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "head.json"
GOALS = {"fps_640x480": 30.0, "latency_ms": 40.0, "recognition_ms": 150.0}
CAMERA_FPS = 30.0


ALLOWED_CORES = sorted(os.sched_getaffinity(0))


def pin_to_one_core() -> int:
    core = ALLOWED_CORES[0]
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    return core


def cores_in_use(pids: list[int]) -> list[int]:
    """Every CPU any thread of these processes may run on (the proof of "one core")."""
    cores: set[int] = set()
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            cores |= os.sched_getaffinity(int(task.name))
    return sorted(cores)


def synthetic_video(width: int, height: int, count: int) -> list[np.ndarray]:
    """A face ~1/6 of the frame wide drifting across the room and bobbing, with noise."""
    room = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), (width, height))
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    face = astronaut[20:220, 150:350]  # head and shoulders around the face
    size = width // 4
    face = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(6)
    frames = []
    for index in range(count):
        phase = index / count * 2 * math.pi
        x = int((width - size) * (0.5 + 0.4 * math.sin(phase)))
        y = int((height - size) * (0.5 + 0.2 * math.sin(3 * phase)))
        image = room.copy()
        image[y : y + size, x : x + size] = face
        noise = rng.normal(0, 3.0, image.shape)
        frames.append(np.clip(image + noise, 0, 255).astype(np.uint8))
    return frames


class MemoryCamera(Camera):
    """Hands out the prepared frames, as fast as asked or paced at `fps`; stamps capture time."""

    def __init__(self, frames: list[np.ndarray], limit: int, fps: float | None = None) -> None:
        self._frames = frames
        self._limit = limit
        self._period = 1.0 / fps if fps else 0.0
        self._next_at = 0.0
        self.served = 0
        self.done = asyncio.Event()

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        if self.served >= self._limit:
            self.done.set()
            await asyncio.sleep(max_wait)
            return None
        if self._period:
            now = time.monotonic()
            self._next_at = max(self._next_at, now)
            await asyncio.sleep(self._next_at - now)
            self._next_at += self._period
        image = self._frames[self.served % len(self._frames)]
        self.served += 1
        return Frame(image, time.monotonic(), self.served)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p90": round(ordered[math.ceil(0.9 * len(ordered)) - 1], 2),  # nearest rank
        "max": round(ordered[-1], 2),
    }


async def milo_loop(
    frames: list[np.ndarray],
    count: int,
    encoder: FaceEncoderProcess | FaceEncoder,
    *,
    full_scan_every: int = 10,
    fps: float | None = None,
    verify_s: float = 10.0,
) -> dict[str, Any]:
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        config = HeadConfig.from_dict(
            {
                "camera": {"width": width, "height": height, "mount": "fixed"},
                "detection": {"full_scan_every": full_scan_every},
                "recognition": {"buddies_file": f"{tmp}/buddies.json", "verify_s": verify_s},
            }
        )
        camera = MemoryCamera(frames, count, fps)
        head = Head(
            config,
            camera,
            SimulatedServos(config.servos),
            encoder_factory=lambda: SharedEncoder(encoder),
        )
        # In process, recognition's CPU time is in process_time() already.
        worker_log = encoder.cpu_ms if isinstance(encoder, FaceEncoderProcess) else deque()
        worker_cpu_before = len(worker_log)
        await head.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        await camera.done.wait()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        stats = head.stats
        await head.stop()
    worker_cpu = list(worker_log)[worker_cpu_before:]
    all_cpu = cpu + sum(worker_cpu) / 1000
    return {
        "frames": stats.frames,
        "fps": round(stats.frames / elapsed, 1),
        # Frames per CPU second (recognition included): what a quiet core would do.
        "fps_per_cpu_second": round(stats.frames / all_cpu, 1),
        "loop_cpu_share_of_one_core": round(cpu / elapsed, 3),
        "detect_ms": _summary(list(stats.detect_ms)),
        "capture_to_command_ms": _summary(list(stats.latency_ms)),
        "servo_commands_with_latency": len(stats.latency_ms),
        "servo_commands_later_than_40ms": sum(ms > GOALS["latency_ms"] for ms in stats.latency_ms),
        "recognitions": stats.recognitions,
        "recognition_in_loop_wall_ms": _summary(list(stats.recognition_ms)),
        "recognition_in_loop_worker_cpu_ms": _summary(worker_cpu),
    }


def original_loop(frames: list[np.ndarray], count: int, known: np.ndarray) -> dict[str, Any]:
    """face_recognition HOG detection + encoding of every face, every frame (the seed's way)."""
    # Safe here: FaceEncoder already found the models (else face_recognition quits).
    import face_recognition  # noqa: PLC0415

    latencies = []
    found = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for index in range(count):
        captured = time.perf_counter()
        rgb = cv2.cvtColor(frames[index % len(frames)], cv2.COLOR_BGR2RGB)
        locations = face_recognition.face_locations(rgb)
        encodings = face_recognition.face_encodings(rgb, locations)
        for encoding in encodings:
            face_recognition.face_distance([known], encoding)
        found += bool(locations)
        latencies.append((time.perf_counter() - captured) * 1000)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "frames": count,
        "fps": round(count / elapsed, 2),
        "fps_per_cpu_second": round(count / cpu, 2),
        "capture_to_command_ms": _summary(latencies),
        "frames_with_a_face": found,
    }


def recognition_comparison(
    worker: FaceEncoderProcess, local: FaceEncoder, frame: np.ndarray, box: Box, rounds: int
) -> dict[str, Any]:
    """One recognition three ways, interleaved: Milo's worker, in process, the original's."""
    import face_recognition  # noqa: PLC0415

    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def original() -> None:
        locations = face_recognition.face_locations(rgb)
        face_recognition.face_encodings(rgb, locations)

    ways = {
        "milo_worker": lambda: worker.encode(frame, box),
        "in_process": lambda: local.encode(frame, box),
        "original_hog_and_encoding": original,
    }
    wall: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    for run in ways.values():  # warm
        run()
    for _ in range(rounds):
        for name, run in ways.items():
            before = len(worker.cpu_ms)
            started, cpu_started = time.perf_counter(), time.thread_time()
            run()
            wall[name].append((time.perf_counter() - started) * 1000)
            used = (time.thread_time() - cpu_started) * 1000
            if name == "milo_worker":  # its work is done in the worker's thread
                used = worker.cpu_ms[-1] if len(worker.cpu_ms) > before else math.nan
            cpu[name].append(used)
    result: dict[str, Any] = {
        name: {"wall_ms": _summary(wall[name]), "cpu_ms": _summary(cpu[name])} for name in ways
    }
    original_cpu = result["original_hog_and_encoding"]["cpu_ms"]["median"]
    result["cpu_ratio_original_vs_milo"] = round(
        original_cpu / result["milo_worker"]["cpu_ms"]["median"], 2
    )
    return result


def beside_the_loop(worker: FaceEncoderProcess, local: FaceEncoder, frames: int) -> dict[str, Any]:
    """What a recognition does to the loop on a Pi with a free core: worker vs thread.

    Two cores here (the one exception to "one core"), 640x480 paced at 30 fps, and a sure
    stranger re-checked every 0.5 s so there are many recognitions. On a thread (the
    previous design) dlib holds the GIL and the loop waits however many cores are free.
    """
    two = set(ALLOWED_CORES[:2])
    for pid in (os.getpid(), worker.worker_pid):
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), two)
    video = synthetic_video(640, 480, 150)
    return {
        "cores": sorted(two),
        "worker_process": asyncio.run(
            milo_loop(video, frames, worker, fps=CAMERA_FPS, verify_s=0.5)
        ),
        "thread_in_process": asyncio.run(
            milo_loop(video, frames, local, fps=CAMERA_FPS, verify_s=0.5)
        ),
    }


def dlib_build() -> dict[str, Any]:
    """Which dlib ran: one built against BLAS computes descriptors several times faster."""
    import dlib  # noqa: PLC0415 - FaceEncoder has checked it is there

    return {"version": dlib.__version__, "blas": bool(dlib.DLIB_USE_BLAS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=600, help="frames per Milo run")
    parser.add_argument("--peer-frames", type=int, default=20, help="frames for the original")
    parser.add_argument("--rounds", type=int, default=20, help="recognition rounds")
    args = parser.parse_args()
    core = pin_to_one_core()
    worker = FaceEncoderProcess()  # inherits the pinning
    local = FaceEncoder()
    results: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpus_on_machine": os.cpu_count(),
            "pinned_core": core,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "opencv": cv2.__version__,
        "dlib": dlib_build(),
        "goals": GOALS,
        "sizes": {},
    }
    for width, height in ((640, 480), (320, 240)):
        frames = synthetic_video(width, height, 150)
        detector = FaceDetector(HeadConfig().detection)
        box = detector.detect(frames[0])[0]
        known = local.encode(frames[0], box)
        milo = asyncio.run(milo_loop(frames, args.frames, worker))
        paced = asyncio.run(milo_loop(frames, args.frames // 2, worker, fps=CAMERA_FPS))
        # The same loop scanning the whole frame every frame: what the ROI search saves.
        full_scans = asyncio.run(milo_loop(frames, args.frames // 3, worker, full_scan_every=1))
        peer = original_loop(frames, args.peer_frames, known)
        rec = recognition_comparison(worker, local, frames[0], box, args.rounds)
        label = f"{width}x{height}"
        results["sizes"][label] = {
            "milo": milo,
            "milo_paced_at_30fps": paced,
            "milo_full_scan_every_frame": full_scans,
            "original_hog_every_frame": peer,
            "recognition": rec,
            "fps_ratio_milo_vs_original": round(milo["fps"] / peer["fps"], 1),
            "fps_per_cpu_second_ratio_milo_vs_original": round(
                milo["fps_per_cpu_second"] / peer["fps_per_cpu_second"], 1
            ),
        }
        print(
            f"{label}: Milo {milo['fps']} fps, capture->command median "
            f"{milo['capture_to_command_ms']['median']} ms (p90 "
            f"{milo['capture_to_command_ms']['p90']}); at 30 fps "
            f"{paced['loop_cpu_share_of_one_core']:.0%} of the core, latency "
            f"{paced['capture_to_command_ms']['median']} ms; original {peer['fps']} fps; "
            f"full scan every frame {full_scans['fps']} fps; recognition "
            f"{rec['milo_worker']['cpu_ms']['median']} ms CPU "
            f"({rec['milo_worker']['wall_ms']['median']} ms wall), original "
            f"{rec['original_hog_and_encoding']['cpu_ms']['median']} ms CPU; "
            f"fps ratio {results['sizes'][label]['fps_ratio_milo_vs_original']}x "
            f"(per CPU second {milo['fps_per_cpu_second']} vs {peer['fps_per_cpu_second']})"
        )
    results["machine"]["cores_used"] = cores_in_use([os.getpid(), worker.worker_pid])
    results["recognition_beside_the_loop"] = beside_the_loop(worker, local, args.frames // 2)
    worker.close()
    big = results["sizes"]["640x480"]
    results["goals_met"] = {
        "fps_640x480": big["milo"]["fps"] >= GOALS["fps_640x480"],
        "latency_ms": big["milo_paced_at_30fps"]["capture_to_command_ms"]["median"]
        <= GOALS["latency_ms"],
        "recognition_ms": big["recognition"]["milo_worker"]["cpu_ms"]["median"]
        <= GOALS["recognition_ms"],
    }
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    beside = results["recognition_beside_the_loop"]
    for name in ("worker_process", "thread_in_process"):
        run = beside[name]
        print(
            f"recognition beside the loop, {name}: {run['recognitions']} recognitions, "
            f"latency {run['capture_to_command_ms']}, "
            f"{run['servo_commands_later_than_40ms']} commands later than 40 ms"
        )
    print(f"goals met: {results['goals_met']}; written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
