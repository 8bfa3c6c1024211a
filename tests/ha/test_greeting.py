"""Milo greets buddies out of the box: the arrival rules, and the greeter in a real HA.

The rules (arrivals.py) are plain Python. The greeter runs in a real HA with Milo's entry
set up, a satellite device as HA's ESPHome integration registers it (its buddy event
entity and Assist satellite), and the head's `esphome.milo_buddy` events fired on the
bus; HA's own service recorder stands in for the announcement (the real satellite
playing it is tests/ha/test_greeting_satellite.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
    mock_restore_cache_with_extra_data,
)

from custom_components.milo import line_bank
from custom_components.milo.arrivals import Arrivals
from custom_components.milo.greeting import BUDDY_EVENT

from .conftest import agent_subentry

MINUTE = 60.0
GAP = 10 * MINUTE
SATELLITE = "assist_satellite.milo_assist_satellite"
SWITCH = "switch.milo_greet_buddies"
GAP_NUMBER = "number.milo_buddy_greeting_gap"


# -- the rules -------------------------------------------------------------------------


def test_first_sight_since_start_is_greeted() -> None:
    """Nothing says a buddy seen for the first time since HA started was just here."""
    arrivals = Arrivals()
    assert arrivals.appeared("Jay", 0.0, GAP)
    assert arrivals.appeared("Ann", 5.0, GAP)  # each buddy on their own


def test_greeted_again_only_after_the_gap() -> None:
    """A face lost for a moment, or a short trip away, is not a new arrival."""
    arrivals = Arrivals()
    assert arrivals.appeared("Jay", 0.0, GAP)
    arrivals.left("Jay", 100.0)
    assert not arrivals.appeared("Jay", 105.0, GAP)  # lost for five seconds
    arrivals.left("Jay", 200.0)
    assert not arrivals.appeared("Jay", 200.0 + GAP - 1, GAP)
    arrivals.left("Jay", 1000.0)
    assert arrivals.appeared("Jay", 1000.0 + GAP, GAP)  # away for the whole gap


def test_the_gap_counts_from_when_they_were_last_seen() -> None:
    """An hour at the desk then two minutes away: seen two minutes ago, not an hour."""
    arrivals = Arrivals()
    assert arrivals.appeared("Jay", 0.0, GAP)
    arrivals.left("Jay", 3600.0)
    assert not arrivals.appeared("Jay", 3600.0 + 2 * MINUTE, GAP)


def test_no_hello_for_a_buddy_who_never_left() -> None:
    """The satellite restarted while Jay sat there and fired `appeared` again."""
    arrivals = Arrivals()
    assert arrivals.appeared("Jay", 0.0, GAP)
    assert not arrivals.appeared("Jay", 2 * GAP, GAP)


def test_names_are_one_buddy_whatever_the_case() -> None:
    arrivals = Arrivals()
    assert arrivals.appeared("Jay", 0.0, GAP)
    arrivals.left("JAY", 10.0)
    assert not arrivals.appeared("jay", 20.0, GAP)


def test_a_gap_of_zero_greets_every_arrival() -> None:
    arrivals = Arrivals()
    assert arrivals.appeared("Jay", 0.0, 0.0)
    arrivals.left("Jay", 10.0)
    assert arrivals.appeared("Jay", 10.0, 0.0)


# -- the greeter in HA -----------------------------------------------------------------


@pytest.fixture
async def satellite_device(hass: HomeAssistant) -> dr.DeviceEntry:
    """A Milo satellite with a head, registered before Milo is set up."""
    return _register_satellite(hass)


def _register_satellite(hass: HomeAssistant) -> dr.DeviceEntry:
    """A Milo satellite with a head, as HA's ESPHome integration registers it."""
    esphome = MockConfigEntry(domain="esphome", unique_id="02:00:00:00:4d:4f")
    esphome.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=esphome.entry_id,
        connections={(dr.CONNECTION_NETWORK_MAC, "02:00:00:00:4d:4f")},
        name="Milo",
        manufacturer="Milo project",
        model="Milo",
    )
    entities = er.async_get(hass)
    entities.async_get_or_create(
        "event",
        "esphome",
        "020000004d4f-event-buddy",
        config_entry=esphome,
        device_id=device.id,
        suggested_object_id="milo_buddy",
        capabilities={"event_types": ["appeared", "left", "stranger"]},
    )
    entities.async_get_or_create(
        "assist_satellite",
        "esphome",
        "020000004d4f-assist_satellite",
        config_entry=esphome,
        device_id=device.id,
        suggested_object_id="milo_assist_satellite",
    )
    hass.states.async_set(SATELLITE, "idle")
    return device


async def _event(hass: HomeAssistant, device: dr.DeviceEntry, event: str, name: str) -> None:
    hass.bus.async_fire(BUDDY_EVENT, {"event": event, "name": name, "device_id": device.id})
    await hass.async_block_till_done()


