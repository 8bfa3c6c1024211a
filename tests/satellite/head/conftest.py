"""Shared fixtures: the real photographs, and dlib loaded once per session (in process and
in the head's worker process)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from milo_satellite.head.recognition import FaceEncoder, FaceEncoderProcess

from .images import astronaut_frame, messi_frame


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return astronaut_frame()


@pytest.fixture(scope="session")
def messi() -> np.ndarray:
    return messi_frame()


@pytest.fixture(scope="session")
def encoder() -> FaceEncoder:
    """dlib's models load once per test session (about half a second)."""
    return FaceEncoder()


@pytest.fixture(scope="session")
def worker_encoder() -> Iterator[FaceEncoderProcess]:
    """The head's real recogniser: dlib in a worker process (started once per session)."""
    worker = FaceEncoderProcess()
    yield worker
    worker.close()
