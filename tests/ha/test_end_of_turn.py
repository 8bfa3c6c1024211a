"""The integration tells a Milo satellite when milo-stt's speculative words are a whole
request (end_of_turn.py), in a real HA with Milo's agent and HA's own intents.

The satellite is its device, its assist satellite entity ("listening" while a request is
heard; its pipeline asks Milo's agent: test_speculation.py) and its `end_of_turn` action,
recorded as HA's ESPHome integration would register it (`esphome.<node>_end_of_turn`); the
satellite's side is tested with the real ESPHome client in tests/satellite/test_end_of_turn.py.
"""

from __future__ import annotations

from homeassistant.components.assist_pipeline.pipeline import (
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.components.conversation import HOME_ASSISTANT_AGENT
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_mock_service

from custom_components.milo.stt_speculation import SttSpeculation

from .conftest import FakeCloud
from .test_conversation import AGENT, kitchen_light  # noqa: F401 - a fixture
from .test_speculation import SATELLITE, first_turn, satellite  # noqa: F401 - a fixture


@pytest.fixture
def told(hass: HomeAssistant) -> list[ServiceCall]:
    """The satellite's end_of_turn action (the device is named "Sat")."""
    return async_mock_service(hass, "esphome", "sat_end_of_turn")


async def judge(hass: HomeAssistant, entry, text: str) -> None:
    await SttSpeculation(hass, entry)._async_end_turn(text)


@pytest.mark.usefixtures("kitchen_light")
@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("Turn on the kitchen light.", True),  # HA's own intent
        ("What's the surf like at East Strand?", True),  # Milo's word rules
        ("Tell me a joke.", True),
        ("Turn on the", False),  # the pause after "the"
        ("Turn on the kitchen", False),  # names nothing HA or Milo knows yet
        ("What's the surf like at", False),  # a kind Milo knows, but "at" where?
        ("What are you up to today?", False),  # the model's, and no select says balanced
    ],
)
async def test_the_satellite_is_told_only_of_whole_requests(  # noqa: PLR0917
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811 - the imported fixture
    told: list[ServiceCall],
    text: str,
    whole: bool,
) -> None:
    entry = await setup_entry()
    await first_turn(hass, cloud, satellite)
    hass.states.async_set(SATELLITE, "listening")
    await judge(hass, entry, text)
    assert [call.data for call in told] == ([{"text": text}] if whole else [])
    assert len(cloud.chat_requests()) == 1  # judging asks no model


@pytest.mark.usefixtures("kitchen_light")
async def test_a_satellite_milo_never_answered_is_told_too(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811 - the imported fixture
    told: list[ServiceCall],
) -> None:
    """Its first request after HA started: its pipeline says the words go to Milo."""
    entry = await setup_entry()
    hass.states.async_set(SATELLITE, "listening")
    await judge(hass, entry, "Turn on the kitchen light.")
    assert [call.data for call in told] == [{"text": "Turn on the kitchen light."}]
    assert cloud.chat_requests() == []


@pytest.mark.usefixtures("kitchen_light")
async def test_nothing_is_told_without_a_listening_milo_satellite(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811 - the imported fixture
) -> None:
    """No listening satellite, one whose pipeline asks another agent, or one without the
    action."""
    entry = await setup_entry()
    told = async_mock_service(hass, "esphome", "sat_end_of_turn")
    await first_turn(hass, cloud, satellite)
    await judge(hass, entry, "Turn on the kitchen light.")  # not listening
    hass.states.async_set(SATELLITE, "listening")
    pipeline = async_get_pipeline(hass)
    await async_update_pipeline(hass, pipeline, conversation_engine=HOME_ASSISTANT_AGENT)
    await judge(hass, entry, "Turn on the kitchen light.")  # HA's agent gets the words
    assert told == []
    await async_update_pipeline(hass, async_get_pipeline(hass), conversation_engine=AGENT)
    hass.services.async_remove("esphome", "sat_end_of_turn")
    await judge(hass, entry, "Turn on the kitchen light.")  # no such action: not a Milo
    assert told == []


@pytest.mark.parametrize(
    ("end_of_speech", "told_of_questions"),
    [("balanced", True), ("fast", False), ("home assistant", False)],
)
async def test_a_question_for_the_model_is_whole_only_on_balanced(  # noqa: PLR0917
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811 - the imported fixture
    told: list[ServiceCall],
    end_of_speech: str,
    told_of_questions: bool,
) -> None:
    """`balanced` waits 0.9 s after a verdict; `fast`'s 0.6 s would cut off hesitant
    questions ("Can you tell me? | what the forecast is"), so it gets none for them."""
    select = er.async_get(hass).async_get_or_create(
        "select", "esphome", "11:22:33:44:55:66-end_of_speech", device_id=satellite
    )
    hass.states.async_set(select.entity_id, end_of_speech)
    entry = await setup_entry()
    await first_turn(hass, cloud, satellite)
    hass.states.async_set(SATELLITE, "listening")
    for text in ("What are you up to today?", "I had a long day.", "Do you ever think about?"):
        await judge(hass, entry, text)
    questions = [{"text": "What are you up to today?"}] if told_of_questions else []
    assert [call.data for call in told] == questions
    assert len(cloud.chat_requests()) == 1  # judging asks no model
