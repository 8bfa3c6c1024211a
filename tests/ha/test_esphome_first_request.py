"""Whose turn it is with Home Assistant's own ESPHome integration and a real
`milo-satellite --simulate`: the words milo-stt hears during a satellite's first request
(Milo never answered it) go to the agent of the pipeline the satellite's pipeline select
picks (stt_speculation.py). What Milo does with them is in test_speculation.py and
test_end_of_turn.py, on HA's own assist satellite entity.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.components.conversation import HOME_ASSISTANT_AGENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo.satellite_device import Satellite
from custom_components.milo.stt_speculation import SttSpeculation

from .test_conversation import AGENT
from .test_esphome_satellite import (  # noqa: F401 - fixtures
    _state,
    _until,
    mic_wav,
    milo_entry,
    no_errors_in_the_log,
    photo,
    satellite,
    satellite_config,
    zeroconf_flag,
)

SATELLITE = "assist_satellite.milo_assist_satellite"
PIPELINE_SELECT = "select.milo_assistant"
END_OF_SPEECH = "select.milo_end_of_speech"


async def test_the_words_go_to_the_agent_of_the_satellites_pipeline(
    hass: HomeAssistant,
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    make_entry: Callable[..., MockConfigEntry],
) -> None:
    milo = make_entry()
    assert await hass.config_entries.async_setup(milo.entry_id)
    await hass.async_block_till_done()
    await async_update_pipeline(hass, async_get_pipeline(hass), conversation_engine=AGENT)
    home = async_get_pipeline(hass).to_json()
    del home["id"]
    await hass.data[KEY_ASSIST_PIPELINE].pipeline_store.async_create_item(
        {**home, "name": "Home", "conversation_engine": HOME_ASSISTANT_AGENT}
    )
    speculation = SttSpeculation(hass, milo)
    assert _state(hass, PIPELINE_SELECT) == "preferred"
    agent = speculation._pipeline_agent(SATELLITE)
    assert agent is not None
    assert agent.entity_id == AGENT
    for option, milos in (("Home", False), ("preferred", True)):
        await hass.services.async_call(
            "select", "select_option", {"entity_id": PIPELINE_SELECT, "option": option}
        )
        await _until(lambda option=option: _state(hass, PIPELINE_SELECT) == option)
        assert (speculation._pipeline_agent(SATELLITE) is agent) is milos, option
    # Whether a question for the model gets a verdict (end_of_turn.py) follows its select.
    device_id = er.async_get(hass).async_get(SATELLITE).device_id
    assert Satellite(hass, device_id).end_of_speech() == "balanced"  # the default
    await hass.services.async_call(
        "select", "select_option", {"entity_id": END_OF_SPEECH, "option": "fast"}
    )
    await _until(lambda: Satellite(hass, device_id).end_of_speech() == "fast")
    await hass.config_entries.async_unload(milo.entry_id)
