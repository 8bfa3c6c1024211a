"""milo-stt's workers: two requests run at once, but never two of one connection.

The model call is replaced by one that blocks until the test lets it go, so the test can
see which requests are in the model at the same moment; the scheduling around it is the
real Transcriber's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import threading

import numpy as np
import pytest

from milo_services.stt.transcriber import WORKERS, Transcriber


class Gate:
    """Stands in for the model: records who is inside, holds them until released."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self.most_inside = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, audio: np.ndarray, language: str | None, prompt: str | None) -> str:
        with self._lock:
            self.inside.append(str(prompt))
            self.most_inside = max(self.most_inside, len(self.inside))
        self.release.wait(30)
        with self._lock:
            self.inside.remove(str(prompt))
        return str(prompt)


@pytest.fixture
def gate(transcriber: Transcriber, monkeypatch: pytest.MonkeyPatch) -> Gate:
    gate = Gate()
    monkeypatch.setattr(transcriber, "transcribe_sync", gate)
    return gate


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the model's worker threads change it
            await asyncio.sleep(0.01)


AUDIO = np.zeros(1600, dtype=np.float32)


class Connection:
    """An owner of requests, as milo-stt's per-connection handler is."""


async def test_two_connections_run_side_by_side(transcriber: Transcriber, gate: Gate) -> None:
    a, b = Connection(), Connection()
    first = asyncio.create_task(transcriber.transcribe(AUDIO, prompt="a", owner=a))
    second = asyncio.create_task(transcriber.transcribe(AUDIO, prompt="b", owner=b))
    await _until(lambda: len(gate.inside) == WORKERS == 2)
    gate.release.set()
    assert await first == "a"
    assert await second == "b"


async def test_one_connection_never_holds_two_workers(transcriber: Transcriber, gate: Gate) -> None:
    """A caller that gives up (a dropped speculation) keeps its connection's lane until the
    model is really done, so the connection's next request waits for it."""
    owner = Connection()
    dropped = asyncio.create_task(transcriber.transcribe(AUDIO, prompt="dropped", owner=owner))
    await _until(lambda: gate.inside == ["dropped"])
    dropped.cancel()
    following = asyncio.create_task(transcriber.transcribe(AUDIO, prompt="next", owner=owner))
    await asyncio.sleep(0.3)
    assert gate.inside == ["dropped"]  # the model is still on the dropped one
    gate.release.set()
    assert await following == "next"
    assert gate.most_inside == 1
