"""Home Assistant's own ESPHome integration adopts a real `milo-satellite --simulate`.

The satellite runs as a subprocess from the services/satellite environment (.venv):
its microphone is a WAV of silence, its camera a real photograph, its servos simulated.
HA (with the aioesphomeapi version it pins) connects over an encrypted API session and
must show one device with the Assist satellite, the media player and the head's
entities, and drive them through ordinary service calls.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterator
import io
import math
import os
from pathlib import Path
import socket
import subprocess
import time
import wave

from aiohttp import web
from homeassistant.components import camera
from homeassistant.components.assist_satellite import AssistSatelliteEntityFeature
from homeassistant.components.esphome.const import CONF_NOISE_PSK, DOMAIN as ESPHOME
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

REPO = Path(__file__).resolve().parents[2]
SATELLITE = REPO / ".venv" / "bin" / "milo-satellite"
PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
MAC = "02:00:00:00:4d:4f"
KEY = base64.b64encode(os.urandom(32)).decode()

pytestmark = pytest.mark.skipif(
    not SATELLITE.exists(), reason="needs the satellite environment (.venv, script/setup)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def satellite(socket_enabled: None, tmp_path: Path) -> Iterator[int]:
    """`milo-satellite --simulate` on a free port; yields the port. Sound: tmp_path/sound."""
    mic = tmp_path / "silence.wav"
    with wave.open(str(mic), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(32000))
    config = tmp_path / "milo.yaml"
    config.write_text(
        f"mac: '{MAC}'\n"
        "friendly_name: Milo\n"
        "head:\n"
        "  recognition:\n"
        f"    buddies_file: {tmp_path / 'buddies.json'}\n"
    )
    port = _free_port()
    log = (tmp_path / "satellite.log").open("wb")
    proc = subprocess.Popen(
        [
            str(SATELLITE),
            "--config", str(config),
            "--simulate",
            "--name", "milo",
            "--api-port", str(port),
            "--encryption-key", KEY,
            "--no-zeroconf",
            "--mic-file", str(mic),
            "--sound-dir", str(tmp_path / "sound"),
            "--camera", str(PHOTO),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(600):
            if proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        assert proc.poll() is None, (tmp_path / "satellite.log").read_text()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _until(check: Callable[[], object], within: float = 20.0) -> None:
    """Wait until `check()` holds (a generous limit, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def milo_entry(
    hass: HomeAssistant, mock_bluetooth: None, satellite: int
) -> AsyncIterator[MockConfigEntry]:
    # conversation (a dependency of the voice pipeline) needs the core integration.
    assert await async_setup_component(hass, "homeassistant", {})
    entry = MockConfigEntry(
        domain=ESPHOME,
        unique_id=MAC.lower(),
        data={
            CONF_HOST: "127.0.0.1",
            CONF_PORT: satellite,
            CONF_PASSWORD: "",
            CONF_NOISE_PSK: KEY,
            "device_name": "milo",
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for entity_id in ("number.milo_head_pan", "assist_satellite.milo_assist_satellite"):
        await _until(lambda entity_id=entity_id: hass.states.get(entity_id) is not None)
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def test_one_device_with_voice_media_and_head(
    hass: HomeAssistant, milo_entry: MockConfigEntry
) -> None:
    devices = dr.async_get(hass)
    device = devices.async_get_device_by_connection(
        (dr.CONNECTION_NETWORK_MAC, MAC.lower()), milo_entry.entry_id
    )
    assert device is not None
    assert device.name == "Milo"
    assert device.model == "Milo"
    entity_ids = {e.entity_id for e in er.async_entries_for_device(er.async_get(hass), device.id)}
    for wanted in (
        "assist_satellite.milo_assist_satellite",
        "media_player.milo_speaker",
        "number.milo_head_pan",
        "number.milo_head_tilt",
        "switch.milo_face_tracking",
        "switch.milo_look_around",
        "switch.milo_sleep",
        "switch.milo_mute",
        "sensor.milo_person_in_view",
        "sensor.milo_faces_in_view",
        "binary_sensor.milo_someone_present",
        "camera.milo_camera",
        "button.milo_centre_head",
        "select.milo_wake_word_model",
        "light.milo_status_light",
        "event.milo_buddy",
    ):
        assert wanted in entity_ids, (wanted, " ".join(sorted(entity_ids)))

    satellite = hass.states.get("assist_satellite.milo_assist_satellite")
    assert satellite is not None
    assert satellite.state == "idle"
    features = AssistSatelliteEntityFeature(satellite.attributes["supported_features"])
    assert AssistSatelliteEntityFeature.ANNOUNCE in features
    assert AssistSatelliteEntityFeature.START_CONVERSATION in features
    for action in ("enroll_buddy", "forget_buddy", "look_at", "gesture"):
        assert hass.services.has_service(ESPHOME, f"milo_{action}")


async def test_service_calls_reach_the_satellite(
    hass: HomeAssistant, milo_entry: MockConfigEntry
) -> None:
    await hass.services.async_call(
        "number", "set_value", {"entity_id": "number.milo_head_pan", "value": 20}, blocking=True
    )
    await _until(lambda: _state(hass, "number.milo_head_pan") == "20.0")

    await hass.services.async_call(
        ESPHOME, "milo_look_at", {"pan": -15.0, "tilt": 10.0}, blocking=True
    )
    await _until(lambda: _state(hass, "number.milo_head_pan") == "-15.0")
    await _until(lambda: _state(hass, "number.milo_head_tilt") == "10.0")

    await hass.services.async_call(
        "button", "press", {"entity_id": "button.milo_centre_head"}, blocking=True
    )
    await _until(lambda: _state(hass, "number.milo_head_pan") == "0.0")

    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.milo_sleep"}, blocking=True
    )
    await _until(lambda: _state(hass, "switch.milo_sleep") == "on")

    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.milo_wake_word_model", "option": "hey_jarvis"},
        blocking=True,
    )
    await _until(lambda: _state(hass, "select.milo_wake_word_model") == "hey_jarvis")

    await hass.services.async_call(
        "media_player",
        "volume_set",
        {"entity_id": "media_player.milo_speaker", "volume_level": 0.3},
        blocking=True,
    )
    await _until(
        lambda: (
            hass.states.get("media_player.milo_speaker").attributes.get("volume_level")
            == pytest.approx(0.3)
        )
    )

    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.milo_status_light"}, blocking=True
    )
    await _until(lambda: _state(hass, "light.milo_status_light") == "off")

    image = await camera.async_get_image(hass, "camera.milo_camera")
    assert image.content.startswith(b"\xff\xd8")  # a JPEG of the photograph

    # An action the head refuses reports why.
    with pytest.raises(Exception, match="gesture"):
        await hass.services.async_call(ESPHOME, "milo_gesture", {"name": "moonwalk"}, blocking=True)


