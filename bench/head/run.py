"""The head's vision loop on ONE core: frames per second, capture-to-servo latency, recognition.

Milo's loop is the real `Head` (detect near tracked faces + periodic full scans, tracking,
target choice, control, motion limiter, simulated servos, dlib recognition on new tracks
only) fed as fast as it can take them from a synthetic video: a real face (the
astronaut's) moving across a real photo, with sensor noise. The peer, measured in the
same run on the same frames, is the original Milo's approach: face_recognition's HOG
detector plus a 128-d encoding of every face on every frame. Milo's loop is also run with
a full Haar scan on every frame, to show what searching near tracked faces saves.

The process is pinned to one CPU and OpenCV to one thread, as on a busy Pi where the
other cores run the wake word and the voice pipeline.

    .venv/bin/python bench/head/run.py [--frames N] [--peer-frames N]
    results: bench/results/head.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/dlib load their thread pools

import argparse
import asyncio
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
from milo_satellite.head.recognition import FaceEncoder
from milo_satellite.head.servos import SimulatedServos

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "head.json"
GOALS = {"fps_640x480": 30.0, "latency_ms": 40.0, "recognition_ms": 150.0}


def pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    return core


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
    """Hands out the prepared frames as fast as they are asked for; stamps capture time."""

    def __init__(self, frames: list[np.ndarray], limit: int) -> None:
        self._frames = frames
        self._limit = limit
        self.served = 0
        self.done = asyncio.Event()

    async def read(self, max_wait: float = 1.0) -> Frame | None:
        if self.served >= self._limit:
            self.done.set()
            await asyncio.sleep(max_wait)
            return None
        image = self._frames[self.served % len(self._frames)]
        self.served += 1
        return Frame(image, time.monotonic(), self.served)


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "max": round(ordered[-1], 2),
    }


async def milo_loop(
    frames: list[np.ndarray], count: int, encoder: FaceEncoder, full_scan_every: int = 10
) -> dict[str, Any]:
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        config = HeadConfig.from_dict(
            {
                "camera": {"width": width, "height": height, "mount": "fixed"},
                "detection": {"full_scan_every": full_scan_every},
                "recognition": {"buddies_file": f"{tmp}/buddies.json"},
            }
        )
        camera = MemoryCamera(frames, count)
        head = Head(config, camera, SimulatedServos(config.servos), encoder_factory=lambda: encoder)
        await head.start()
        started = time.perf_counter()
        await camera.done.wait()
        elapsed = time.perf_counter() - started
        stats = head.stats
        await head.stop()
    return {
        "frames": stats.frames,
        "fps": round(stats.frames / elapsed, 1),
        "detect_ms": _summary(list(stats.detect_ms)),
        "capture_to_command_ms": _summary(list(stats.latency_ms)),
        "servo_commands_with_latency": len(stats.latency_ms),
        "recognitions": stats.recognitions,
        "recognition_in_loop_ms": _summary(list(stats.recognition_ms)),
    }


def original_loop(frames: list[np.ndarray], count: int, known: np.ndarray) -> dict[str, Any]:
    """face_recognition HOG detection + encoding of every face, every frame (the seed's way)."""
    import face_recognition  # noqa: PLC0415
    import face_recognition_models  # noqa: F401, PLC0415 - import first: see recognition.py

    latencies = []
    found = 0
    started = time.perf_counter()
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
    return {
        "frames": count,
        "fps": round(count / elapsed, 2),
        "capture_to_command_ms": _summary(latencies),
        "frames_with_a_face": found,
    }


def recognition_ms(encoder: FaceEncoder, frame: np.ndarray, box: Box, rounds: int) -> dict:
    encoder.encode(frame, box)  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        encoder.encode(frame, box)
        times.append((time.perf_counter() - started) * 1000)
    return _summary(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=600, help="frames per Milo run")
    parser.add_argument("--peer-frames", type=int, default=30, help="frames for the original")
    args = parser.parse_args()
    core = pin_to_one_core()
    encoder = FaceEncoder()
    results: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "pinned_core": core,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "opencv": cv2.__version__,
        "goals": GOALS,
        "sizes": {},
    }
    for width, height in ((640, 480), (320, 240)):
        frames = synthetic_video(width, height, 150)
        detector = FaceDetector(HeadConfig().detection)
        box = detector.detect(frames[0])[0]
        known = encoder.encode(frames[0], box)
        milo = asyncio.run(milo_loop(frames, args.frames, encoder))
        # The same loop scanning the whole frame every frame: what the ROI search saves.
        full_scans = asyncio.run(milo_loop(frames, args.frames // 3, encoder, full_scan_every=1))
        peer = original_loop(frames, args.peer_frames, known)
        rec = recognition_ms(encoder, frames[0], box, 20)
        label = f"{width}x{height}"
        results["sizes"][label] = {
            "milo": milo,
            "milo_full_scan_every_frame": full_scans,
            "original_hog_every_frame": peer,
            "recognition_ms": rec,
            "fps_ratio_milo_vs_original": round(milo["fps"] / peer["fps"], 1),
        }
        print(
            f"{label}: Milo {milo['fps']} fps, capture->command median "
            f"{milo['capture_to_command_ms']['median']} ms (p90 "
            f"{milo['capture_to_command_ms']['p90']}); original {peer['fps']} fps, "
            f"{peer['capture_to_command_ms']['median']} ms; full scan every frame "
            f"{full_scans['fps']} fps; recognition {rec['median']} ms; "
            f"ratio {results['sizes'][label]['fps_ratio_milo_vs_original']}x"
        )
    big = results["sizes"]["640x480"]
    results["goals_met"] = {
        "fps_640x480": big["milo"]["fps"] >= GOALS["fps_640x480"],
        "latency_ms": big["milo"]["capture_to_command_ms"]["median"] <= GOALS["latency_ms"],
        "recognition_ms": big["recognition_ms"]["median"] <= GOALS["recognition_ms"],
    }
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"goals met: {results['goals_met']}; written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