async def test_a_buddy_is_greeted_by_name_on_their_satellite(
    hass: HomeAssistant,
    freezer: Any,
    satellite_device: dr.DeviceEntry,
    setup_entry: Callable[..., Any],
) -> None:
    """Out of the box: a switch and a gap on the satellite's device, a hello on arrival,
    none after a short absence, another after the gap, none for strangers."""
    announce = async_mock_service(hass, "assist_satellite", "announce")
    milo = await setup_entry()
    entities = er.async_get(hass)
    for entity_id in (SWITCH, GAP_NUMBER):
        entity = entities.async_get(entity_id)
        assert entity is not None, entity_id
        assert entity.device_id == satellite_device.id  # on the satellite's own device
    assert hass.states.get(SWITCH).state == "on"  # type: ignore[union-attr]
    assert float(hass.states.get(GAP_NUMBER).state) == 10  # type: ignore[union-attr]
    # Milo's entry is not added to the ESPHome device: it only puts its entities there.
    device = dr.async_get(hass).async_get(satellite_device.id)
    assert device is not None
    assert device.config_entry_id != milo.entry_id

    await _event(hass, satellite_device, "appeared", "Jay")
    (call,) = announce
    assert call.data["entity_id"] == SATELLITE
    assert call.data["preannounce"] is False
    assert "Jay" in call.data["message"]
    assert "{" not in call.data["message"]

    await _event(hass, satellite_device, "left", "Jay")
    freezer.tick(timedelta(minutes=3))
    await _event(hass, satellite_device, "appeared", "Jay")  # back from the kettle
    await _event(hass, satellite_device, "stranger", "stranger")
    assert len(announce) == 1

    await _event(hass, satellite_device, "left", "Jay")
    freezer.tick(timedelta(minutes=10))
    await _event(hass, satellite_device, "appeared", "Jay")
    assert len(announce) == 2
    assert "Jay" in announce[-1].data["message"]


async def test_switch_and_gap_are_the_users(
    hass: HomeAssistant,
    freezer: Any,
    satellite_device: dr.DeviceEntry,
    setup_entry: Callable[..., Any],
) -> None:
    """The switch off: no hello (the arrival still counts); a gap of 30 minutes holds one
    back at 20."""
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await setup_entry()
    await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)
    assert hass.states.get(SWITCH).state == "off"  # type: ignore[union-attr]
    await _event(hass, satellite_device, "appeared", "Jay")
    assert announce == []

    await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    await hass.services.async_call(
        "number", "set_value", {"entity_id": GAP_NUMBER, "value": 30}, blocking=True
    )
    await _event(hass, satellite_device, "appeared", "Jay")  # never left: no hello
    await _event(hass, satellite_device, "left", "Jay")
    freezer.tick(timedelta(minutes=20))
    await _event(hass, satellite_device, "appeared", "Jay")
    assert announce == []
    await _event(hass, satellite_device, "left", "Jay")
    freezer.tick(timedelta(minutes=31))
    await _event(hass, satellite_device, "appeared", "Jay")
    assert len(announce) == 1


async def test_settings_survive_a_restart(
    hass: HomeAssistant, satellite_device: dr.DeviceEntry, setup_entry: Callable[..., Any]
) -> None:
    """HA restores the switch and the gap the user left them at."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(SWITCH, "off"), {}),
            (
                State(GAP_NUMBER, "45"),
                {
                    "native_value": 45.0,
                    "native_min_value": 0.0,
                    "native_max_value": 1440.0,
                    "native_step": 1.0,
                    "native_unit_of_measurement": "min",
                },
            ),
        ],
    )
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await setup_entry()
    assert hass.states.get(SWITCH).state == "off"  # type: ignore[union-attr]
    assert float(hass.states.get(GAP_NUMBER).state) == 45  # type: ignore[union-attr]
    await _event(hass, satellite_device, "appeared", "Jay")
    assert announce == []


async def test_the_agents_voice_and_a_busy_satellite(
    hass: HomeAssistant,
    freezer: Any,
    satellite_device: dr.DeviceEntry,
    setup_entry: Callable[..., Any],
) -> None:
    """The agent set to this satellite chooses the sarcasm (0: a plain hello). A buddy
    arriving mid-conversation is greeted once Milo is idle, not over the top of it."""
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await setup_entry(subentries=[agent_subentry(sarcasm=0, satellite_device=satellite_device.id)])
    bank = line_bank.load([line_bank.SHIPPED])
    plain = {
        line_bank.fill(line.text, person="Ann")
        for line in bank.lines
        if line.topic == "buddy_greeting" and line.sarcasm == 0
    }
    hass.states.async_set(SATELLITE, "responding")
    await _event(hass, satellite_device, "appeared", "Ann")
    assert announce == []
    hass.states.async_set(SATELLITE, "idle")
    await hass.async_block_till_done()
    (call,) = announce
    assert call.data["message"] in plain


async def test_a_satellite_adopted_later_gets_its_switch(
    hass: HomeAssistant, setup_entry: Callable[..., Any]
) -> None:
    """Milo set up first, the satellite adopted afterwards: its switch appears then."""
    await setup_entry()
    assert hass.states.get(SWITCH) is None
    device = _register_satellite(hass)
    await hass.async_block_till_done()
    entity = er.async_get(hass).async_get(SWITCH)
    assert entity is not None
    assert entity.device_id == device.id
    assert hass.states.get(SWITCH).state == "on"  # type: ignore[union-attr]
