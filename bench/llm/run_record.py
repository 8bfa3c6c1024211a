"""What every bench/llm result file says about its run: cores, load before and after, date.

The VMs these benchmarks run on are shared, so a figure without the load it was taken
under can't be compared with the next run's.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
import time
from typing import Any


def machine(load_before: tuple[float, float, float], rounds: int, **extra: Any) -> dict[str, Any]:
    """The run's machine record; call it when the run is over (it reads the load after)."""
    return {
        "cpus": multiprocessing.cpu_count(),
        **extra,
        "rounds": rounds,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write(out: Path, report: dict[str, Any]) -> None:
    """Write a result file as indented JSON."""
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
