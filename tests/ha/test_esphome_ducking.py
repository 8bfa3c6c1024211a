"""Music ducking through Home Assistant's own ESPHome integration.

HA plays music on Milo's media player (through its ffmpeg proxy); a whole conversation
runs over it (start_conversation: the start message from milo-tts, Milo listening, the
reply transcribed by milo-stt, the agent's answer spoken). With `audio.duck_volume: 0.2`
the music is never stopped: what reached the speaker drops to a fifth for the whole run
and comes back afterwards. The levels are read from the simulated speaker's media clip.
"""

from __future__ import annotations

import io
from pathlib import Path
import wave

from aiohttp import web
from homeassistant.core import HomeAssistant
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import FakeCloud, Reply
from .test_esphome_satellite import (  # noqa: F401 - fixtures
    MediaServer,
    Satellite,
    _record_states,
    _state,
    _until,
    media_server,
    mic_wav,
    milo_entry,
    milo_pipeline,
    no_errors_in_the_log,
    photo,
    satellite,
    wyoming_ports,
    zeroconf_flag,
)

DUCK = 0.2
SONG_S = 90.0  # longer than any run; stopped once the test has heard enough
RATE = 22050  # what HA converts media to for Milo (mono 16-bit)
WINDOW_S = 0.1


@pytest.fixture
def satellite_config() -> str:
    return f"audio: {{duck_volume: {DUCK}}}\n"


@pytest.fixture
async def song_url(
    media_server: MediaServer,  # noqa: F811 - the imported fixture
    aiohttp_client: ClientSessionGenerator,
) -> str:
    """A long 440 Hz tone, served as a media server would (HA's own HTTP is set up by
    `media_server`, so the satellite can fetch HA's ffmpeg proxy)."""
    t = np.arange(int(SONG_S * 44100)) / 44100
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes((8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())
    app = web.Application()
    song = buf.getvalue()

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=song, content_type="audio/wav")

    app.router.add_get("/song.wav", serve)
    server = await aiohttp_client(app)
    return f"http://127.0.0.1:{server.server.port}/song.wav"


def _played_s(sat: Satellite) -> float:
    """Seconds of music the speaker has played so far (its clip grows as it plays)."""
    media = sat.played("media")
    return max(0, media[0].stat().st_size - 44) / (RATE * 2) if media else 0.0


def _levels(path: Path) -> np.ndarray:
    """RMS of each WINDOW_S of the clip."""
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    size = int(WINDOW_S * RATE)
    windows = samples[: len(samples) // size * size].reshape(-1, size)
    return np.sqrt(np.mean(windows**2, axis=1))


@pytest.mark.parametrize("mic_wav", ["Do you like music?"], indirect=True)
async def test_music_ducks_under_a_conversation(
    hass: HomeAssistant,
    milo_pipeline: FakeCloud,  # noqa: F811 - the imported fixture
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    satellite: Satellite,  # noqa: F811 - the imported fixture
    song_url: str,
) -> None:
    milo_pipeline.default = Reply(text="Only when it is quieter than me.")
    level = "number.milo_ducked_music_volume"  # on the dashboard, as configured
    await _until(lambda: _state(hass, level) == str(DUCK * 100))
    speaker = {"entity_id": "media_player.milo_speaker"}
    await hass.services.async_call(
        "media_player",
        "play_media",
        {**speaker, "media_content_id": song_url, "media_content_type": "music"},
        blocking=True,
    )
    await _until(lambda: _played_s(satellite) > 1.5)
    before = _played_s(satellite)
    entity_id = "assist_satellite.milo_assist_satellite"
    states = _record_states(hass, entity_id)
    start = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "start_conversation",
            {"entity_id": entity_id, "start_message": "Fancy a chat?"},
            blocking=True,
        )
    )
    await _until(lambda: satellite.played("announcement"), within=30)  # Milo starts talking
    run_from = _played_s(satellite)
    await start
    await _until(lambda: "listening" in states, within=30)
    satellite.speak()
    await _until(lambda: satellite.played("tts"), within=180)
    await _until(lambda: _state(hass, entity_id) == "idle", within=60)
    log = satellite.sound_dir.parent / "satellite.log"
    await _until(lambda: "-tts.wav (" in log.read_text())  # Milo has finished speaking
    run_to = _played_s(satellite)
    await _until(lambda: _played_s(satellite) > run_to + 2.5)  # back up, for a while
    await hass.services.async_call("media_player", "media_stop", speaker, blocking=True)
    await _until(lambda: _state(hass, "media_player.milo_speaker") == "idle")

    (song,) = satellite.played("media")  # one clip: the music was never interrupted
    level = _levels(song)
    full = float(np.median(level[: int(before / WINDOW_S)]))
    assert full > 1000
    ducked = level[int((run_from + 0.6) / WINDOW_S) : int((run_to - 0.3) / WINDOW_S)]
    assert len(ducked) > 10
    assert np.allclose(ducked / full, DUCK, atol=0.03)  # down the whole run
    after = level[int((run_to + 1.5) / WINDOW_S) : int((run_to + 2.5) / WINDOW_S)]
    assert np.allclose(after / full, 1.0, atol=0.03)  # and back
    steps = np.abs(np.diff(level)) / full  # the duck's ramp: 0.32 a window; a jump: 0.8
    assert np.all(steps < 0.5), np.flatnonzero(steps >= 0.5) * WINDOW_S
