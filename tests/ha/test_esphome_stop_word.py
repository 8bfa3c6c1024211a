"""The stop word while Milo talks, through Home Assistant's own ESPHome integration.

HA announces a spoken message on Milo (`assist_satellite.announce`, real speech from
piper); halfway through, the microphone hears "Okay Nabu" with the message's own echo
20 dB under the voice (what an echo canceller leaves: docs/satellite.md, "Clean audio:
noise and echo"). Milo stops talking, and HA's announce call returns.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import wave

from aiohttp import web
from homeassistant.core import HomeAssistant
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .test_esphome_satellite import (  # noqa: F401 - fixtures
    MediaServer,
    Satellite,
    _piper_say,
    _state,
    _unmute_after_first_playing,
    _until,
    media_server,
    milo_entry,
    muted_config,
    no_errors_in_the_log,
    photo,
    satellite,
    zeroconf_flag,
)

MESSAGE = (
    "The surf at East Strand is two foot and glassy this morning, the tide turns at ten, "
    "and the wind stays offshore until the afternoon. Try not to fall off."
)
ECHO_DB = -20.0


def _read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return samples.astype(float), wav.getframerate()


@pytest.fixture
def satellite_config(tmp_path: Path) -> str:
    """The test unmutes Milo after the microphone's first playing."""
    return muted_config(tmp_path)


@pytest.fixture
def message_wav(tmp_path: Path) -> Path:
    return _piper_say(MESSAGE, tmp_path / "message.wav")


@pytest.fixture
def mic_wav(tmp_path: Path, message_wav: Path) -> Path:
    """ "Okay Nabu." with a stretch of the message's echo 20 dB under it."""
    voice, rate = _read(_piper_say("Okay Nabu.", tmp_path / "okay_nabu.wav"))
    voice = np.concatenate([np.zeros(rate // 2), voice, np.zeros(rate // 2)])
    message, message_rate = _read(message_wav)
    assert message_rate == rate  # both piper's joe voice
    echo = message[rate : rate + len(voice)]
    level = np.sqrt(np.mean(voice**2) / np.mean(echo**2)) * 10 ** (ECHO_DB / 20)
    path = tmp_path / "mic.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.clip(voice + level * echo, -32768, 32767).astype("<i2").tobytes())
    return path


@pytest.fixture
async def message_url(
    media_server: MediaServer,  # noqa: F811 - the imported fixture: HA's HTTP for its proxy
    aiohttp_client: ClientSessionGenerator,
    message_wav: Path,
) -> str:
    app = web.Application()
    body = await asyncio.to_thread(message_wav.read_bytes)

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="audio/wav")

    app.router.add_get("/message.wav", serve)
    server = await aiohttp_client(app)
    return f"http://127.0.0.1:{server.server.port}/message.wav"


async def test_stop_word_cuts_an_announcement_over_its_echo(
    hass: HomeAssistant,
    *,
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    satellite: Satellite,  # noqa: F811 - the imported fixture
    message_url: str,
    message_wav: Path,
    tmp_path: Path,
    mic_wav: Path,
) -> None:
    await _unmute_after_first_playing(hass, tmp_path, mic_wav)
    await _until(lambda: _state(hass, "switch.milo_mute") == "off")
    announce = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "announce",
            {
                "entity_id": "assist_satellite.milo_assist_satellite",
                "media_id": message_url,
                "preannounce": False,
            },
            blocking=True,
        )
    )

    def spoken_s() -> float:
        clips = satellite.played("announcement")
        return max(0, clips[0].stat().st_size - 44) / (22050 * 2) if clips else 0.0

    await _until(lambda: spoken_s() > 1.0, within=30)
    satellite.speak()  # "Okay Nabu", over the message's echo
    await announce  # HA hears that the announcement is over
    message, rate = _read(message_wav)
    full_s = len(message) / rate
    assert full_s > 7.0  # piper varies its length by a few per cent from run to run
    (clip,) = satellite.played("announcement")
    with wave.open(str(clip), "rb") as wav:
        played_s = wav.getnframes() / wav.getframerate()
    assert played_s < full_s - 3.0  # cut short, not played to the end
    assert "Stop word: stopping speech" in (tmp_path / "satellite.log").read_text()
