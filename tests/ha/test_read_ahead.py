"""milo-llm reads a conversation ahead after a turn the model did not answer (speculation.py).

Small talk after the weather or a device command otherwise reads those turns at its own
model call, hundreds of tokens before its first word. With FakeCloud the request is checked
(sent once the answer has gone to speech, one token, the next request's exact prefix, only
to milo-llm, replaced by any model request); with the real milo-llm, that the next small
talk finds all of it cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.milo.budget import message_tokens
from custom_components.milo.client import OpenAICompatibleClient
from custom_components.milo.speculation import READ_AHEAD_DELAY, Speculations

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import ask
from .test_real_llm import milo_llm, recorder, set_up_on  # noqa: F401 - the fixture
from .test_speculation import satellite  # noqa: F401 - a fixture
from .test_time_budget import until


def the_answer_is_spoken(hass: HomeAssistant) -> None:
    """The read-ahead's delay passes (the clock is frozen)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=READ_AHEAD_DELAY + 1))


async def after_the_answer(hass: HomeAssistant, sent: Callable[[], object]) -> None:
    """The read-ahead's delay passes, and its request has gone out (`sent()`)."""
    the_answer_is_spoken(hass)
    await until(sent)


@pytest.mark.usefixtures("portrush")
async def test_a_turn_without_the_model_is_read_ahead(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811
) -> None:
    cloud.owned_by = "milo"
    await setup_entry()
    joke = await ask(hass, "Tell me a joke.", device_id=satellite)  # the line bank's
    assert cloud.chat_requests() == []  # not while the answer is being spoken
    await after_the_answer(hass, cloud.chat_requests)
    [ahead] = cloud.chat_requests()
    assert ahead["max_tokens"] == 1
    assert "tools" not in ahead
    *turns, opening = ahead["messages"]
    assert turns[-1]["role"] == "assistant"
    assert turns[-2]["content"].endswith("Tell me a joke.")
    # The next question's note, begun: the date and time, not the bank's lines.
    assert opening == {
        "role": "user",
        "content": "(Today's date is 2026-06-01. Current time is 08:30.",
    }

    cloud.reply("Plotting, mostly.")
    await ask(hass, "What are you up to today?", joke.conversation_id, satellite)
    small_talk = cloud.chat_requests()[1]
    assert small_talk["messages"][: len(turns)] == turns
    newest = small_talk["messages"][len(turns)]["content"]
    assert newest.startswith(opening["content"] + " Milo talks like this: ")
    assert newest.endswith(")\nWhat are you up to today?")


@pytest.mark.usefixtures("portrush")
async def test_only_milo_llm_is_asked_to_read_ahead(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811
) -> None:
    """Another server (a cloud API bills every token) never is."""
    await setup_entry()
    with patch.object(Speculations, "read_ahead") as read_ahead:
        await ask(hass, "Tell me a joke.", device_id=satellite)
    read_ahead.assert_not_called()
    assert cloud.chat_requests() == []


@pytest.mark.usefixtures("portrush")
async def test_a_model_request_comes_first(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    satellite: str,  # noqa: F811
) -> None:
    """The next question comes before the delay is over: it is asked, nothing read ahead
    of it (and the read-ahead of its own turn follows it)."""
    cloud.owned_by = "milo"
    await setup_entry()
    joke = await ask(hass, "Tell me a joke.", device_id=satellite)
    cloud.reply("Plotting, mostly.")
    await ask(hass, "What are you up to today?", joke.conversation_id, satellite)
    assert [r.get("max_tokens") != 1 for r in cloud.chat_requests()] == [True]
    await after_the_answer(hass, lambda: len(cloud.chat_requests()) == 2)
    assert [r.get("max_tokens") == 1 for r in cloud.chat_requests()] == [False, True]


@pytest.mark.slow
@pytest.mark.usefixtures("portrush", "cloud")
async def test_small_talk_after_a_bank_answer_reads_only_its_own_turn(
    hass: HomeAssistant,
    make_entry,
    milo_llm: str,  # noqa: F811
    smart_home: str,
) -> None:
    """With the real milo-llm: the counts it reports (usage.prompt_tokens_details)."""
    entry = make_entry(subentries=[agent_subentry(), *spot_subentries()])
    await set_up_on(hass, entry, milo_llm)
    sent: list[dict[str, Any]] = []
    answered = asyncio.Event()  # milo-llm has answered a request to its end

    async def read_ahead() -> None:
        """The answer is spoken; milo-llm reads the conversation (the real server takes
        real time, while the clock is frozen: no timeout but pytest's)."""
        answered.clear()
        the_answer_is_spoken(hass)
        await answered.wait()

    with patch.object(OpenAICompatibleClient, "async_stream_chat", recorder(sent, answered)):
        first = await ask(hass, "Do you ever sleep?", device_id=smart_home)
        await read_ahead()
        for _ in range(2):  # two turns the line bank answers, each read ahead
            await ask(hass, "Tell me a joke.", first.conversation_id, smart_home)
            await read_ahead()
        await ask(hass, "I had a really long day at work.", first.conversation_id, smart_home)

    ahead = [r for r in sent if r.get("max_tokens") == 1]
    small_talk = [r for r in sent if r.get("max_tokens") != 1]
    assert len(ahead) == 3
    assert len(small_talk) == 2
    assert all(request.get("usage") for request in sent)
    last_ahead, last = ahead[-1], small_talk[-1]
    *turns, opening = last_ahead["messages"]
    assert last["messages"][: len(turns)] == turns
    assert last["messages"][len(turns)]["content"].startswith(opening["content"])
    # All that was read ahead, the note's opening included, came from milo-llm's saved
    # state (all but the chat template's end of the message and the answer's start).
    assert last["usage"].cached_tokens >= last_ahead["usage"].prompt_tokens - 6
    # Only the newest turn was read (the estimate is never below the real count).
    newest = message_tokens(last["messages"][-1])
    assert last["usage"].cached_tokens >= last["usage"].prompt_tokens - newest
