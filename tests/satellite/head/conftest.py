"""Shared fixtures: the real photographs and one dlib encoder per session."""

from __future__ import annotations

import numpy as np
import pytest

from milo_satellite.head.recognition import FaceEncoder

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
