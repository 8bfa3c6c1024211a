"""The fast path: the phrasings people use, and answers that keep to the facts."""

from __future__ import annotations

from collections.abc import AsyncIterator
import dataclasses
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
from homeassistant.helpers import chat_session
import pytest

from custom_components.milo.answers import RECORDED_LABEL, SURF_DOWN, Facts, keep_facts
from custom_components.milo.fast_path import FastIntent, recognize

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import ask, speech

SPOTS = ["East Strand", "West Strand", "Whiterocks", "Castlerock Beach"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What's the surf like today?", FastIntent("surf", "today", None)),
        ("surf tomorrow", FastIntent("surf", "tomorrow", None)),
        (
            "i needa serf at east  strand today right now",
            FastIntent("surf", "today", "East Strand"),
        ),
        ("Is West Strand surfable tommorow?", FastIntent("surf", "tomorrow", "West Strand")),
        ("any waves at the east tmrw", FastIntent("surf", "tomorrow", "East Strand")),
        ("How's the swell at Whiterocks?", FastIntent("surf", "today", "Whiterocks")),
        ("how's castlerock looking", FastIntent("surf", "today", "Castlerock Beach")),
        ("How is West Strand looking today?", FastIntent("surf", "today", "West Strand")),
        ("Surf report for east strand, please!", FastIntent("surf", "today", "East Strand")),
        ("Should I go surfing?", FastIntent("surf", "today", None)),
        ("Is West Strand any good tomorrow?", FastIntent("surf", "tomorrow", "West Strand")),
        ("is whiterocks pumping", FastIntent("surf", "today", "Whiterocks")),
        # whisper tiny.en's usual mishearing of "waves".
        ("What are the ways like in Portrush today?", FastIntent("surf", "today", None)),
        ("What's the weather like?", FastIntent("weather", "today")),
        ("Is it going to rain tomorrow?", FastIntent("weather", "tomorrow")),
        ("do I need an umbrella", FastIntent("weather", "today")),
        ("how cold is it outside", FastIntent("weather", "today")),
        ("uh so u like milk milo?", FastIntent("milk")),
        ("MILKSHAKE time", FastIntent("milk")),
        ("what do you think of troggs", FastIntent("troggs")),
        ("Trogs is where I got my board", FastIntent("troggs")),
    ],
)
def test_recognised(text: str, expected: FastIntent) -> None:
    """Each phrasing maps to its tool, day and spot."""
    assert recognize(text, SPOTS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "turn on the kitchen light",
        "wave at me",
        "jeez relax bro",
        "turn on the east landing light",
        "is the east bedroom light working",
        "which ways can I go",
        "what time is it",
        "",
    ],
)
def test_left_to_the_model_or_intents(text: str) -> None:
    """Everything else is for HA's intents or the model."""
    assert recognize(text, SPOTS) is None


def test_east_and_west_need_the_default_spots() -> None:
    """'East' only means East Strand when East Strand is configured."""
    assert recognize("surf in the east", ["Bundoran"]) == FastIntent("surf", "today", None)


async def _words(*chunks: str) -> AsyncIterator[dict[str, Any]]:
    """A model's stream as chat log deltas, split where a real stream might split."""
    yield {"role": "assistant"}
    for chunk in chunks:
        yield {"content": chunk}


async def _kept(facts: Facts, *chunks: str) -> str:
    return "".join([d.get("content") or "" async for d in keep_facts(_words(*chunks), facts)])


SURF_FACTS = Facts(
    text="The surf at East Strand is gnarly today. At 9am: 1.2 m waves, 10.5 second period.",
    answer="Surf's up, you toads! The surf at East Strand is gnarly today.",
    data={},
    must_say=("gnarly",),
    figures=frozenset({"1.2"}),
    brief="East Strand today: gnarly, waves 1.2 metres.",
    allowed_numbers=frozenset({"9", "1.2", "10.5"}),
)


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        # Split mid-number and mid-sentence: whole sentences still come through unchanged.
        (
            ("Gnarly at East Strand, 1.", "2 metres at 9am! Go."),
            "Gnarly at East Strand, 1.2 metres at 9am! Go.",
        ),
        # An invented figure drops its sentence; the real ones follow.
        (
            ("It's gnarly. Six foot, maybe 8 foot sets! ", "Paddle out."),
            "It's gnarly. Paddle out. East Strand today: gnarly, waves 1.2 metres.",
        ),
        # No rating and no figure.
        (("Waves, probably",), "Waves, probably. East Strand today: gnarly, waves 1.2 metres."),
        # Nothing usable at all: the template answers.
        (
            ("Perfect 10 out of 10!",),
            "Surf's up, you toads! The surf at East Strand is gnarly today.",
        ),
        (("",), "Surf's up, you toads! The surf at East Strand is gnarly today."),
    ],
)
async def test_keep_facts(chunks: tuple[str, ...], said: str) -> None:
    """The model's words pass sentence by sentence; the facts are always in the answer."""
    assert await _kept(SURF_FACTS, *chunks) == said