def _tone_wav(seconds: float, rate: int) -> bytes:
    """A WAV of a 440 Hz tone, stereo 44.1 kHz, as some media server would serve it."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            sample = int(8000 * math.sin(2 * math.pi * 440 * i / rate)).to_bytes(
                2, "little", signed=True
            )
            frames += sample * 2
        wav.writeframes(bytes(frames))
    return buf.getvalue()


async def test_announcement_through_home_assistant(
    hass: HomeAssistant,
    milo_entry: MockConfigEntry,
    aiohttp_client: ClientSessionGenerator,
    tmp_path: Path,
) -> None:
    """assist_satellite.announce: HA converts the media with ffmpeg; Milo plays it."""
    # HA's HTTP app on a real port, so the satellite can fetch HA's ffmpeg proxy URL.
    ha_http = await aiohttp_client(hass.http.app)
    hass.config.internal_url = f"http://127.0.0.1:{ha_http.server.port}"
    media = web.Application()
    tone = _tone_wav(1.5, 44100)

    async def serve_tone(_request: web.Request) -> web.Response:
        return web.Response(body=tone, content_type="audio/wav")

    media.router.add_get("/tone.wav", serve_tone)
    media_server = await aiohttp_client(media)
    url = f"http://127.0.0.1:{media_server.server.port}/tone.wav"

    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {
            "entity_id": "assist_satellite.milo_assist_satellite",
            "media_id": url,
            "preannounce": False,
        },
        blocking=True,
    )
    played = sorted((tmp_path / "sound").glob("*announcement.wav"))
    assert len(played) == 1
    with wave.open(str(played[0]), "rb") as wav:
        # Converted by HA to what the media player asked for: 22.05 kHz mono 16-bit.
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (22050, 1, 2)
        assert abs(wav.getnframes() / 22050 - 1.5) < 0.1
