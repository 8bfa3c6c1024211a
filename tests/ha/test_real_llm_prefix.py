"""The agent's real prompts against the real milo-llm: a new conversation and a follow-up
each read only their newest turn; the rest comes from milo-llm's saved states."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.milo.budget import message_tokens
from custom_components.milo.client import OpenAICompatibleClient

from .conftest import agent_subentry, spot_subentries
from .test_conversation import ask
from .test_real_llm import milo_llm, recorder, set_up_on  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("portrush", "cloud")
async def test_new_conversations_and_follow_ups_read_only_their_newest_turn(
    hass: HomeAssistant,
    make_entry,
    milo_llm: str,  # noqa: F811
    smart_home: str,
) -> None:
    """Small talk in a home full of devices: conversation A, then a new conversation B, then
    A again. The counts are the ones milo-llm reports (usage.prompt_tokens_details)."""
    entry = make_entry(subentries=[agent_subentry(), *spot_subentries()])
    await set_up_on(hass, entry, milo_llm)

    sent: list[dict[str, Any]] = []
    with patch.object(OpenAICompatibleClient, "async_stream_chat", recorder(sent)):
        # Questions the line bank leaves to the model (favourites and "Tell me about
        # yourself" are the bank's now).
        first = await ask(hass, "Do you ever sleep?", device_id=smart_home)
        await ask(hass, "I had a really long day at work.", device_id=smart_home)
        await ask(hass, "Why is that?", first.conversation_id, smart_home)

    a1, b1, a2 = sent
    assert all(request["usage"] for request in sent)
    # B: everything before its question was cached: the persona and HA's parts of the
    # system prompt, which A read first. (The estimate is never below the real count.)
    newest = message_tokens(b1["messages"][-1])
    assert b1["usage"].cached_tokens >= b1["usage"].prompt_tokens - newest
    assert b1["usage"].cached_tokens > 100
    # A's follow-up, after B: A's whole first prompt was cached, and its question
    # went again exactly as it was first sent.
    assert a2["messages"][: len(a1["messages"])] == a1["messages"]
    assert a2["usage"].cached_tokens >= a1["usage"].prompt_tokens