async def test_keep_facts_drops_recited_prompt_and_parroted_question() -> None:
    """A tiny model reciting its instructions or the question doesn't get to say it."""
    prompt = "You are Milo, a desk robot. Be sarcastic but friendly: tease a little."
    stream = _words(
        "How is the surf at East Strand? Gnarly, you lucky thing. Answer: no\n",
        "You are Milo, a desk robot. The surf at East Strand is gnarly, 1.2 metres.",
    )
    said = [
        d.get("content") or ""
        async for d in keep_facts(stream, SURF_FACTS, prompt, "how is the surf at east strand")
    ]
    assert "".join(said) == (
        "Gnarly, you lucky thing. The surf at East Strand is gnarly, 1.2 metres."
    )


async def test_keep_facts_labels_recorded_data_first() -> None:
    """A recorded forecast is announced before the model's first sentence."""
    facts = dataclasses.replace(SURF_FACTS, label=RECORDED_LABEL)
    said = await _kept(facts, "Gnarly, 1.2 metres!")
    assert said == f"{RECORDED_LABEL} Gnarly, 1.2 metres!"


async def test_surf_unavailable_is_said_without_the_model(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """No forecast: a template in character; at sarcasm 0 just the plain sentence."""
    entry = await setup_entry(subentries=[agent_subentry(sarcasm=0), *spot_subentries()])
    cloud.weather_fails = True
    await entry.runtime_data.surf.async_refresh()
    result = await ask(hass, "how's the surf at east strand tomorrow")
    assert speech(result) == SURF_DOWN
    assert cloud.chat_requests() == []


async def test_recorded_forecast_is_labelled_in_the_answer(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, unused_tcp_port: int
) -> None:
    """Recorded data: the label comes first, from the model's wording or the template."""
    cloud.marine["recorded"] = {"note": "demo sample"}
    entry = await setup_entry()
    cloud.reply("East Strand is gnarly, 1.2 metres. Go!")
    result = await ask(hass, "surf at east strand today?")
    assert speech(result) == f"{RECORDED_LABEL} East Strand is gnarly, 1.2 metres. Go!"

    entry.runtime_data.client.base_url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    answer = speech(await ask(hass, "surf at east strand today?"))
    assert answer.startswith(f"{RECORDED_LABEL} Surf's up, you toads! The surf at East Strand")


async def test_weather_answer_keeps_the_temperature(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A weather answer without the temperature gets the facts line."""
    hass.states.async_set(
        "weather.home",
        "sunny",
        {"temperature": 21, "temperature_unit": "°C", "wind_speed_unit": "km/h"},
    )
    await setup_entry(subentries=[agent_subentry(weather_entity="weather.home")])
    cloud.reply("Sunny. Enjoy it while it lasts")
    result = await ask(hass, "what's the weather like")
    assert speech(result) == "Sunny. Enjoy it while it lasts. Right now it is sunny and 21°C."


async def test_chat_log_keeps_the_summary_and_history_sends_what_was_said(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """HA's chat log holds a one-sentence-per-spot summary; the next turn sends only the
    question and the answer, not the surf report."""
    await setup_entry()
    cloud.reply("Gnarly, 1.2 metres.")
    first = await ask(hass, "surf at east strand today?")
    with (
        chat_session.async_get_chat_session(hass, first.conversation_id) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        [tool] = [c for c in chat_log.content if isinstance(c, conversation.ToolResultContent)]
    assert list(tool.result.data) == ["summary"]
    summary = tool.result.data["summary"]
    assert summary.startswith("The surf at East Strand is gnarly today. At 9am:")
    cloud.reply("Beep boop.")
    await ask(hass, "tell me a joke", first.conversation_id)
    messages = cloud.chat_requests()[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"].endswith("surf at east strand today?")
    assert "Gnarly, 1.2 metres." in messages[2]["content"]
