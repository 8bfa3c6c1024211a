"""Milo's agent through HA's conversation API, against the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
import logging
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import (
    chat_session,
    device_registry as dr,
    entity_registry as er,
    intent,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.milo import persona, satellite_device
from custom_components.milo.budget import message_tokens
from custom_components.milo.const import MAX_TOOL_ROUNDS
from custom_components.milo.conversation import REMARK_TOKENS

from .conftest import FakeCloud, Reply, agent_subentry, spot_subentries

AGENT = "conversation.milo"
# What Milo says about East Strand on the recorded forecast's first day.
EAST_TODAY = (
    "East Strand today: gnarly at 9am, waves 1.2 metres, 10.5 second period, offshore wind."
)


async def ask(
    hass: HomeAssistant,
    text: str,
    conversation_id: str | None = None,
    device_id: str | None = None,
) -> conversation.ConversationResult:
    """Ask Milo through HA's conversation API (from a satellite device, if given)."""
    return await conversation.async_converse(
        hass, text, conversation_id, Context(), language="en", agent_id=AGENT, device_id=device_id
    )


def speech(result: conversation.ConversationResult) -> str:
    """The spoken answer."""
    return result.response.speech["plain"]["speech"].strip()


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results sent back to the model."""
    return [m for m in request["messages"] if m["role"] == "tool"]


@pytest.fixture
async def kitchen_light(hass: HomeAssistant) -> list:
    """An exposed light whose turn_on calls are recorded."""
    assert await async_setup_component(hass, "intent", {})
    hass.states.async_set("light.kitchen", "off", {"friendly_name": "Kitchen light"})
    return async_mock_service(hass, "light", "turn_on")


@pytest.fixture
async def weather(hass: HomeAssistant, portrush: None) -> str:
    """A template weather entity with a daily forecast."""
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "weather": [
                        {
                            "name": "Portrush",
                            "condition": "rainy",
                            "temperature": "{{ 14 }}",
                            "humidity": "{{ 81 }}",
                            "wind_speed": "{{ 22 }}",
                            "forecast_daily": (
                                "{{ [{'datetime': '2026-06-01T12:00:00+01:00',"
                                " 'condition': 'rainy', 'temperature': 15, 'templow': 9},"
                                " {'datetime': '2026-06-02T12:00:00+01:00', 'condition': 'sunny',"
                                " 'temperature': 18, 'templow': 11,"
                                " 'precipitation_probability': 5}] }}"
                            ),
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()
    return "weather.portrush"


async def test_streams_a_plain_answer(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """The answer arrives in deltas through the chat log, with persona and limits; no tools."""
    await setup_entry(subentries=[agent_subentry(sarcasm=3, max_tokens=99), *spot_subentries()])
    cloud.reply("Oh good, a human. What do you want?")
    deltas: list[dict] = []
    with (
        chat_session.async_get_chat_session(hass) as session,
        conversation.async_get_chat_log(
            hass, session, chat_log_delta_listener=lambda _log, delta: deltas.append(delta)
        ),
    ):
        result = await conversation.async_converse(
            hass, "what are you up to", session.conversation_id, Context(), agent_id=AGENT
        )
    assert speech(result) == "Oh good, a human. What do you want?"
    # Streamed sentence by sentence: each is checked whole before it is said (guards.py),
    # and goes with the space after it, which tells streaming TTS it is complete.
    assert [d["content"] for d in deltas if d.get("content")] == [
        "Oh good, a human. ",
        "What do you want? ",
    ]

    request = cloud.chat_requests()[0]
    assert request["stream"] is True
    assert request["model"] == "milo-test"
    assert request["max_tokens"] == 99
    system = request["messages"][0]["content"]
    assert "You are Milo" in system
    assert persona.SARCASM_STYLES[3] in system
    # HA's date and time line rides with the newest question, not in the system prompt,
    # and so do the line bank's examples of Milo's voice.
    question = request["messages"][-1]
    assert question["role"] == "user"
    assert question["content"].startswith(
        "(Today's date is 2026-06-01. Current time is 08:30. Milo talks like this: \""
    )
    assert question["content"].endswith('")\nwhat are you up to')
    assert "Current time" not in system
    assert "tools" not in request  # small talk needs none
    assert request["stream_options"] == {"include_usage": True}


async def test_tools_the_request_points_at(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, weather: str
) -> None:
    """Milo's own tools go out when the request's words point at them, in a fixed order."""
    await setup_entry(subentries=[agent_subentry(weather_entity=weather), *spot_subentries()])
    cloud.default = Reply("Sure.")
    await ask(hass, "should I bring the board, or just sunscreen?")
    await ask(hass, "on which date is Easter this year?")
    board, date = cloud.chat_requests()
    assert [t["function"]["name"] for t in board["tools"]] == ["get_surf_forecast", "get_weather"]
    assert [t["function"]["name"] for t in date["tools"]] == ["llm__GetDateTime"]
    # HA leaves the time out of the prompt when a tool tells it.
    assert "Current time is" not in date["messages"][0]["content"]


async def test_device_turned_on_through_the_assist_api(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, kitchen_light: list
) -> None:
    """The model calls HassTurnOn; HA runs it; the model hears the result and answers."""
    await setup_entry()
    cloud.reply(tool_calls=[("intent__HassTurnOn", {"name": "Kitchen light"})])
    cloud.reply("There. Light. Try not to trip over anything.")
    result = await ask(hass, "it's way too dark in the kitchen, sort it out")

    assert [c.data["entity_id"] for c in kitchen_light] == [["light.kitchen"]]
    assert speech(result) == "There. Light. Try not to trip over anything."
    assert result.response.response_type is intent.IntentResponseType.ACTION_DONE
    second = cloud.chat_requests()[1]
    assistant = second["messages"][-2]
    assert assistant["tool_calls"][0]["function"]["name"] == "intent__HassTurnOn"
    [tool] = tool_messages(second)
    assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert "light.kitchen" in tool["content"]


async def test_earlier_turns_go_without_their_tool_traffic(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A finished turn is sent as question and answer: its tool JSON stays in the chat log."""
    await setup_entry()
    cloud.reply(tool_calls=[("get_surf_forecast", {"spot": "West Strand"})])
    cloud.reply("West Strand is mid.")
    result = await ask(hass, "should I bring my board?")
    cloud.reply("Because I said so.")
    await ask(hass, "why?", result.conversation_id)
    messages = cloud.chat_requests()[-1]["messages"]
    assert [(m["role"], m["content"].split("\n")[-1]) for m in messages[1:]] == [
        ("user", "should I bring my board?"),
        ("assistant", "West Strand is mid."),
        ("user", "why?"),
    ]


