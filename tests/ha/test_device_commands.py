"""Device commands and state questions: Milo against HA's own agent on the same home.

A real HA with exposed plugs, locks, a vacuum, speakers, lights, a garage door, a fan,
sensors and a thermostat. Every sentence goes to HA's default agent alone, then to Milo;
each is right when the expected service ran on the expected entity, or when the answer
says the expected state, without the model. Milo must get right all that HA gets right,
and the commands HA's intents missed in the held-out evaluation of issue 16.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.milo import local_commands

from .conftest import FakeCloud, Reply, agent_subentry
from .test_conversation import ask, speech
from .test_routing import _add

# (sentence, the service that must run on the entity, or words the answer may say, by "|")
Expect = tuple[str, str] | str
TABLE: list[tuple[str, Expect]] = [
    ("Turn off the kitchen plug", ("homeassistant.turn_off", "switch.kitchen_plug")),
    ("Switch off the plug in the kitchen", ("homeassistant.turn_off", "switch.kitchen_plug")),
    ("turn the kitchen plug on", ("homeassistant.turn_on", "switch.kitchen_plug")),
    ("Is the kitchen plug on or off?", "on"),
    ("Unlock the entry lock", ("lock.unlock", "lock.entry_lock")),
    ("Lock the entry lock", ("lock.lock", "lock.entry_lock")),
    ("Milo, unlock the entry lock please", ("lock.unlock", "lock.entry_lock")),
    ("lock the back door", ("lock.lock", "lock.back_door")),
    ("Could you lock the back door", ("lock.lock", "lock.back_door")),
    ("unlock the back door", ("lock.unlock", "lock.back_door")),
    ("Is the entry lock locked?", "yes|is locked"),
    ("Is the back door locked?", "no|unlocked"),
    ("What's the entry lock battery?", "90"),
    ("How much battery does the entry lock have left", "90"),
    ("Start Roborock Downstairs vacuum", ("vacuum.start", "vacuum.roborock")),
    ("start the roborock downstairs vacuum", ("vacuum.start", "vacuum.roborock")),
    ("start the vacuum", ("vacuum.start", "vacuum.roborock")),
    ("Send the Roborock Downstairs vacuum home", ("vacuum.return_to_base", "vacuum.roborock")),
    ("Dock the Roborock downstairs vacuum", ("vacuum.return_to_base", "vacuum.roborock")),
    ("return the roborock downstairs vacuum to its dock",
     ("vacuum.return_to_base", "vacuum.roborock")),
    ("Is the Roborock downstairs vacuum docked?", "docked"),
    ("Are the outdoor speakers playing, paused, or stopped?", "paused"),
    ("what are the outdoor speakers doing", "paused"),
    ("pause the outdoor speakers", "already paused|are paused"),
    ("resume the outdoor speakers", ("media_player.media_play", "media_player.outdoor_speakers")),
    ("unpause the outdoor speakers",
     ("media_player.media_play", "media_player.outdoor_speakers")),
    ("set the outdoor speakers volume to 30",
     ("media_player.volume_set", "media_player.outdoor_speakers")),
    ("switch off the outdoor speakers",
     ("homeassistant.turn_off", "media_player.outdoor_speakers")),
    ("Turn on the reading lamp", ("homeassistant.turn_on", "light.reading_lamp")),
    ("turn the reading lamp off", ("homeassistant.turn_off", "light.reading_lamp")),
    ("Set the reading lamp to 50%", ("light.turn_on", "light.reading_lamp")),
    ("dim the reading lamp to 20 percent", ("light.turn_on", "light.reading_lamp")),
    ("Is the reading lamp on?", "no|off"),
    ("Turn on the lamp in the living room", ("homeassistant.turn_on", "light.reading_lamp")),
    ("Open the garage door", ("cover.open_cover", "cover.garage_door")),
    ("Close the garage door", ("cover.close_cover", "cover.garage_door")),
    ("shut the garage door", ("cover.close_cover", "cover.garage_door")),
    ("Is the garage door open?", "no|closed"),
    ("set the garage door to 50%", ("cover.set_cover_position", "cover.garage_door")),
    ("what's the state of the garage door", "closed"),
    ("turn on the ceiling fan", ("homeassistant.turn_on", "fan.ceiling_fan")),
    ("switch the ceiling fan off", ("homeassistant.turn_off", "fan.ceiling_fan")),
    ("Is the ceiling fan running?", "no|off"),
    ("turn on the coffee machine", ("homeassistant.turn_on", "switch.coffee_machine")),
    ("Switch on the coffee machine in the kitchen",
     ("homeassistant.turn_on", "switch.coffee_machine")),
    ("Please turn off the coffee machine", ("homeassistant.turn_off", "switch.coffee_machine")),
    ("is the coffee machine on", "no|off"),
    ("What's the temperature in the bedroom?", "19"),
    ("what's the bedroom temperature", "19"),
    ("Set the thermostat to 21 degrees", ("climate.set_temperature", "climate.thermostat")),
    ("what is the thermostat set to", "20"),
    ("Pause the TV", ("media_player.media_pause", "media_player.tv")),
    ("Is the TV playing?", "playing"),
    ("turn off the TV", ("homeassistant.turn_off", "media_player.tv")),
    ("Is the front door open?", "no|closed"),
    ("turn off the lights in the kitchen", ("homeassistant.turn_off", "light.kitchen_ceiling")),
    ("turn off the kitchen lights", ("homeassistant.turn_off", "light.kitchen_ceiling")),
    ("Turn on the kitchen ceiling light", ("homeassistant.turn_on", "light.kitchen_ceiling")),
    ("switch on the ceiling light in the kitchen",
     ("homeassistant.turn_on", "light.kitchen_ceiling")),
    ("Kill the reading lamp", ("homeassistant.turn_off", "light.reading_lamp")),
    ("open the garage", ("cover.open_cover", "cover.garage_door")),
    ("start the roborock", ("vacuum.start", "vacuum.roborock")),
]  # fmt: skip
# Those HA's intents missed in the held-out evaluation; Milo's own matcher gets them.
MISSED_BY_HA = [
    "Unlock the entry lock",
    "Start Roborock Downstairs vacuum",
    "Switch off the plug in the kitchen",
    "Are the outdoor speakers playing, paused, or stopped?",
]
# HA's own agent answers these wrongly (it starts the vacuum), before Milo's matcher is asked.
HA_MISFIRES = ["Send the Roborock Downstairs vacuum home", "Dock the Roborock downstairs vacuum"]
SERVICES = [
    ("homeassistant", "turn_on"), ("homeassistant", "turn_off"),
    ("light", "turn_on"), ("light", "turn_off"), ("switch", "turn_on"), ("switch", "turn_off"),
    ("fan", "turn_on"), ("fan", "turn_off"), ("lock", "lock"), ("lock", "unlock"),
    ("vacuum", "start"), ("vacuum", "return_to_base"), ("cover", "open_cover"),
    ("cover", "close_cover"), ("cover", "set_cover_position"),
    ("media_player", "media_pause"), ("media_player", "media_play"),
    ("media_player", "volume_set"), ("media_player", "turn_on"), ("media_player", "turn_off"),
    ("climate", "set_temperature"),
]  # fmt: skip


@pytest.fixture
async def device_home(hass: HomeAssistant) -> dict[str, list[ServiceCall]]:
    """The home, every entity exposed; returns the recorded service calls by service."""
    for component in (
        "homeassistant", "intent", "light", "switch", "fan", "lock", "vacuum", "cover",
        "media_player", "climate",
    ):  # fmt: skip
        assert await async_setup_component(hass, component, {})
    _add(hass, "switch.kitchen_plug", "Kitchen plug", "on", "Kitchen")
    _add(hass, "switch.coffee_machine", "Coffee machine", "off", "Kitchen")
    _add(
        hass, "light.kitchen_ceiling", "Kitchen ceiling light", "on", "Kitchen",
        supported_color_modes=["brightness"], color_mode="brightness",
    )  # fmt: skip
    _add(
        hass, "light.reading_lamp", "Reading lamp", "off", "Living room",
        supported_color_modes=["brightness"], color_mode="brightness",
    )  # fmt: skip
    _add(hass, "lock.entry_lock", "Entry lock", "locked", "Hall")
    _add(hass, "lock.back_door", "Back door", "unlocked", "Hall")
    _add(
        hass, "sensor.entry_lock_battery", "Entry lock battery", "90", "Hall",
        device_class="battery", unit_of_measurement="%",
    )  # fmt: skip
    _add(hass, "binary_sensor.front_door", "Front door", "off", "Hall", device_class="door")
    _add(
        hass, "vacuum.roborock", "Roborock Downstairs vacuum", "docked", "Downstairs",
        supported_features=8192 | 16 | 4096,  # start, return home, state
    )  # fmt: skip
    _add(
        hass, "media_player.outdoor_speakers", "Outdoor speakers", "paused", "Garden",
        supported_features=1 | 4 | 16384 | 128 | 256,  # pause, volume, play, on, off
    )  # fmt: skip
    _add(
        hass, "media_player.tv", "TV", "playing", "Living room",
        supported_features=1 | 16384 | 128 | 256,
    )  # fmt: skip
    _add(
        hass, "cover.garage_door", "Garage door", "closed", "Garage",
        device_class="garage", supported_features=1 | 2 | 4,  # open, close, position
    )  # fmt: skip
    _add(hass, "fan.ceiling_fan", "Ceiling fan", "off", "Bedroom")
    _add(
        hass, "sensor.bedroom_temperature", "Bedroom temperature", "19", "Bedroom",
        device_class="temperature", unit_of_measurement="°C",
    )  # fmt: skip
    _add(
        hass, "climate.thermostat", "Thermostat", "heat", "Hall",
        current_temperature=18, temperature=20, hvac_modes=["off", "heat"], supported_features=1,
    )  # fmt: skip
    _add(hass, "lock.shed", "Shed lock", "locked", "Garden")
    for state in hass.states.async_all():
        async_expose_entity(
            hass, conversation.DOMAIN, state.entity_id, state.entity_id != "lock.shed"
        )
    return {
        f"{domain}.{service}": async_mock_service(hass, domain, service)
        for domain, service in SERVICES
    }


@pytest.fixture
async def milo(
    hass: HomeAssistant,
    setup_entry: Callable[..., Any],
    cloud: FakeCloud,
    device_home: dict[str, list[ServiceCall]],
) -> FakeCloud:
    """Milo with the Assist API in the device home; the scripted model says "Sure."."""
    await setup_entry(subentries=[agent_subentry(sarcasm=0)])
    cloud.default = Reply("Sure.")
    return cloud


def _entities(call: ServiceCall) -> list[str]:
    found = call.data.get("entity_id", [])
    return [found] if isinstance(found, str) else list(found)


async def _right(
    hass: HomeAssistant,
    calls: dict[str, list[ServiceCall]],
    expect: Expect,
    ask_agent: Callable[[], Any],
) -> bool:
    """Whether asking did what `expect` says: that service on that entity and no other, or
    said one of the words and ran no service (a question never acts)."""
    before = {service: len(made) for service, made in calls.items()}
    result = await ask_agent()
    ran = [
        (name, entity)
        for name, made in calls.items()
        for call in made[before[name] :]
        for entity in _entities(call)
    ]
    if isinstance(expect, str):
        said = speech(result).casefold()
        return not ran and any(word in said for word in expect.split("|"))
    return ran == [expect]


async def test_milo_gets_all_ha_gets_and_more(
    hass: HomeAssistant, milo: FakeCloud, device_home: dict[str, list[ServiceCall]]
) -> None:
    """Every sentence to HA's agent alone and to Milo; Milo gets right all HA gets right,
    those of the held-out misses, and never asks the model for one it gets right."""
    ha_right: set[str] = set()
    milo_right: set[str] = set()
    for text, expect in TABLE:
        if await _right(
            hass,
            device_home,
            expect,
            lambda text=text: conversation.async_converse(
                hass,
                text,
                None,
                Context(),
                language="en",
                agent_id=conversation.HOME_ASSISTANT_AGENT,
            ),
        ):
            ha_right.add(text)
        asked = len(milo.chat_requests())
        if await _right(hass, device_home, expect, lambda text=text: ask(hass, text)):
            assert len(milo.chat_requests()) == asked, text
            milo_right.add(text)
    assert len(TABLE) >= 60
    assert ha_right - milo_right == set()
    assert set(MISSED_BY_HA) <= milo_right
    # HA's fuzzy matching starts the vacuum for these, and it answers first for commands.
    assert [text for text, _ in TABLE if text not in milo_right] == HA_MISFIRES
    # The counts docs/integration.md gives.
    assert (len(ha_right), len(milo_right), len(TABLE)) == (48, 60, 62)


def _said(text: str, language: str = "en") -> conversation.ConversationInput:
    return conversation.ConversationInput(
        text=text,
        context=Context(),
        conversation_id=None,
        device_id=None,
        satellite_id=None,
        language=language,
        agent_id="conversation.milo",
    )


async def test_asks_back_when_two_fit(
    hass: HomeAssistant, device_home: dict[str, list[ServiceCall]]
) -> None:
    """Two desk lamps and no room said: Milo asks which, and does nothing."""
    for entity_id, area in (("light.office_desk", "Office"), ("light.bedroom_desk", "Bedroom")):
        _add(hass, entity_id, "Desk lamp", "off", area)
        async_expose_entity(hass, conversation.DOMAIN, entity_id, True)
    handled = await local_commands.async_handle(hass, _said("turn on the desk lamp"), None)
    assert handled is not None
    assert handled.speech in (
        "Which one: the Desk lamp in the Office or the Desk lamp in the Bedroom?",
        "Which one: the Desk lamp in the Bedroom or the Desk lamp in the Office?",
    )
    assert not any(device_home.values())


async def test_sets_through_has_intent(
    hass: HomeAssistant, device_home: dict[str, list[ServiceCall]]
) -> None:
    """ "Set ... to N" runs HA's intent for the device's kind: a light's brightness."""
    handled = await local_commands.async_handle(hass, _said("set the reading lamp to 30"), None)
    assert handled is not None
    assert (handled.tool_name, handled.speech) == ("HassLightSet", "Set the Reading lamp to 30.")
    [call] = device_home["light.turn_on"]
    assert call.data["entity_id"] == "light.reading_lamp"


