"""The API server against the real aioesphomeapi client (what HA uses)."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from pathlib import Path

from aioesphomeapi import (
    APIClient,
    APIConnectionError,
    BinarySensorState,
    CameraState,
    EventInfo,
    InvalidEncryptionKeyAPIError,
    LightState as LightStateModel,
    LogLevel,
    MediaPlayerCommand,
    MediaPlayerEntityState,
    MediaPlayerFormatPurpose,
    NumberState,
    RequiresEncryptionAPIError,
    SelectState,
    SensorState,
    SwitchState,
    TextSensorState,
    VoiceAssistantFeature,
)
from aioesphomeapi.core import EncryptionPlaintextAPIError
import pytest
from satellite_helpers import JPEG, Milo, eventually, make_milo
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

import milo_satellite
from milo_satellite.api import DeviceIdentity
from milo_satellite.api.logs import LogForwarder
from milo_satellite.api.zeroconf import SERVICE_TYPE, ZeroconfAnnouncer
from milo_satellite.preferences import Preferences
from milo_satellite.status_light import StatusLight

KEY = base64.b64encode(os.urandom(32)).decode()
EXPECTED_ENTITIES = {
    "head_pan": "NumberInfo",
    "head_tilt": "NumberInfo",
    "face_tracking": "SwitchInfo",
    "look_around": "SwitchInfo",
    "sleep": "SwitchInfo",
    "camera_on": "SwitchInfo",
    "mute": "SwitchInfo",
    "clean_audio": "SwitchInfo",
    "person_in_view": "TextSensorInfo",
    "faces_in_view": "SensorInfo",
    "someone_present": "BinarySensorInfo",
    "camera": "CameraInfo",
    "center_head": "ButtonInfo",
    "wake_word": "SelectInfo",
    "end_of_speech": "SelectInfo",
    "status_light": "LightInfo",
    "buddy": "EventInfo",
    "media_player": "MediaPlayerInfo",
}


async def test_device_info_and_entities(milo: Milo, client: APIClient) -> None:
    info = await client.device_info()
    assert info.name == "milo-test"
    assert info.friendly_name == "Milo Test"
    assert info.mac_address == "02:00:00:00:00:42"
    assert info.model == "Milo"
    assert not info.api_encryption_supported  # the key is set in the config, not by HA
    assert info.manufacturer == "Milo project"
    assert info.project_name == "Milo project.Milo"  # HA: manufacturer.model
    assert info.project_version == milo_satellite.__version__
    flags = info.voice_assistant_feature_flags_compat(client.api_version)
    for feature in ("VOICE_ASSISTANT", "API_AUDIO", "TIMERS", "ANNOUNCE", "START_CONVERSATION"):
        assert flags & VoiceAssistantFeature[feature], feature

    entities, actions = await client.list_entities_services()
    assert {e.object_id: type(e).__name__ for e in entities} == EXPECTED_ENTITIES
    assert len({e.key for e in entities}) == len(entities)
    assert {a.name: [arg.name for arg in a.args] for a in actions} == {
        "enroll_buddy": ["name"],
        "forget_buddy": ["name"],
        "look_at": ["pan", "tilt"],
        "gesture": ["name"],
        "dance": ["seconds"],
        "drop_beat": ["seconds"],
        "end_of_turn": ["text"],
    }
    by_id = {e.object_id: e for e in entities}
    assert (by_id["head_pan"].min_value, by_id["head_pan"].max_value) == (-80, 80)
    assert by_id["wake_word"].options == [
        "alexa",
        "hey_jarvis",
        "hey_mycroft",
        "okay_nabu",
        "milo",
    ]
    assert isinstance(by_id["buddy"], EventInfo)
    assert by_id["buddy"].event_types == ["appeared", "left", "stranger"]
    formats = by_id["media_player"].supported_formats
    # Media in the speaker's own format; answers as the TTS engine makes them (any rate).
    assert {(f.format, f.sample_rate, f.num_channels, f.purpose) for f in formats} == {
        ("wav", 22050, 1, MediaPlayerFormatPurpose.DEFAULT),
        ("wav", 0, 0, MediaPlayerFormatPurpose.ANNOUNCEMENT),
    }


async def test_keys_are_stable(milo: Milo, client: APIClient, tmp_path: Path) -> None:
    """Two devices built separately give every entity the same key (HA ids never move)."""
    other = await make_milo(tmp_path / "other")
    try:
        first = {e.object_id: e.key for e in milo.server.entities.values()}
        second = {e.object_id: e.key for e in other.server.entities.values()}
        assert first == second
    finally:
        await other.close()


async def test_states_and_a_command_to_every_entity_type(  # noqa: PLR0915 - every type
    milo: Milo, client: APIClient
) -> None:
    entities, _ = await client.list_entities_services()
    key = {e.object_id: e.key for e in entities}
    states: dict[int, object] = {}
    client.subscribe_states(lambda s: states.__setitem__(s.key, s))
    await eventually(lambda: len(states) >= 12)
    assert isinstance(states[key["person_in_view"]], TextSensorState)
    assert states[key["someone_present"]].state is False

    client.number_command(key["head_pan"], 25.5)
    await eventually(lambda: states[key["head_pan"]].state == 25.5)
    assert ("set_pan", 25.5) in milo.head.calls
    assert isinstance(states[key["head_pan"]], NumberState)

    client.switch_command(key["sleep"], True)
    await eventually(lambda: states[key["sleep"]].state is True)
    assert isinstance(states[key["sleep"]], SwitchState)
    client.switch_command(key["face_tracking"], False)
    await eventually(lambda: states[key["face_tracking"]].state is False)

    client.switch_command(key["mute"], True)
    await eventually(lambda: milo.voice.muted)
    light = states[key["status_light"]]
    await eventually(lambda: states[key["status_light"]].effect == "Muted")
    client.switch_command(key["mute"], False)
    await eventually(lambda: states[key["status_light"]].effect == "Searching")

    client.button_command(key["center_head"])
    await eventually(lambda: ("centre", None) in milo.head.calls)
    await eventually(lambda: states[key["head_pan"]].state == 0.0)

    client.select_command(key["wake_word"], "hey_jarvis")
    await eventually(lambda: states[key["wake_word"]].state == "hey_jarvis")
    assert isinstance(states[key["wake_word"]], SelectState)
    assert milo.voice.wake_word == "hey_jarvis"
    client.select_command(key["wake_word"], "milo")  # name mode without STT: refused
    await asyncio.sleep(0.2)
    assert milo.voice.wake_word == "hey_jarvis"
    assert states[key["wake_word"]].state == "hey_jarvis"

    client.light_command(key["status_light"], state=False)
    await eventually(lambda: states[key["status_light"]].state is False)
    client.light_command(key["status_light"], state=True, effect="Thinking")
    await eventually(lambda: states[key["status_light"]].effect == "Thinking")
    light = states[key["status_light"]]
    assert isinstance(light, LightStateModel)
    assert (light.red, light.green) == (1.0, 0.7)

    client.media_player_command(key["media_player"], volume=0.4)
    await eventually(lambda: states[key["media_player"]].volume == pytest.approx(0.4))
    client.media_player_command(key["media_player"], command=MediaPlayerCommand.MUTE)
    await eventually(lambda: states[key["media_player"]].muted)
    assert isinstance(states[key["media_player"]], MediaPlayerEntityState)

    milo.head.see("Jay")
    await eventually(lambda: states[key["person_in_view"]].state == "Jay")
    assert isinstance(states[key["faces_in_view"]], SensorState)
    assert states[key["faces_in_view"]].state == 1
    assert isinstance(states[key["someone_present"]], BinarySensorState)
    assert states[key["someone_present"]].state is True


async def test_buddy_event_reaches_ha_event_bus(milo: Milo, client: APIClient) -> None:
    entities, _ = await client.list_entities_services()
    buddy_key = next(e.key for e in entities if e.object_id == "buddy")
    events: list[object] = []
    calls: list[object] = []
    client.subscribe_states(lambda s: events.append(s) if s.key == buddy_key else None)
    client.subscribe_service_calls(calls.append)
    # Both requests go over TCP: the event is sent only to clients subscribed by then.
    await eventually(
        lambda: any(c.wants_states and c.wants_ha_actions for c in milo.server.clients)
    )
    milo.head.see("Jay")
    await eventually(lambda: events and calls)
    assert events[-1].event_type == "appeared"
    call = calls[-1]
    assert call.service == "esphome.milo_buddy"
    assert call.is_event
    assert call.data == {"event": "appeared", "name": "Jay"}


async def test_actions(milo: Milo, client: APIClient) -> None:
    _, actions = await client.list_entities_services()
    action = {a.name: a for a in actions}
    result = await client.execute_service(
        action["look_at"], {"pan": 10.0, "tilt": -5.0}, return_response=False
    )
    assert result is not None
    assert result.success
    assert ("look_at", (10.0, -5.0)) in milo.head.calls

    result = await client.execute_service(action["gesture"], {"name": "nod"}, return_response=False)
    assert result.success
    result = await client.execute_service(
        action["gesture"], {"name": "moonwalk"}, return_response=False
    )
    assert not result.success
    assert "moonwalk" in result.error_message

    # The head refuses (nobody in view): the reason reaches the caller.
    result = await client.execute_service(
        action["enroll_buddy"], {"name": "Jay"}, return_response=False
    )
    assert not result.success
    assert "No face in view" in result.error_message
    milo.head.see("stranger")
    result = await client.execute_service(
        action["enroll_buddy"], {"name": "Jay"}, return_response=False
    )
    assert result.success
    assert ("enrol_buddy", "Jay") in milo.head.calls
    await client.execute_service(action["forget_buddy"], {"name": "Jay"}, return_response=False)
    assert ("forget_buddy", "Jay") in milo.head.calls


async def test_camera_image_spans_several_frames(milo: Milo, client: APIClient) -> None:
    images: list[bytes] = []
    client.subscribe_states(lambda s: images.append(s.data) if isinstance(s, CameraState) else None)
    client.request_single_image()
    await eventually(lambda: images)
    assert images[0] == JPEG * 4000


async def test_time_from_home_assistant(milo: Milo) -> None:
    """Like an ESPHome device, Milo asks HA for the time once HA has subscribed."""
    client = APIClient("127.0.0.1", milo.server.port, None, timezone="Europe/London")
    await client.connect(login=True)
    try:
        client.subscribe_states(lambda _s: None)
        await eventually(lambda: milo.server.clock is not None)
    finally:
        await client.disconnect()
    assert milo.server.clock is not None
    assert milo.server.clock.timezone == "GMT0BST,M3.5.0/1,M10.5.0"
    assert abs(milo.server.clock.offset_s) < 5


async def test_key_provisioning_is_refused(milo: Milo, client: APIClient) -> None:
    assert not await client.noise_encryption_set_key(os.urandom(32))


async def test_two_clients_at_once(milo: Milo, client: APIClient) -> None:
    second = APIClient("127.0.0.1", milo.server.port, None, client_info="second")
    await second.connect(login=True)
    try:
        entities, _ = await second.list_entities_services()
        pan_key = next(e.key for e in entities if e.object_id == "head_pan")
        seen_1: list[float] = []
        seen_2: list[float] = []
        client.subscribe_states(lambda s: seen_1.append(s.state) if s.key == pan_key else None)
        second.subscribe_states(lambda s: seen_2.append(s.state) if s.key == pan_key else None)
        second.number_command(pan_key, -12.0)
        await eventually(lambda: -12.0 in seen_1 and -12.0 in seen_2)
        assert len(milo.server.clients) == 2
    finally:
        await second.disconnect()
    await eventually(lambda: len(milo.server.clients) == 1)


async def test_garbage_closes_only_that_connection(milo: Milo, client: APIClient) -> None:
    for garbage in (
        b"\x00\xff\xff\xff\xff\x0f",  # a length varint that never ends
        b"\x00\xff\xff\x07\x01",  # claims 131071 bytes: refused before buffering
        b"\x07hello",  # bad preamble
        b"\x00\x02\xc8\x01xx",  # unknown message type 200
        b"\x00\x03\x0a\xff\xff\xff",  # a DeviceInfoRequest before hello... and junk
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", milo.server.port)
        writer.write(garbage)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        writer.close()
    # The well-behaved client is still served.
    info = await client.device_info()
    assert info.name == "milo-test"
    fresh = APIClient("127.0.0.1", milo.server.port, None)
    await fresh.connect(login=True)
    await fresh.disconnect()


@pytest.fixture
async def encrypted(tmp_path: Path) -> Milo:
    device = await make_milo(tmp_path, encryption_key=KEY)
    yield device
    await device.close()


async def test_encrypted_right_key(encrypted: Milo) -> None:
    cli = APIClient("127.0.0.1", encrypted.server.port, None, noise_psk=KEY)
    await cli.connect(login=True)
    try:
        entities, _ = await cli.list_entities_services()
        assert len(entities) == len(EXPECTED_ENTITIES)
        images: list[bytes] = []
        cli.subscribe_states(
            lambda s: images.append(s.data) if isinstance(s, CameraState) else None
        )
        cli.request_single_image()
        await eventually(lambda: images)
        assert images[0] == JPEG * 4000  # several encrypted frames
    finally:
        await cli.disconnect()


async def test_encrypted_garbage_closes_only_that_connection(encrypted: Milo) -> None:
    cli = APIClient("127.0.0.1", encrypted.server.port, None, noise_psk=KEY)
    await cli.connect(login=True)
    try:
        for garbage, answer in (
            # A hello, then a handshake that is not one: told why.
            (b"\x01\x00\x00" + b"\x01\x00\x05junk!", b"Bad handshake error byte"),
            # Plaintext on an encrypted device: told to encrypt.
            (b"\x00\x01\x07", b"Bad indicator byte"),
            # A frame claiming 64 KiB, 200 bytes of it, then the end: closed, no hang.
            (b"\x01\xff\xff" + os.urandom(200), b""),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", encrypted.server.port)
            writer.write(garbage)
            writer.write_eof()
            data = await asyncio.wait_for(reader.read(), 10)  # read() ends: it was closed
            assert answer in data if answer else data == b"", data
            writer.close()
        info = await cli.device_info()  # the good client is still served
        assert info.name == "milo-test"
    finally:
        await cli.disconnect()


async def test_encrypted_wrong_key_is_refused(encrypted: Milo) -> None:
    wrong = base64.b64encode(os.urandom(32)).decode()
    cli = APIClient("127.0.0.1", encrypted.server.port, None, noise_psk=wrong)
    with pytest.raises(InvalidEncryptionKeyAPIError) as refused:
        await cli.connect(login=True)
    assert not encrypted.server.clients
    # HA asks for the key only if the refusing device is the one it knows (same MAC).
    assert refused.value.received_name == "milo-test"
    assert refused.value.received_mac == "020000000042"


async def test_encrypted_without_key_is_refused(encrypted: Milo) -> None:
    cli = APIClient("127.0.0.1", encrypted.server.port, None)
    with pytest.raises(RequiresEncryptionAPIError):
        await cli.connect(login=True)
    assert not encrypted.server.clients


async def test_key_for_a_plaintext_device_is_refused(milo: Milo) -> None:
    cli = APIClient("127.0.0.1", milo.server.port, None, noise_psk=KEY)
    with pytest.raises((EncryptionPlaintextAPIError, APIConnectionError)):
        await cli.connect(login=True)


async def test_zeroconf_announcement() -> None:
    """HA's ESPHome discovery reads the MAC, name and encryption from these properties."""
    announcer = ZeroconfAnnouncer(
        DeviceIdentity(name="milo-zc", mac="02:00:00:00:00:09", friendly_name="Milo ZC"),
        6053,
        encrypted=True,
        host="127.0.0.1",
    )
    await announcer.start()
    browser = AsyncZeroconf(ip_version=IPVersion.V4Only)
    try:
        info = await browser.async_get_service_info(
            SERVICE_TYPE, f"milo-zc.{SERVICE_TYPE}", timeout=5000
        )
    finally:
        await browser.async_close()
        await announcer.stop()
    assert info is not None
    assert info.port == 6053
    assert info.properties[b"mac"] == b"020000000009"
    assert info.properties[b"friendly_name"] == b"Milo ZC"
    assert info.properties[b"api_encryption"] == b"Noise_NNpsk0_25519_ChaChaPoly_SHA256"


