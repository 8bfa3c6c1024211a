"""Milo's GPIO buttons seen through Home Assistant's own ESPHome integration.

`milo-satellite --simulate` puts the buttons on gpiozero's mock pins and presses them as
its standard input says (buttons.py), through the same debouncing and long-press timing
as on a Pi: the mute button's press shows on HA's mute switch and status light, the
power button's short press puts Milo to sleep, and holding it says goodbye and runs the
shutdown command (here one that leaves a file behind).
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .test_esphome_satellite import (  # noqa: F401 - fixtures
    Satellite,
    _state,
    _until,
    mic_wav,
    milo_entry,
    no_errors_in_the_log,
    photo,
    satellite,
    zeroconf_flag,
)

LONG_PRESS_S = 1.0  # the 3 s default would only slow the test


@pytest.fixture
def satellite_config(tmp_path: Path) -> str:
    """The satellite with a mute button on GPIO 17 and a power button on GPIO 27."""
    return (
        "buttons:\n"
        "  mute_pin: 17\n"
        "  power_pin: 27\n"
        f"  long_press_s: {LONG_PRESS_S}\n"
        f"  shutdown_command: touch {tmp_path / 'powered-off'}\n"
    )


def _effect(hass: HomeAssistant) -> object:
    state = hass.states.get("light.milo_status_light")
    return state.attributes.get("effect") if state is not None else None


async def test_mute_button_shows_on_the_dashboard(
    hass: HomeAssistant,
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    satellite: Satellite,  # noqa: F811 - the imported fixture
) -> None:
    await _until(lambda: _state(hass, "switch.milo_mute") == "off")  # its state is in
    satellite.press("mute")
    await _until(lambda: _state(hass, "switch.milo_mute") == "on")
    await _until(lambda: _effect(hass) == "Muted")
    satellite.press("mute")
    await _until(lambda: _state(hass, "switch.milo_mute") == "off")
    await _until(lambda: _effect(hass) == "Searching")
    # HA's switch and the button are one mute: the button undoes what HA did.
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.milo_mute"}, blocking=True
    )
    await _until(lambda: _state(hass, "switch.milo_mute") == "on")
    satellite.press("mute")
    await _until(lambda: _state(hass, "switch.milo_mute") == "off")


async def test_power_button_sleeps_then_shuts_down(
    hass: HomeAssistant,
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    satellite: Satellite,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    satellite.press("power")  # short: asleep, listening off
    await _until(lambda: _state(hass, "switch.milo_sleep") == "on")
    await _until(lambda: _state(hass, "switch.milo_mute") == "on")
    satellite.press("power")  # and awake again
    await _until(lambda: _state(hass, "switch.milo_sleep") == "off")
    await _until(lambda: _state(hass, "switch.milo_mute") == "off")
    assert not (tmp_path / "powered-off").exists()
    satellite.press("power", LONG_PRESS_S + 0.5)  # held: goodbye, then the shutdown command
    await _until((tmp_path / "powered-off").exists)
    (goodbye,) = satellite.played("goodbye")
    assert goodbye.stat().st_size > 22050  # the goodbye tune, half a second or more
    assert _state(hass, "switch.milo_sleep") == "on"  # the head rests before the end
