"""Fixtures for the satellite tests (helpers live in satellite_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aioesphomeapi import APIClient
import pytest
from satellite_helpers import Milo, Speech, make_milo, make_speech


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """Real synthesised speech, made once per session (piper takes a few seconds)."""
    return make_speech(tmp_path_factory.mktemp("speech"))


@pytest.fixture
async def milo(tmp_path: Path) -> AsyncIterator[Milo]:
    device = await make_milo(tmp_path)
    yield device
    await device.close()


@pytest.fixture
async def client(milo: Milo) -> AsyncIterator[APIClient]:
    cli = APIClient("127.0.0.1", milo.server.port, None, client_info="pytest")
    await cli.connect(login=True)
    yield cli
    await cli.disconnect()