async def test_settings_from_ha_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = await make_milo(tmp_path / "a", preferences=Preferences(state))
    client = APIClient("127.0.0.1", first.server.port, None)
    await client.connect(login=True)
    try:
        entities, _ = await client.list_entities_services()
        key = {e.object_id: e.key for e in entities}
        client.select_command(key["wake_word"], "alexa")
        client.select_command(key["end_of_speech"], "fast")
        client.switch_command(key["mute"], True)
        client.media_player_command(key["media_player"], volume=0.25)
        client.light_command(key["status_light"], state=False)
        await eventually(lambda: state.exists() and '"status_light_on": false' in state.read_text())
    finally:
        await client.disconnect()
        await first.close()

    second = await make_milo(tmp_path / "b", preferences=Preferences(state))
    try:
        assert second.voice.wake_word == "alexa"
        assert second.voice.end_of_speech == "fast"
        assert second.device.end_of_speech.value == "fast"  # what HA's select shows
        assert second.voice.muted
        assert second.voice.player.volume == 0.25
        assert second.device.status_light.entity.value.on is False
    finally:
        await second.close()
    state.write_text("{not json")
    assert Preferences(state).get("wake_word") is None  # refused, not crashed


async def test_logs_reach_subscribed_clients(milo: Milo, client: APIClient) -> None:
    forwarder = LogForwarder(milo.server, asyncio.get_running_loop())
    logger = logging.getLogger("milo_satellite.test")
    logger.addHandler(forwarder)
    logger.setLevel(logging.DEBUG)
    lines: list[tuple[int, bytes]] = []
    try:
        client.subscribe_logs(lambda m: lines.append((m.level, m.message)), LogLevel.LOG_LEVEL_INFO)
        await eventually(lambda: forwarder.levels)
        logger.debug("too chatty for INFO")
        logger.warning("surf's up")
        await eventually(lambda: lines)
        await asyncio.sleep(0.1)
        assert lines == [(LogLevel.LOG_LEVEL_WARN, b"[W][milo_satellite.test]: surf's up")]
    finally:
        logger.removeHandler(forwarder)


def test_status_light_drives_two_leds() -> None:
    """Red and green LEDs on GPIO, like the original (gpiozero's mock pins stand in)."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    try:
        light = StatusLight(red_pin=17, green_pin=27)
        red, green = (Device.pin_factory.pin(n) for n in (17, 27))
        light.show("Listening")
        assert (red.state, green.state) == (0.0, 1.0)
        light.show("Searching")
        assert (red.state, green.state) == (pytest.approx(0.3), 0.0)
        light.show("Thinking")
        assert (red.state, green.state) == (1.0, pytest.approx(0.7))
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = None
