"""Milo's tricks from the original robot, through Home Assistant: dance, drop a beat and
disco biscuits.

"Milo, dance!" and "Drop a beat" go through Milo's agent to a real `milo-satellite
--simulate` adopted by HA's own ESPHome integration: its speaker plays the beat it
synthesises and, for the dance, the head bangs in time (HA's head tilt number swings),
until HA's media player stops the beat and the head holds still on the face again.
Without a satellite Milo says it cannot. The word rules are checked here too; their traps
in a home full of dance and beat names are in test_routing.py's table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import wave

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo import persona
from custom_components.milo.const import CONF_SATELLITE_DEVICE, DOMAIN, SUBENTRY_CONVERSATION
from custom_components.milo.fast_path import recognise
from custom_components.milo.home_names import HomeNames

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import ask, speech
from .test_esphome_satellite import (  # noqa: F401 - fixtures
    MAC,
    SATELLITE,
    MediaServer,
    Satellite,
    _record_states,
    _say_when_listening,
    _state,
    _until,
    media_server,
    mic_wav,
    milo_entry,
    milo_pipeline,
    no_errors_in_the_log,
    photo,
    satellite,
    satellite_config,
    wyoming_ports,
    zeroconf_flag,
)

HOME = HomeNames.of(["Beat box", "Disco ball", "Dance floor lights", "Kitchen"])


@pytest.mark.parametrize(
    ("text", "trick"),
    [
        ("Dance!", "dance"),
        ("Milo, dance!", "dance"),
        ("Dance for me, Milo.", "dance"),
        ("Can you dance?", "dance"),
        ("Let's boogie", "dance"),
        ("Get jiggy with it", "dance"),
        ("Hey Milo, get jiggy.", "dance"),
        ("show me your moves", "dance"),
        ("Do a little dance", "dance"),
        ("Drop a beat", "beat"),
        ("Drop the beat!", "beat"),
        ("Can you drop a beat for me?", "beat"),
        ("give us a beat", "beat"),
        ("Disco biscuits!", "disco"),
        ("What are disco biscuits?", "disco"),
    ],
)
def test_tricks_asked_for(text: str, trick: str) -> None:
    intent = recognise(text, [], HOME)
    assert intent is not None
    assert intent.kind == trick


@pytest.mark.parametrize(
    "text",
    [
        # The home's: a command, or a device named with the trick's words.
        "play dance music in the kitchen",
        "turn on the disco ball",
        "is the disco ball on",
        "drop a beat on the beat box",
        "pause the beat box",
        "dance floor lights on",
        "play a beat",
        # Small talk about dancing, for the model.
        "I went to a dance last night",
        "What's your favourite dance?",
        "Do you like dancing?",
        "Tell me a joke about dancing",
        "Who taught you to dance like that",
    ],
)
def test_not_asked_for_a_trick(text: str) -> None:
    intent = recognise(text, [], HOME)
    assert intent is None or intent.kind not in ("dance", "beat", "disco")


async def test_without_a_satellite_milo_says_it_cannot(
    hass: HomeAssistant, setup_entry: Callable, cloud: FakeCloud
) -> None:
    """No satellite on the agent: no promise of a dance, no model asked."""
    await setup_entry(subentries=[agent_subentry(), *spot_subentries()])
    assert speech(await ask(hass, "Milo, dance!")) in persona.lines("no_dance")
    assert speech(await ask(hass, "Drop a beat")) in persona.lines("no_dance")
    assert speech(await ask(hass, "Disco biscuits!")) in persona.lines("disco")
    assert cloud.chat_requests() == []


def _seconds(path: object) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def _swing(states: list[str]) -> float:
    """How far the head's tilt moved over these states, in degrees."""
    tilts = [float(s) for s in states if s not in ("unknown", "unavailable")]
    return max(tilts) - min(tilts) if tilts else 0.0


async def _still(hass: HomeAssistant, entity_id: str) -> None:
    """Wait until the head's tilt holds within 2 degrees for a second and a half."""
    for _ in range(40):
        seen = _record_states(hass, entity_id)
        await asyncio.sleep(1.5)
        if _swing(seen) < 2:
            return
    raise AssertionError("the head never held still")


