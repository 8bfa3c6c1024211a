"""The model path's time budget: a model silent past it is stopped, and Milo says so.

Time is frozen (the `portrush` fixture): the tests move it on with `freezer.tick` while
a question is being answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import logging
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
import pytest

from custom_components.milo import line_bank
from custom_components.milo.answer_deadline import AnswerDeadline
from custom_components.milo.line_bank import fill, load

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import ask, speech

TOO_SLOW = {fill(text) for text in load([line_bank.SHIPPED]).texts("too_slow")}
BUDGET = 6.0


async def setup_agent(setup_entry, budget: float) -> None:
    """An agent with this time budget (seconds) and the default spots."""
    await setup_entry(subentries=[agent_subentry(time_budget=budget), *spot_subentries()])


async def until(condition: Callable[[], Any]) -> None:
    """Let the loop run (frozen time: no timer fires) until `condition` holds."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def ask_while(
    hass: HomeAssistant, freezer: Any, text: str, started: Callable[[], Any], seconds: float
) -> conversation.ConversationResult:
    """Ask, and once `started` holds, let `seconds` pass."""
    answer = hass.async_create_task(ask(hass, text))
    await until(started)
    freezer.tick(seconds)
    return await answer


async def test_a_model_silent_past_the_budget_is_stopped(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    freezer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Milo says a line of its own, and the server sees the client go away."""
    await setup_agent(setup_entry, BUDGET)
    cloud.reply("Rain, mostly. Bring a coat.", delay=60)
    with caplog.at_level(logging.DEBUG, logger="custom_components.milo"):
        result = await ask_while(
            hass, freezer, "we'll look ring tomorrow", lambda: cloud.delayed, BUDGET + 1
        )

    assert speech(result) in TOO_SLOW
    await until(lambda: cloud.abandoned)
    assert f"The model said nothing within {BUDGET} s: stopping it" in caplog.text


async def test_a_model_that_starts_in_time_is_untouched(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """An answer that starts within the budget is said whole."""
    await setup_agent(setup_entry, BUDGET)
    cloud.reply("Rain, mostly. Bring a coat.")
    result = await ask(hass, "what do otters eat")

    assert speech(result) == "Rain, mostly. Bring a coat."
    assert cloud.abandoned == 0


async def _stream(*deltas: dict[str, Any], pause: float = 0.0) -> AsyncIterator[dict[str, Any]]:
    """A model's stream that is silent for `pause` (real) seconds before its deltas."""
    await asyncio.sleep(pause)
    for delta in deltas:
        yield delta


async def _said(deadline: AnswerDeadline, stream: AsyncIterator[dict[str, Any]]) -> list[Any]:
    return [delta async for delta in deadline.watch(stream)]


async def test_budget_zero_is_no_limit() -> None:
    """0 seconds: a model that takes its time is waited for."""
    deadline = AnswerDeadline(0)
    said = await _said(deadline, _stream({"content": "Finally."}, pause=0.2))
    assert said == [{"content": "Finally."}]
    assert not deadline.passed


async def test_a_tool_round_is_let_finish() -> None:
    """Once the model asked for a tool, its round runs on past the deadline; the deadline
    has passed with nothing said, so no model round follows it."""
    deadline = AnswerDeadline(0.05)
    call = {"tool_calls": ["HassTurnOn"]}

    async def slow_tool_round() -> AsyncIterator[dict[str, Any]]:
        yield call
        await asyncio.sleep(0.3)  # the tool's result comes after the deadline
        yield {"role": "tool_result"}

    said = await _said(deadline, slow_tool_round())
    assert said == [call, {"role": "tool_result"}]
    assert deadline.passed  # the next round is not asked for


async def test_silence_past_the_deadline_ends_the_stream() -> None:
    """The stream is closed at the deadline and nothing of it is said."""
    deadline = AnswerDeadline(0.05)
    said = await _said(deadline, _stream({"content": "Too late."}, pause=5))
    assert said == []
    assert deadline.passed
