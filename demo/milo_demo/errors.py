"""One error type for the whole demo: which stage failed, why, and which log to read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

LOG_TAIL_LINES = 12
NOTABLE = ("ERROR", "WARNING", "CRITICAL", "Error:", "error:", "failed", "refused")


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last warnings and errors of a log file (or its last lines, if it has none)."""
    try:
        all_lines = log.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    notable = [line for line in all_lines if any(word in line for word in NOTABLE)]
    return "\n".join((notable or all_lines)[-lines:])


class StageError(Exception):
    """A demo stage failed; the message names the stage and the log of the culprit."""

    def __init__(self, stage: str, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.log = log

    def __str__(self) -> str:
        text = f"stage '{self.stage}' failed: {self.message}"
        if self.log is not None:
            text += f"\n  log: {self.log}"
            if tail := log_tail(self.log):
                text += "\n  last lines:\n    " + tail.replace("\n", "\n    ")
        return text


@contextlib.asynccontextmanager
async def stage(name: str, limit_s: float, log: Path | None = None) -> AsyncIterator[None]:
    """Run a block under a deadline; a timeout becomes a StageError naming the stage."""
    try:
        async with asyncio.timeout(limit_s):
            yield
    except TimeoutError as err:
        raise StageError(name, f"timed out after {limit_s:.0f} s", log) from err


async def poll(check: Callable[[], Awaitable[T | None]], interval_s: float = 0.25) -> T:
    """Call check until it returns something other than None/False/empty, and return that.

    For state that the APIs offer no push notification for (registries, pipeline debug
    records, files the satellite writes); the caller bounds it with `stage` or a timeout.
    """
    while True:
        if result := await check():
            return result
        await asyncio.sleep(interval_s)