async def test_never_acts_on_an_unexposed_device(
    hass: HomeAssistant, milo: FakeCloud, device_home: dict[str, list[ServiceCall]]
) -> None:
    """The shed lock is not exposed to Assist: Milo's matcher doesn't see it, and "the shed
    lock" half names no exposed lock well enough to unlock it."""
    assert await local_commands.async_handle(hass, _said("unlock the shed lock"), None) is None
    await ask(hass, "unlock the shed lock")
    assert device_home["lock.unlock"] == []


async def test_english_only(hass: HomeAssistant, device_home: dict[str, list[ServiceCall]]) -> None:
    """The verbs are English: another language's sentence is not Milo's matcher's."""
    assert (
        await local_commands.async_handle(hass, _said("unlock the entry lock", "de"), None) is None
    )


async def test_a_devices_area_and_floor(hass: HomeAssistant) -> None:
    """An entity without an area of its own is in its device's area, on that area's floor."""
    assert await async_setup_component(hass, "homeassistant", {})
    upstairs = fr.async_get(hass).async_create("Upstairs", aliases={"top floor"})
    study = ar.async_get(hass).async_create("Study", floor_id=upstairs.floor_id)
    config = MockConfigEntry(domain="test")
    config.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=config.entry_id, identifiers={("test", "lamp")}
    )
    dr.async_get(hass).async_update_device(device.id, area_id=study.id)
    er.async_get(hass).async_get_or_create(
        "light", "test", "lamp", suggested_object_id="lamp", device_id=device.id,
        original_name="Lamp",
    )  # fmt: skip
    hass.states.async_set("light.lamp", "off", {"friendly_name": "Lamp"})
    async_expose_entity(hass, conversation.DOMAIN, "light.lamp", True)
    [lamp] = local_commands.async_devices(hass, None)
    assert lamp.areas == ("Study", "Upstairs", "top floor")
