"""The mute and power buttons (buttons.py) on gpiozero's mock pins, seen by a real
aioesphomeapi client: presses, long presses, contact chatter, the goodbye and shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
import sys
import time

from aioesphomeapi import APIClient, LightState as ApiLightState, SwitchState
from gpiozero import LED, Device
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin
import pytest
from satellite_helpers import Milo, eventually, wav_samples, write_wav
from test_satellite_name_mode import _ready, tts_uri  # noqa: F401 - tts_uri: a fixture

from milo_satellite.app import SatelliteApp
from milo_satellite.buttons import ButtonError, Buttons, PushButton
from milo_satellite.config import ButtonsConfig, load_config
from milo_satellite.settings import ConfigError
from milo_satellite.status_light import StatusLight
from milo_satellite.voice.audio import MIC_RATE
from milo_satellite.voice.sounds import render_tone

MUTE, POWER = 17, 27
FAST = {"debounce_s": 0.05, "long_press_s": 0.5}  # the 3 s default would slow the tests


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    try:
        yield Device.pin_factory
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = None


async def press(pin: MockPin, seconds: float, chatter: bool = False) -> None:
    """Hold the button `seconds` (it pulls the pin low); `chatter`: contacts that bounce
    for a few milliseconds on the way down and up, as real ones do."""
    edges = [pin.drive_low, pin.drive_high] * 3 if chatter else []
    for edge in edges:
        edge()
        await asyncio.sleep(0.002)
    pin.drive_low()
    await asyncio.sleep(seconds)
    for edge in edges:
        edge()
        await asyncio.sleep(0.002)
    pin.drive_high()
    await asyncio.sleep(FAST["debounce_s"] * 3)


async def test_short_long_and_chattering_presses(pins: MockFactory) -> None:
    seen: list[str] = []
    button = PushButton(
        POWER,
        asyncio.get_running_loop(),
        on_short=lambda: seen.append("short"),
        on_long=lambda: seen.append("long"),
        **FAST,
    )
    pin = pins.pin(POWER)
    try:
        await press(pin, 0.15)
        assert seen == ["short"]
        await press(pin, 0.1, chatter=True)  # one press, not four
        assert seen == ["short", "short"]
        pin.drive_low()  # held: the long press comes while it is still down...
        await eventually(lambda: len(seen) == 3, within=2)
        assert seen[-1] == "long"
        pin.drive_high()  # ...and letting go adds nothing
        await asyncio.sleep(0.2)
        assert seen == ["short", "short", "long"]
        pin.drive_low()  # a glitch shorter than the debounce time is no press
        await asyncio.sleep(0.005)
        pin.drive_high()
        await asyncio.sleep(0.2)
        assert seen == ["short", "short", "long"]
    finally:
        button.close()


async def test_a_pin_that_cannot_be_used_is_a_clear_error(pins: MockFactory) -> None:
    led = LED(5)  # the config refuses a shared pin; gpiozero refuses it too
    try:
        with pytest.raises(ButtonError, match="cannot use GPIO 5 for a button"):
            PushButton(5, asyncio.get_running_loop(), on_short=lambda: None, **FAST)
    finally:
        led.close()


@pytest.fixture
async def buttons(milo: Milo, pins: MockFactory, tmp_path: Path) -> AsyncIterator[Buttons]:
    config = ButtonsConfig(
        mute_pin=MUTE,
        power_pin=POWER,
        shutdown_command=f"{sys.executable} -c \"open('{tmp_path / 'off'}', 'w')\"",
        **FAST,
    )
    buttons = Buttons(config, milo.voice, milo.head)
    buttons.start()
    yield buttons
    await buttons.stop()


async def _switches(client: APIClient) -> tuple[dict[str, bool], dict[str, int]]:
    """Live switch states by object id, as HA's ESPHome integration receives them,
    and the entity keys."""
    entities, _ = await client.list_entities_services()
    keys = {e.object_id: e.key for e in entities}
    names = {key: name for name, key in keys.items()}
    states: dict[str, bool] = {}

    def on_state(state: object) -> None:
        if isinstance(state, SwitchState):
            states[names[state.key]] = state.state

    client.subscribe_states(on_state)
    await eventually(lambda: "mute" in states and "sleep" in states)
    return states, keys


async def test_mute_button_shows_on_the_switch_and_light(
    milo: Milo, client: APIClient, buttons: Buttons, pins: MockFactory
) -> None:
    switches, keys = await _switches(client)
    lights: list[ApiLightState] = []
    client.subscribe_states(lambda s: lights.append(s) if isinstance(s, ApiLightState) else None)
    assert switches["mute"] is False
    await press(pins.pin(MUTE), 0.15)
    await eventually(lambda: switches["mute"] is True)
    assert milo.voice.muted
    await eventually(lambda: lights and lights[-1].effect == "Muted")
    assert switches["sleep"] is False  # the mute button is the microphone only
    await press(pins.pin(MUTE), 0.15)
    await eventually(lambda: switches["mute"] is False)
    # HA's switch and the button are one mute: off from HA, the button turns it on again.
    client.switch_command(keys["mute"], True)
    await eventually(lambda: milo.voice.muted)
    await press(pins.pin(MUTE), 0.15)
    await eventually(lambda: switches["mute"] is False)


async def test_power_button_sleeps_and_wakes_milo(
    milo: Milo, client: APIClient, buttons: Buttons, pins: MockFactory, tmp_path: Path
) -> None:
    switches, _ = await _switches(client)
    await press(pins.pin(POWER), 0.15)
    await eventually(lambda: switches["mute"] and switches["sleep"])
    assert ("set_sleep", True) in milo.head.calls
    await press(pins.pin(POWER), 0.15)
    await eventually(lambda: not switches["mute"] and not switches["sleep"])
    assert not (tmp_path / "off").exists()


async def test_power_button_held_says_goodbye_and_shuts_down(
    milo: Milo, client: APIClient, buttons: Buttons, pins: MockFactory, tmp_path: Path
) -> None:
    switches, _ = await _switches(client)
    pin = pins.pin(POWER)
    pin.drive_low()
    await eventually((tmp_path / "off").exists, within=10)
    pin.drive_high()
    await asyncio.sleep(0.2)
    # The goodbye sound played in full before the shutdown command ran.
    goodbye = [p for p in milo.played() if "goodbye" in p.name]
    assert len(goodbye) == 1
    expected = render_tone("goodbye", milo.voice.player.sink.format)
    assert len(wav_samples(goodbye[0])) == len(expected) // 2
    await eventually(lambda: switches["sleep"] is True)  # the head rests
    assert switches["mute"] is False  # not kept as muted for the next start
    assert buttons.powering_off  # presses while the Pi goes down do nothing
    await press(pin, 0.15)
    assert not milo.voice.muted


async def test_failed_shutdown_leaves_the_buttons_working(
    milo: Milo, pins: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    config = ButtonsConfig(power_pin=POWER, shutdown_command="false", **FAST)
    buttons = Buttons(config, milo.voice, milo.head)
    buttons.start()
    try:
        pin = pins.pin(POWER)
        pin.drive_low()
        await eventually(lambda: "Shutdown command 'false' failed" in caplog.text, within=10)
        pin.drive_high()
        await eventually(lambda: not buttons.powering_off)
        await asyncio.sleep(0.1)  # let go for longer than the debounce time
        await press(pin, 0.15)
        assert milo.voice.muted
    finally:
        await buttons.stop()


def test_muted_pulses_the_red_led(pins: MockFactory) -> None:
    """Muted must not look like waiting (a steady dim red) on the two LEDs."""
    light = StatusLight(red_pin=5, green_pin=6)
    red, green = pins.pin(5), pins.pin(6)
    light.show("Muted")
    red.clear_states()
    for _ in range(100):
        if len({round(s.state, 2) for s in red.states}) > 3:
            break
        time.sleep(0.02)
    assert len({round(s.state, 2) for s in red.states}) > 3  # it breathes
    assert green.state == 0.0
    light.show("Muted")  # the same again (another phase while muted) keeps it breathing
    light.show("Searching")
    assert red.state == pytest.approx(0.3)


def test_buttons_in_the_config(tmp_path: Path) -> None:
    mic = write_wav(tmp_path / "mic.wav", bytes(MIC_RATE), MIC_RATE)

    def load(text: str) -> object:
        path = tmp_path / "satellite.yaml"
        path.write_text(text)
        return load_config(["--config", str(path), "--simulate", "--mic-file", str(mic)])

    example = Path(__file__).parents[2] / "satellite" / "config.example.yaml"
    assert load_config(["--config", str(example)]).buttons == ButtonsConfig()  # all shown
    config = load("buttons: {mute_pin: 17, power_pin: 27}\n")
    assert config.buttons == ButtonsConfig(mute_pin=17, power_pin=27)  # type: ignore[attr-defined]
    for text, error in (
        ("buttons: {mute_pin: 40}\n", "buttons.mute_pin must be a BCM GPIO number 0-27"),
        ("buttons: {power_pin: seventeen}\n", "buttons.power_pin must be a BCM pin number"),
        (
            "status_light: {red_pin: 17, green_pin: 18}\nbuttons: {mute_pin: 17}\n",
            "buttons.mute_pin and status_light.red_pin are both GPIO 17",
        ),
        ("buttons: {long_press_s: 0.01}\n", "need 0 < debounce_s < long_press_s"),
        ("buttons: {power_pin: 27, shutdown_command: ''}\n", "shutdown_command is empty"),
        ('buttons: {shutdown_command: "sudo \'poweroff"}\n', "No closing quotation"),
        ("buttons: {reset_pin: 4}\n", "unknown option buttons.reset_pin"),
    ):
        with pytest.raises(ConfigError, match=error):
            load(text)


async def test_the_app_wires_the_buttons(tmp_path: Path, pins: MockFactory) -> None:
    """milo-satellite with `buttons:` in its file: a press mutes it."""
    mic = write_wav(tmp_path / "mic.wav", bytes(MIC_RATE), MIC_RATE)
    path = tmp_path / "satellite.yaml"
    path.write_text(
        "head: false\nzeroconf: false\nhost: 127.0.0.1\nbuttons: {mute_pin: 17, debounce_s: 0.05}\n"
    )
    config = load_config(
        [
            *("--config", str(path), "--simulate", "--mic-file", str(mic)),
            *("--sound-dir", str(tmp_path / "sound")),
        ]
    )
    config.api_port = 0  # any free port (the file refuses 0)
    app = SatelliteApp(config)
    await app.start()
    try:
        await press(pins.pin(MUTE), 0.15)
        assert app.voice.muted
        assert app.device.mute.value is True
    finally:
        await app.stop()


@pytest.mark.slow
async def test_goodbye_spoken_by_the_tts(
    milo: Milo,
    pins: MockFactory,
    tts_uri: str,  # noqa: F811 - the fixture imported above
) -> None:
    """With voice.tts_uri, the goodbye is the phrase in milo-tts's voice, not the tune."""
    await _ready(tts_uri)
    config = ButtonsConfig(power_pin=POWER, shutdown_command="true", **FAST)
    buttons = Buttons(config, milo.voice, milo.head, tts_uri=tts_uri)
    buttons.start()
    try:
        pins.pin(POWER).drive_low()
        await eventually(lambda: buttons.powering_off and not milo.voice.player.playing, 60)
        await eventually(lambda: [p for p in milo.played() if "goodbye" in p.name], 60)
        (played,) = [p for p in milo.played() if "goodbye" in p.name]
        # A spoken sentence: well over a second, where the tune lasts 0.85 s.
        assert len(wav_samples(played)) > 1.5 * milo.voice.player.sink.format.rate
    finally:
        await buttons.stop()
