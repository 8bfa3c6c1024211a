"""Loop figures for the debug log and the benchmark (bench/head)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


def _recent() -> deque[float]:
    return deque(maxlen=1000)


@dataclass
class HeadStats:
    """Counters and the latest 1000 timings of each loop; the parts of the head fill them in."""

    frames: int = 0
    recognitions: int = 0
    detect_ms: deque[float] = field(default_factory=_recent)
    latency_ms: deque[float] = field(default_factory=_recent)
    recognition_ms: deque[float] = field(default_factory=_recent)