async def test_surf_tool_call(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """The model asks for the surf; the tool answers from the Open-Meteo cache."""
    await setup_entry()
    cloud.reply(tool_calls=[("get_surf_forecast", {"spot": "West Strand", "day": "tomorrow"})])
    cloud.reply("West Strand tomorrow is mid. Bring your patience.")
    result = await ask(hass, "should I bother bringing the board along?")
    assert speech(result) == "West Strand tomorrow is mid. Bring your patience."
    [tool] = tool_messages(cloud.chat_requests()[1])
    assert "The surf at West Strand is mid tomorrow." in tool["content"]
    assert '"wind":"cross-offshore"' in tool["content"]


async def test_weather_tool_call(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, weather: str
) -> None:
    """The model asks for the weather; HA's weather.get_forecasts answers."""
    await setup_entry(subentries=[agent_subentry(weather_entity=weather)])
    cloud.reply(tool_calls=[("get_weather", {"day": "tomorrow"})])
    cloud.reply("Sunny tomorrow. Don't get used to it.")
    result = await ask(hass, "do I need sunscreen for the trip?")
    assert speech(result) == "Sunny tomorrow. Don't get used to it."
    [tool] = tool_messages(cloud.chat_requests()[1])
    assert "Tomorrow: sunny. High 18°C, low 11°C" in tool["content"]
    assert "5% chance of rain" in tool["content"]


def tool_names(request: dict[str, Any]) -> list[str]:
    """The tools offered in a request, in order."""
    return [tool["function"]["name"] for tool in request.get("tools", [])]


async def test_small_talk_in_a_smart_home_is_short(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, smart_home: str
) -> None:
    """Small talk gets no tools and no device overview, however many devices there are."""
    await setup_entry()
    cloud.default = Reply("Living the dream.")
    result = await ask(hass, "hi there, how are you doing?", device_id=smart_home)
    assert speech(result) == "Living the dream."
    [request] = cloud.chat_requests()
    assert "tools" not in request
    system = request["messages"][0]
    assert "Static Context" not in system["content"]
    assert message_tokens(system) < 200


async def test_device_request_gets_device_tools_and_overview(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, smart_home: str
) -> None:
    """Naming a device brings the tools that control it and HA's device overview."""
    await setup_entry()
    cloud.default = Reply("Fine.")
    await ask(hass, "it's way too dark in the kitchen", device_id=smart_home)
    await ask(hass, "start a timer for the pasta", device_id=smart_home)
    kitchen, pasta = cloud.chat_requests()

    names = tool_names(kitchen)
    assert {"intent__HassTurnOn", "homeassistant__GetLiveContext"} <= set(names)
    assert not [name for name in names if "Timer" in name or name.startswith("todo")]
    assert "Static Context" in kitchen["messages"][0]["content"]
    assert "Kitchen ceiling light" in kitchen["messages"][0]["content"]

    assert "intent__HassStartTimer" in tool_names(pasta)
    assert "intent__HassTurnOn" not in tool_names(pasta)
    # No device named: the overview of every light stays out.
    assert "Static Context" not in pasta["messages"][0]["content"]


async def test_tools_and_overview_fit_a_small_context(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, smart_home: str
) -> None:
    """In a small context the overview shrinks to the named devices, then tools drop out."""
    await setup_entry(subentries=[agent_subentry(context_size=1200, max_tokens=100)])
    cloud.default = Reply("Fine.")
    await ask(hass, "is the kitchen lamp good enough for reading?", device_id=smart_home)
    [request] = cloud.chat_requests()
    system = request["messages"][0]["content"]
    assert "Static Context" not in system
    assert "Devices you can control:\n- Kitchen lamp (light, in Kitchen)" in system
    assert "- Hall lamp" not in system
    assert tool_names(request)  # the most relevant still went out
    assert sum(map(message_tokens, request["messages"])) < 1100


async def test_only_the_newest_turn_changes(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, smart_home: str, freezer: Any
) -> None:
    """Each request repeats the last one up to its newest question, so prefix caches hit.

    What changes every message (the time, who the camera sees) rides with the question, and
    an earlier question goes again with the note it was sent with.
    """
    await setup_entry()
    cloud.default = Reply("Mm.")
    conversation_id = None
    for text in (
        "how's things",
        "how was your weekend",
        "is the kitchen lamp good enough for reading?",
        "and the kitchen ceiling light, too bright as well?",
    ):
        freezer.tick(61)
        result = await ask(hass, text, conversation_id, device_id=smart_home)
        conversation_id = result.conversation_id
    first, second, third, fourth = (r["messages"] for r in cloud.chat_requests())

    assert first[0] == second[0]  # small talk: the persona, no clock
    assert first[0]["content"].startswith("You are Milo")
    assert first[1]["content"].startswith("(Today's date is 2026-06-01. Current time is 08:31.")
    assert first[1]["content"].endswith(")\nhow's things")
    assert second[1:3] == [first[1], {"role": "assistant", "content": "Mm."}]
    assert second[-1]["content"].startswith("(Today's date is 2026-06-01. Current time is 08:32.")
    # Device questions: the persona, then HA's device overview, the same both times.
    assert third[0] == fourth[0]
    assert third[0]["content"].startswith(first[0]["content"])
    assert "Static Context" in third[0]["content"]
    assert fourth[1:-2] == third[1:]  # earlier questions exactly as they were sent
    assert fourth[-2]["role"] == "assistant"


async def test_prompt_too_large_for_the_model(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing is sent that the server would refuse: Milo answers itself and says why once."""
    await setup_entry(
        subentries=[
            agent_subentry(prompt="Be nice. " * 300, context_size=512, max_tokens=64),
            *spot_subentries(),
        ]
    )
    for _ in range(2):
        result = await ask(hass, "tell me a story")
        assert speech(result).endswith(persona.OFFLINE_SENTENCE)
    assert cloud.chat_requests() == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    [warning] = [w for w in warnings if "Not asking the model" in w]
    assert "needs about" in warning
    assert "only 448 fit: a context of 512 minus 64 for the answer" in warning


async def test_server_token_count_is_logged(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's own count (usage) is logged next to the estimate, with its cache hits."""
    await setup_entry()
    chunk = {"choices": [{"delta": {"content": "Hi."}}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 90, "prompt_tokens_details": {}}}
    cloud.reply(raw=[f"data: {json.dumps(chunk)}\n\n", f"data: {json.dumps(usage)}\n\n"])
    with caplog.at_level(logging.DEBUG, logger="custom_components.milo"):
        assert speech(await ask(hass, "how's life")) == "Hi."
    assert any(
        r.getMessage().startswith("The server counted 90 prompt tokens (estimated ")
        and r.getMessage().endswith("0 of them cached")
        for r in caplog.records
    )


async def test_context_size_from_the_server(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The server's reported context is the budget; the agent's override wins over it."""
    cloud.context_length = 600
    await setup_entry(subentries=[agent_subentry(max_tokens=500)])
    cloud.reply("ok")
    await ask(hass, "how's life")
    # Half the server's context at most goes to the answer.
    assert cloud.chat_requests()[-1]["max_tokens"] == 300


async def test_context_size_override(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """The agent's context size wins over the server's."""
    cloud.context_length = 600
    await setup_entry(subentries=[agent_subentry(max_tokens=500, context_size=8192)])
    cloud.reply("ok")
    await ask(hass, "how's life")
    assert cloud.chat_requests()[-1]["max_tokens"] == 500


async def test_tool_loop_is_bounded(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """A model that only ever calls tools is stopped after the round limit."""
    # Room for five rounds of surf reports.
    await setup_entry(subentries=[agent_subentry(context_size=65536), *spot_subentries()])
    cloud.default = Reply(tool_calls=[("get_surf_forecast", {})])
    result = await ask(hass, "tell me everything about the ocean")
    assert speech(result) == persona.LOOP_LIMIT_LINE
    assert len(cloud.chat_requests()) == MAX_TOOL_ROUNDS


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (("get_surf_forecast", "{spot: east"), "Invalid tool call arguments"),
        (("get_surf_forecast", "[1, 2]"), "Invalid tool call arguments"),
        (("", "{}"), "Invalid tool call arguments"),
        (("launch_rockets", {}), "not found"),
        (("get_surf_forecast", {"day": "yesterday"}), "MultipleInvalid"),
    ],
)
async def test_malformed_tool_call(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, call: tuple, error: str
) -> None:
    """A broken tool call goes back to the model as an error; the model gets to recover."""
    await setup_entry()
    cloud.reply(tool_calls=[call])
    cloud.reply("Ahem. Ignore that.")
    result = await ask(hass, "should I bring my board along?")
    assert speech(result) == "Ahem. Ignore that."
    [tool] = tool_messages(cloud.chat_requests()[1])
    assert error in tool["content"]


async def test_llm_down_gives_an_in_character_answer(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, unused_tcp_port: int
) -> None:
    """Server errors and a dead server both get an answer, never a stack trace."""
    entry = await setup_entry()
    cloud.reply(status=500)
    result = await ask(hass, "what is the meaning of life")
    assert speech(result).endswith(persona.OFFLINE_SENTENCE)
    assert result.response.response_type is intent.IntentResponseType.ACTION_DONE

    entry.runtime_data.client.base_url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    result = await ask(hass, "what is the meaning of life")
    assert speech(result).endswith(persona.OFFLINE_SENTENCE)

    # The fast path still knows the surf: the facts come first, without the model.
    result = await ask(hass, "how's the surf at east strand today")
    assert speech(result) == f"{EAST_TODAY} {persona.OFFLINE_SENTENCE}"


async def test_fallback_lines_reach_streaming_tts(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Milo's own lines go through the chat log's delta stream, like the model's text."""
    await setup_entry()
    cloud.reply(status=503)
    deltas: list[dict] = []
    with (
        chat_session.async_get_chat_session(hass) as session,
        conversation.async_get_chat_log(
            hass, session, chat_log_delta_listener=lambda _log, delta: deltas.append(delta)
        ),
    ):
        await conversation.async_converse(
            hass, "how was your weekend", session.conversation_id, Context(), agent_id=AGENT
        )
    streamed = "".join(d.get("content") or "" for d in deltas)
    assert streamed.endswith(f"{persona.OFFLINE_SENTENCE} ")


async def test_rejected_key_starts_reauth(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """If the server starts rejecting the key, Milo answers and HA asks for a new key."""
    await setup_entry()
    cloud.api_key = "changed"
    result = await ask(hass, "how's life")
    assert speech(result).endswith(persona.OFFLINE_SENTENCE)
    flows = hass.config_entries.flow.async_progress_by_handler("milo")
    assert [f["context"]["source"] for f in flows] == ["reauth"]


async def test_empty_model_answer(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """A model that says nothing still leaves Milo with something to say: a line from the
    bank, not the excuse for a server that is down."""
    await setup_entry()
    cloud.reply("")
    result = await ask(hass, "hmm")
    assert speech(result) in persona.lines("fallback")


async def test_fast_path_surf_says_the_facts_then_a_remark(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The tool runs directly; the facts are said at once; the model, without tools, only
    adds a short remark."""
    await setup_entry()
    cloud.reply("Go on, get wet!")
    result = await ask(hass, "How's the surf at East Strand today?")
    assert speech(result) == f"{EAST_TODAY} Go on, get wet!"
    [request] = cloud.chat_requests()
    assert "tools" not in request
    assert request["max_tokens"] == REMARK_TOKENS
    assert request["messages"][1]["content"] == (
        f"Question: How's the surf at East Strand today?\nYou said: {EAST_TODAY}"
    )


@pytest.mark.parametrize(
    ("question", "reply", "said"),
    [
        # A tiny model echoing its bracketed note, or adding stage directions, says neither.
        (
            "how's it going milo",
            "(You're talking to Eileen.) Hello there, Eileen. (smiles)",
            "Hello there, Eileen.",
        ),
    ],
)
async def test_what_the_model_says_is_filtered(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, *, question: str, reply: str, said: str
) -> None:
    """What is not for speaking, or restates the facts, is not said."""
    await setup_entry()
    cloud.reply(reply)
    assert speech(await ask(hass, question)) == said


async def test_fast_path_surf_for_all_spots_when_none_named(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """'Any waves tomorrow?' reports every spot for tomorrow."""
    await setup_entry()
    cloud.reply("Mid everywhere tomorrow.")
    result = await ask(hass, "any waves tomorrow?")
    assert speech(result).startswith("East Strand tomorrow: mid all day, waves")
    assert "Also: West Strand mid all day." in speech(result)
    assert speech(result).endswith("Mid everywhere tomorrow.")


async def test_fast_path_weather(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, weather: str
) -> None:
    """Weather questions read the weather entity directly."""
    await setup_entry(subentries=[agent_subentry(weather_entity=weather)])
    cloud.reply("Shocking. Truly shocking.")
    result = await ask(hass, "what's the weather like?")
    assert speech(result) == (
        "Rainy and 14°C now. High 15°C, low 9°C, wind 22 km/h, sticky. Shocking. Truly shocking."
    )


async def test_fast_path_without_weather_entity_or_spots(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, unused_tcp_port: int
) -> None:
    """Missing configuration is explained, not guessed at."""
    entry = await setup_entry(subentries=[agent_subentry()])
    entry.runtime_data.client.base_url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    result = await ask(hass, "is it going to rain tomorrow?")
    assert "There is no weather entity in this home" in speech(result)
    result = await ask(hass, "surf today?")
    assert "No surf spots are set up" in speech(result)


async def test_fast_path_weather_entity_unavailable(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, unused_tcp_port: int
) -> None:
    """An unavailable weather entity gets an honest answer."""
    hass.states.async_set("weather.broken", "unavailable")
    entry = await setup_entry(subentries=[agent_subentry(weather_entity="weather.broken")])
    entry.runtime_data.client.base_url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    result = await ask(hass, "what's the weather?")
    assert "The weather entity is not answering right now." in speech(result)


async def test_fast_path_surf_api_down(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """Open-Meteo down: Milo says so from a template; the model is not trusted with it."""
    entry = await setup_entry()
    cloud.weather_fails = True
    await entry.runtime_data.surf.async_refresh()
    result = await ask(hass, "surf report please")
    assert speech(result).startswith("The surf forecast service is not answering right now.")
    assert cloud.chat_requests() == []


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("Do you like milk, Milo?", persona.lines("milk")),
        ("what about troggs", persona.lines("troggs")),
    ],
)
async def test_easter_eggs(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, text: str, lines: tuple
) -> None:
    """Milk and Troggs get the original's secret answers, without the model."""
    await setup_entry()
    result = await ask(hass, text)
    assert speech(result) in lines
    assert cloud.chat_requests() == []


async def test_device_commands_use_home_assistant_intents(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, kitchen_light: list
) -> None:
    """A sentence HA's intents understand is handled locally, without the model."""
    await setup_entry()
    result = await ask(hass, "turn on the kitchen light")
    assert [c.data["entity_id"] for c in kitchen_light] == [["light.kitchen"]]
    assert result.response.response_type is intent.IntentResponseType.ACTION_DONE
    quip, _, confirmation = speech(result).rpartition(" Turned ")
    assert quip in persona.lines("command")
    assert confirmation == "on the light"
    assert cloud.chat_requests() == []


async def numbered_turns(hass: HomeAssistant, cloud: FakeCloud, count: int) -> None:
    """One conversation of `count` turns: "question N" answered by "answer N"."""
    conversation_id = None
    for turn in range(count):
        cloud.reply(f"answer {turn}")
        result = await ask(hass, f"question {turn}", conversation_id)
        conversation_id = result.conversation_id


async def test_history_is_trimmed(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """Max history keeps the latest turns; the context budget drops more if needed."""
    await setup_entry(subentries=[agent_subentry(max_history=1, llm_hass_api=[])])
    await numbered_turns(hass, cloud, 3)
    last = cloud.chat_requests()[-1]["messages"]
    assert [m["content"].split("\n")[-1] for m in last[1:]] == [
        "question 1",
        "answer 1",
        "question 2",
    ]


async def test_history_starts_move_in_blocks(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Old turns are dropped two at a time (half of max history 4): the history's start
    stays put for two messages in a row, so a prefix cache covers the earlier turns."""
    await setup_entry(subentries=[agent_subentry(max_history=4, llm_hass_api=[])])
    await numbered_turns(hass, cloud, 9)
    firsts, sizes = [], []
    for request in cloud.chat_requests():
        questions = [
            m["content"].split("\n")[-1] for m in request["messages"] if m["role"] == "user"
        ]
        firsts.append(questions[0])
        sizes.append(len(questions) - 1)  # earlier turns sent with the question
    assert sizes == [0, 1, 2, 3, 4, 3, 4, 3, 4]
    assert firsts[4:] == ["question 0", "question 2", "question 2", "question 4", "question 4"]


async def test_context_budget(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """Long old turns are dropped to fit the model's context window."""
    await setup_entry(
        subentries=[
            agent_subentry(max_history=0, llm_hass_api=[], context_size=700, max_tokens=100)
        ]
    )
    cloud.reply("ok")
    result = await ask(hass, "remember this: " + "blah " * 400)
    cloud.reply("ok")
    await ask(hass, "and this short one", result.conversation_id)
    last = cloud.chat_requests()[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user"]


@pytest.fixture
async def milo_satellite(hass: HomeAssistant) -> dict[str, Any]:
    """A Milo satellite as HA's ESPHome integration registers it: device, entities, actions."""
    esphome = MockConfigEntry(domain="esphome", data={"device_name": "milo"})
    esphome.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=esphome.entry_id,
        connections={(dr.CONNECTION_NETWORK_MAC, "aa:bb:cc:dd:ee:ff")},
        name="Milo",
    )
    registry = er.async_get(hass)
    for domain, object_id, state in (
        ("sensor", "person_in_view", "Jay"),
        ("number", "head_pan", "0"),
        ("number", "head_tilt", "0"),
        ("switch", "look_around", "off"),
    ):
        entry = registry.async_get_or_create(
            domain,
            "esphome",
            f"AA:BB:CC:DD:EE:FF-{domain}-{object_id}",
            device_id=device.id,
            config_entry=esphome,
            suggested_object_id=f"milo_{object_id}",
        )
        hass.states.async_set(entry.entity_id, state)
    # Milo's own switch and number platforms (the greeting) set these components up; set up
    # first, their real services are replaced by the mocks below, not the other way round.
    for component in ("switch", "number"):
        assert await async_setup_component(hass, component, {})
    return {
        "device_id": device.id,
        "look_at": async_mock_service(hass, "esphome", "milo_look_at"),
        "set_value": async_mock_service(hass, "number", "set_value"),
        "turn_on": async_mock_service(hass, "switch", "turn_on"),
    }


async def test_buddy_awareness(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, milo_satellite: dict
) -> None:
    """When the camera names a buddy, the prompt knows who is talking."""
    await setup_entry(subentries=[agent_subentry(satellite_device=milo_satellite["device_id"])])
    cloud.reply("Jay! My favourite human. Don't tell the others.")
    await ask(hass, "hey it's me")
    question = cloud.chat_requests()[0]["messages"][-1]["content"]
    assert "Your camera recognises your buddy Jay: you are talking to Jay." in question
    assert question.endswith(")\nhey it's me")

    hass.states.async_set("sensor.milo_person_in_view", "stranger")
    cloud.reply("Who are you?")
    await ask(hass, "how's life")
    assert "don't recognise" in cloud.chat_requests()[1]["messages"][-1]["content"]

    hass.states.async_set("sensor.milo_person_in_view", "")
    cloud.reply("Hi.")
    await ask(hass, "how's life")
    assert "camera" not in cloud.chat_requests()[2]["messages"][-1]["content"]


async def test_head_tools(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    milo_satellite: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """look_at uses the ESPHome action; nod falls back to the numbers; look_around the switch."""
    monkeypatch.setattr(satellite_device, "GESTURE_STEP_SECONDS", 0)
    await setup_entry(subentries=[agent_subentry(satellite_device=milo_satellite["device_id"])])
    cloud.reply(
        tool_calls=[
            ("look_at", {"pan": 200, "tilt": "10"}),
            ("nod", {}),
            ("look_around", {"on": True}),
            ("shake_head", {}),
        ]
    )
    cloud.reply("Happy now?")
    result = await ask(hass, "show me what your head can do")
    assert speech(result) == "Happy now?"
    assert [c.data for c in milo_satellite["look_at"]] == [{"pan": 90.0, "tilt": 10.0}]
    assert [c.data["entity_id"] for c in milo_satellite["turn_on"]] == ["switch.milo_look_around"]
    moves: dict[str, list[float]] = {}
    for call in milo_satellite["set_value"]:  # nod and shake run concurrently
        moves.setdefault(call.data["entity_id"], []).append(call.data["value"])
    assert moves == {
        "number.milo_head_tilt": [15.0, -10.0, 0.0],
        "number.milo_head_pan": [-20.0, 20.0, 0.0],
    }
    results = tool_messages(cloud.chat_requests()[1])
    assert all('"done":true' in r["content"] for r in results)


async def test_head_tools_without_the_entities(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A device without the head entities gives the model a clear error."""
    esphome = MockConfigEntry(domain="esphome", data={})
    esphome.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=esphome.entry_id, identifiers={("esphome", "x")}, name="Other"
    )
    await setup_entry(subentries=[agent_subentry(satellite_device=device.id)])
    cloud.reply(tool_calls=[("look_at", {"pan": 0, "tilt": 0}), ("look_around", {"on": False})])
    cloud.reply("My neck is stuck.")
    assert speech(await ask(hass, "look at me")) == "My neck is stuck."
    results = tool_messages(cloud.chat_requests()[1])
    assert all("has no" in r["content"] for r in results)


async def test_head_uses_the_gesture_action_and_falls_back_for_look_at(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, milo_satellite: dict
) -> None:
    """The gesture action when the satellite has one; the numbers when look_at is missing."""
    hass.services.async_remove("esphome", "milo_look_at")
    gestures = async_mock_service(hass, "esphome", "milo_gesture")
    await setup_entry(subentries=[agent_subentry(satellite_device=milo_satellite["device_id"])])
    cloud.reply(tool_calls=[("shake_head", {}), ("look_at", {"pan": -30, "tilt": -60})])
    cloud.reply("No.")
    assert speech(await ask(hass, "do you want to vacuum? shake your head")) == "No."
    assert [c.data for c in gestures] == [{"name": "shake"}]
    assert sorted((c.data["entity_id"], c.data["value"]) for c in milo_satellite["set_value"]) == [
        ("number.milo_head_pan", -30.0),
        ("number.milo_head_tilt", -45.0),
    ]


async def test_satellite_device_removed(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, milo_satellite: dict
) -> None:
    """A satellite device that was deleted is handled like one without entities."""
    await setup_entry(subentries=[agent_subentry(satellite_device=milo_satellite["device_id"])])
    dr.async_get(hass).async_remove_device(milo_satellite["device_id"])
    cloud.reply(tool_calls=[("nod", {})])
    cloud.reply("Can't.")
    assert speech(await ask(hass, "nod if you can hear me")) == "Can't."
    [tool] = tool_messages(cloud.chat_requests()[1])
    assert "has no number.head_tilt" in tool["content"]


async def test_broken_instructions_template(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A broken template in the extra instructions is reported, not raised."""
    await setup_entry(subentries=[agent_subentry(prompt="{{ broken")])
    result = await ask(hass, "how's life")
    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert cloud.chat_requests() == []


async def test_agent_speaks_any_language(hass: HomeAssistant, setup_entry) -> None:
    """The model decides the languages."""
    await setup_entry()
    agent = conversation.async_get_agent_info(hass, AGENT)
    assert agent is not None
    assert agent.supports_streaming
