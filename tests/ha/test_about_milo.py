"""Questions about Milo itself through HA: what its camera sees, something to do when the
user is bored, its favourites and friends. All from the bank, never the tiny model, which
answered "Can you see me?" with "I'll take your word for it." (the character bench)."""

from __future__ import annotations

import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.milo import persona
from custom_components.milo.line_bank import fill

from .conftest import FakeCloud, agent_subentry
from .test_conversation import ask, milo_satellite, speech  # noqa: F401 - a fixture

CAMERA = "switch.milo_camera_on"
PERSON = "sensor.milo_person_in_view"


def sight_lines(tag: str, person: str = "") -> list[str]:
    """The bank's lines for what the camera sees, as Milo says them to `person`."""
    return [fill(text, person=person) for text in persona._bank.texts("sight", tag)]


@pytest.fixture
def camera(hass: HomeAssistant, milo_satellite: dict[str, Any]) -> str:  # noqa: F811
    """The head's privacy switch on the satellite, on; returns the device id."""
    registry = er.async_get(hass)
    esphome = next(iter(hass.config_entries.async_entries("esphome")))
    entry = registry.async_get_or_create(
        "switch",
        "esphome",
        "AA:BB:CC:DD:EE:FF-switch-camera_on",
        device_id=milo_satellite["device_id"],
        config_entry=esphome,
        suggested_object_id="milo_camera_on",
    )
    assert entry.entity_id == CAMERA
    hass.states.async_set(CAMERA, "on")
    return str(milo_satellite["device_id"])


@pytest.mark.parametrize(
    ("person", "camera_state", "tag"),
    [
        ("Jay", "on", "buddy"),
        ("stranger", "on", "stranger"),
        ("", "on", "nobody"),
        ("Jay", "off", "camera_off"),
        ("Jay", "unavailable", "no_camera"),
    ],
)
async def test_milo_says_what_its_camera_sees(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    camera: str,
    *,
    person: str,
    camera_state: str,
    tag: str,
) -> None:
    """The satellite that heard "Can you see me?" answers from its camera: the buddy by
    name, a stranger, nobody, its privacy switch off, or nothing known of it."""
    await setup_entry()
    hass.states.async_set(PERSON, person)
    hass.states.async_set(CAMERA, camera_state)
    answer = speech(await ask(hass, "Can you see me?", device_id=camera))
    assert answer in sight_lines(tag, person)
    assert ("Jay" in answer) == (tag == "buddy")
    assert cloud.chat_requests() == []


async def test_sight_answers_vary_and_follow_the_camera(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, camera: str
) -> None:
    """Asked again in one conversation, another line; the agent's own satellite answers a
    text chat heard by no device."""
    await setup_entry(subentries=[agent_subentry(satellite_device=camera)])
    first = await ask(hass, "Can you see me?")
    again = await ask(hass, "Do you know who I am?", first.conversation_id)
    assert {speech(first), speech(again)} <= set(sight_lines("buddy", "Jay"))
    assert speech(first) != speech(again)
    hass.states.async_set(PERSON, "stranger")
    assert speech(await ask(hass, "Who's there?", first.conversation_id)) in sight_lines("stranger")


async def test_without_a_camera_milo_says_it_cannot_see(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A text chat with no Milo satellite: an honest line, never a guess."""
    await setup_entry()
    answer = speech(await ask(hass, "Can you see me?"))
    assert answer in sight_lines("no_camera")
    for line in sight_lines("no_camera"):
        assert re.search(r"\b(can't see|no eyes|nope|no)\b", line, re.IGNORECASE), line
    assert cloud.chat_requests() == []


async def test_boredom_gets_something_to_do(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A suggestion from the bank (the surf, a joke, a trick), a different one each time."""
    await setup_entry()
    first = await ask(hass, "I'm bored. Any ideas?")
    second = await ask(hass, "ugh, still bored", first.conversation_id)
    assert {speech(first), speech(second)} <= set(persona.lines("bored"))
    assert speech(first) != speech(second)
    assert cloud.chat_requests() == []


async def test_favourites_are_the_personas_and_have_reasons(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The band is the Troggs every time, "Why them?" gets the reason for it, the drink is
    milk; a favourite Milo has no lines for, and "Why?" after anything else, are small
    talk for the model."""
    await setup_entry()
    band = await ask(hass, "What's your favourite band?")
    assert speech(band) in persona.lines("favourite", "band")
    assert "Troggs" in speech(band)
    why = await ask(hass, "Why them?", band.conversation_id)
    assert speech(why) in persona.lines("favourite_why", "band")
    drink = speech(await ask(hass, "What's your favourite drink?", band.conversation_id))
    assert drink in persona.lines("favourite", "drink")
    assert "milk" in drink.casefold()
    assert cloud.chat_requests() == []
    cloud.reply("The one by the window.")
    cloud.reply("It glows the nicest.")
    lamp = await ask(hass, "What's your favourite lamp?")
    assert speech(lamp) == "The one by the window."
    assert speech(await ask(hass, "Why?", lamp.conversation_id)) == "It glows the nicest."


async def test_friends_after_a_row(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """A comeback to the insult, then friendship offered is accepted; who its friends are
    comes from the bank too."""
    await setup_entry()
    row = await ask(hass, "You're a rubbish robot.")
    assert speech(row) in persona.lines("comeback")
    sorry = speech(await ask(hass, "Okay, sorry. Can we be friends?", row.conversation_id))
    assert sorry in persona.lines("be_friends")
    friends = speech(await ask(hass, "Who are your friends?", row.conversation_id))
    assert friends in persona.lines("favourite", "friends")
    assert cloud.chat_requests() == []


async def test_a_refused_answer_about_milo_gets_the_line_about_the_question(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The model's empty answer to "Do you ever sleep?" gets the bank's line about sleep,
    not the milk line that shared "ever" with it (the character bench, twice in three)."""
    await setup_entry()
    cloud.reply("")
    answer = speech(await ask(hass, "Do you ever sleep?"))
    assert "sleep" in answer.casefold()
    assert answer not in persona.lines("milk")