@pytest.mark.skipif(not SATELLITE.exists(), reason="needs the satellite environment (.venv)")
async def test_dance_and_beat_on_the_real_satellite(
    hass: HomeAssistant,
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    satellite: Satellite,  # noqa: F811 - the imported fixture
    make_entry: Callable[..., MockConfigEntry],
) -> None:
    """ "Drop a beat" plays the beat on Milo's speaker and the head stays on the face;
    "Milo, dance!" plays it with the head banging in time, and stopping the speaker from HA
    stops both; "Disco biscuits" is a line and nothing more."""
    device = dr.async_get(hass).async_get_device_by_connection(
        (dr.CONNECTION_NETWORK_MAC, MAC.lower()), milo_entry.entry_id
    )
    assert device is not None
    agent = make_entry(subentries=[agent_subentry(satellite_device=device.id)])
    assert await hass.config_entries.async_setup(agent.entry_id)
    await hass.async_block_till_done()
    speaker = {"entity_id": "media_player.milo_speaker"}
    tilt = "number.milo_head_tilt"
    # The head finds the astronaut's face and settles on it.
    await _until(lambda: _state(hass, "binary_sensor.milo_someone_present") == "on", within=120)
    await _still(hass, tilt)

    assert speech(await ask(hass, "Drop a beat")) in persona.lines("beat")
    await _until(lambda: satellite.played("beat"), within=30)
    await _until(lambda: _state(hass, speaker["entity_id"]) == "playing")
    tilts = _record_states(hass, tilt)
    await _until(lambda: _seconds(satellite.played("beat")[0]) > 2.0)
    assert _swing(tilts) < 3  # no dance
    await hass.services.async_call("media_player", "media_stop", speaker, blocking=True)
    await _until(lambda: _state(hass, speaker["entity_id"]) == "idle")

    tilts = _record_states(hass, tilt)
    assert speech(await ask(hass, "Milo, dance!")) in persona.lines("dance")
    await _until(lambda: len(satellite.played("beat")) == 2, within=30)
    await _until(lambda: _swing(tilts) > 20)  # banging away
    await hass.services.async_call("media_player", "media_stop", speaker, blocking=True)
    await _until(lambda: _state(hass, speaker["entity_id"]) == "idle")
    beat = satellite.played("beat")[1]
    assert _seconds(beat) < 12  # cut short: a dance's beat lasts 16 s
    await asyncio.wait_for(_still(hass, tilt), 30)  # back on the face, tracking (generous)

    assert speech(await ask(hass, "Disco biscuits!")) in persona.lines("disco")
    await asyncio.sleep(1.0)
    assert len(satellite.played("beat")) == 2
    await hass.config_entries.async_unload(agent.entry_id)
    await hass.async_block_till_done()


@pytest.mark.skipif(not SATELLITE.exists(), reason="needs the satellite environment (.venv)")
@pytest.mark.parametrize("mic_wav", ["Milo, dance!"], indirect=True)
async def test_a_spoken_dance_starts_when_the_answer_ends(
    hass: HomeAssistant,
    milo_pipeline: FakeCloud,  # noqa: F811 - the imported fixture
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    satellite: Satellite,  # noqa: F811 - the imported fixture
    media_server: MediaServer,  # noqa: F811 - the imported fixture
) -> None:
    """Said to Milo through a real Assist pipeline (milo-stt, Milo's agent, milo-tts): the
    dance is asked for while Milo answers, and the beat waits for the answer to end."""
    device = dr.async_get(hass).async_get_device_by_connection(
        (dr.CONNECTION_NETWORK_MAC, MAC.lower()), milo_entry.entry_id
    )
    assert device is not None
    (agent,) = hass.config_entries.async_entries(DOMAIN)
    (subentry,) = [s for s in agent.subentries.values() if s.subentry_type == SUBENTRY_CONVERSATION]
    hass.config_entries.async_update_subentry(
        agent, subentry, data={**subentry.data, CONF_SATELLITE_DEVICE: device.id}
    )
    await hass.async_block_till_done()  # the agent reloads with its satellite
    entity_id = "assist_satellite.milo_assist_satellite"
    await _say_when_listening(hass, satellite, entity_id)
    await _until(lambda: satellite.played("beat"), within=180)
    (answer,) = satellite.played("tts")
    (beat,) = satellite.played("beat")
    assert answer.name < beat.name  # numbered as played: the answer, then the beat
    assert _seconds(answer) > 0.5  # the dance line, spoken
    assert milo_pipeline.chat_requests() == []  # the fast path's, no model asked
    await hass.services.async_call(
        "media_player", "media_stop", {"entity_id": "media_player.milo_speaker"}, blocking=True
    )
