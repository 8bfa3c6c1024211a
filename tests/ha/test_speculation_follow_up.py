"""After a speculative answer, the next turn starts with exactly the prompt the model read.

The speculative request went out seconds before the turn ended, so HA's clock line in its
note said an earlier second than the real request's. The model answered the speculative
one: the follow-up must send that note again, or milo-llm reads the conversation again
from that question on (the saved state differs from there).
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from .conftest import FakeCloud
from .test_conversation import ask
from .test_speculation import (
    SATELLITE,
    first_turn,
    satellite,  # noqa: F401 - a fixture
    speculate,
)


@pytest.mark.usefixtures("portrush")
async def test_a_follow_up_repeats_the_speculative_request_the_model_answered(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811
    freezer: Any,
) -> None:
    entry = await setup_entry()
    conversation_id = await first_turn(hass, cloud, satellite)
    cloud.reply("Plotting, mostly.")
    hass.states.async_set(SATELLITE, "listening")
    assert await speculate(hass, entry, cloud, "What are you up to today?")
    freezer.tick(2)  # the turn ends: the real request's clock says two seconds later
    hass.states.async_set(SATELLITE, "processing")
    await ask(hass, "What are you up to today?", conversation_id, satellite)
    assert len(cloud.chat_requests()) == 2  # the speculative answer was used
    cloud.reply("Still here.")
    await ask(hass, "Are you still there?", conversation_id, satellite)

    _first, speculative, follow_up = cloud.chat_requests()
    assert "Current time is" in speculative["messages"][-1]["content"]
    assert follow_up["messages"][: len(speculative["messages"])] == speculative["messages"]
