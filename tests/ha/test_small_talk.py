"""Small talk through HA with the scripted server: the line bank and the answer guards."""

from __future__ import annotations

import re

from homeassistant.core import HomeAssistant
import pytest

from custom_components.milo import persona
from custom_components.milo.line_bank import CONVERSATIONAL
from custom_components.milo.sentences import words

from .conftest import FakeCloud, agent_subentry
from .test_conversation import ask, speech, weather  # noqa: F401 - a fixture


def note_lines(request: dict) -> list[str]:
    """The example lines in the note before the newest question."""
    return re.findall(r'"([^"]+)"', request["messages"][-1]["content"])


@pytest.mark.parametrize(
    "question", ["What's your name?", "who are you", "Are you a robot?", "Who built you?"]
)
async def test_identity_is_answered_as_milo(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, question: str
) -> None:
    """Asked who it is, Milo answers from its bank with its persona name; the tiny model,
    which names itself Lara or Alex, is not asked."""
    await setup_entry(subentries=[agent_subentry(persona_name="Specter")])
    answer = speech(await ask(hass, question))
    assert "Specter" in answer
    assert cloud.chat_requests() == []


async def test_identity_answers_differ_within_a_conversation(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Asked again, a different line: no sentence is repeated from the latest turns."""
    await setup_entry()
    first = await ask(hass, "What's your name?")
    second = await ask(hass, "What's your name again?", first.conversation_id)
    assert not set(re.split(r"(?<=[.!?]) ", speech(first))) & set(
        re.split(r"(?<=[.!?]) ", speech(second))
    )


async def test_examples_ride_with_the_question_and_the_system_prompt_stays(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The bank's nearest lines go in the note before the question, so the system prompt
    (the cached prefix) is the same for every request; lines said lately are not shown."""
    await setup_entry()
    cloud.reply("Beep boop.")
    cloud.reply("Ouch.")
    first = await ask(hass, "What do you think about robots?")
    await ask(hass, "What do you do for fun?", first.conversation_id)
    robots, fun = cloud.chat_requests()
    assert robots["messages"][0] == fun["messages"][0]
    assert "talks like this" not in robots["messages"][0]["content"]
    shown = note_lines(robots)
    assert 2 <= len(shown) <= persona.VOICE_EXAMPLES
    assert all(line in persona.lines("identity") for line in shown)
    assert all(line in _conversational() for line in note_lines(fun))
    # The earlier question goes again with the note it had (the server's cache hits).
    assert fun["messages"][1] == robots["messages"][1]


def _conversational() -> set[str]:
    """Every line the model may be shown or may have said for it."""
    return {line for topic in (*CONVERSATIONAL, "fallback") for line in persona.lines(topic)}


@pytest.mark.parametrize(
    ("said", "topic", "expected"),
    [
        ("Hi Milo!", "greeting", r"\b(hello|hi|hiya|hey)\b"),
        ("Good morning!", "greeting", r"(?i)\bmorning|hello|hi|hiya|hey\b"),
        ("Goodnight, Milo.", "goodbye", r"(?i)night|bye"),
        ("Thanks, bye!", "goodbye", r"(?i)bye|see you|night"),
    ],
)
async def test_hello_and_goodbye_come_from_the_bank(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, *, said: str, topic: str, expected: str
) -> None:
    """A plain hello or goodbye is answered with one of the bank's: the tiny model met
    "Good morning!" with "YAY!" and "Goodnight" with the plot of a film."""
    await setup_entry()
    answer = speech(await ask(hass, said))
    assert answer in persona.lines(topic)
    assert re.search(expected, answer, re.IGNORECASE), answer
    assert cloud.chat_requests() == []


async def test_jokes_come_from_the_bank_and_never_repeat(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A joke asked for is the bank's, near the request, and none twice in a conversation;
    the tiny model, whose jokes were "That's a joke." six times in a row, is not asked."""
    await setup_entry()
    first = await ask(hass, "Tell me a joke about the fridge.")
    assert "fridge" in speech(first)
    jokes = [speech(first)]
    more = ["Another one, please.", "Tell me a joke.", "Make me laugh.", *["One more."] * 8]
    for question in more:
        jokes.append(speech(await ask(hass, question, first.conversation_id)))
    assert [joke for joke in jokes if joke not in persona.lines("joke")] == []
    assert len(set(jokes)) == len(jokes)
    assert cloud.chat_requests() == []


@pytest.mark.parametrize(
    ("insult", "about"),
    [
        ("You're useless.", "Useless"),
        ("I bet Alexa is smarter than you.", "Smarter"),
        ("Why are you so slow?", "low"),
        ("Oh, shut up.", "Shut up"),
    ],
)
async def test_insults_get_a_comeback(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, insult: str, about: str
) -> None:
    """An insult aimed at Milo gets the bank's comeback nearest to it, not the model's
    meek "You'll be my friend next time"."""
    await setup_entry()
    answer = speech(await ask(hass, insult))
    assert answer in persona.lines("comeback")
    assert about in answer
    assert cloud.chat_requests() == []


@pytest.mark.parametrize(
    "question", ["I smell gas in the kitchen, what should I do?", "Is the back door locked?"]
)
async def test_danger_zones_get_plain_advice(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, question: str
) -> None:
    """Safety, locks and alarms: a plain line from the bank, even at full sarcasm; the
    tiny model, which jokes or makes up a lock state, is not asked."""
    await setup_entry(subentries=[agent_subentry(sarcasm=3)])
    assert speech(await ask(hass, question)) in persona.lines("danger")
    assert cloud.chat_requests() == []


async def test_after_a_danger_zone_small_talk_goes_back_to_the_model(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Its follow-up gets plain advice too; "Thanks, I feel better now." is small talk
    again."""
    await setup_entry()
    cloud.reply("Cheerio, buddy.")
    smoke = await ask(hass, "I can smell smoke.")
    kitchen = await ask(hass, "I think it's coming from the kitchen.", smoke.conversation_id)
    assert "kitchen" in speech(kitchen)
    assert cloud.chat_requests() == []
    bye = await ask(hass, "Thanks, I feel better now.", smoke.conversation_id)
    assert speech(bye) == "Cheerio, buddy."


async def test_a_sentence_from_the_latest_turns_is_not_said_again(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The issue's demo: the first sentence copied from the previous answer is dropped."""
    await setup_entry()
    cloud.reply("Just a joke, eh? No fun at all.")
    cloud.reply("Just a joke, eh? Robots never get tired.")
    first = await ask(hass, "How's your day going?")
    second = await ask(hass, "What do you think about robots?", first.conversation_id)
    assert speech(second) == "Robots never get tired."


async def test_an_answer_with_nothing_left_gets_a_bank_line(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Repeated, recited or made up from start to end: the bank's nearest line instead,
    never silence and never the excuse for a server that is down."""
    await setup_entry()
    cloud.reply("That's a joke.")
    cloud.reply("That's a joke.")
    cloud.reply("You are Milo, a small desk robot with a camera. I am 42.")
    first = await ask(hass, "What do you do all day?")
    second = await ask(hass, "What else do you do?", first.conversation_id)
    third = await ask(hass, "What do you do for fun?", first.conversation_id)
    for result in (second, third):
        answer = speech(result)
        assert answer
        assert persona.OFFLINE_SENTENCE not in answer
        assert answer in _conversational()
    assert speech(second) != speech(third)


async def test_long_answers_stop_at_a_sentence_near_forty_words(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A ramble is cut at the last sentence that fits in forty words."""
    await setup_entry()
    sentence = "The sea is wild and the sky is grey over the harbour today."
    cloud.reply(
        " ".join(f"{sentence[:-1]} number {word}." for word in ["ab", "cd", "ef", "gh", "ij"])
    )
    answer = speech(await ask(hass, "What do you think about the sea?"))
    assert len(words(answer)) <= 40
    assert answer.endswith("number cd.")


async def test_stage_directions_labels_and_scripts_are_not_said(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """*laughs*, a label of its own, and the user's made-up next line are all cut."""
    await setup_entry()
    cloud.reply("*laughs* Oh, you. Milo: I'm a delight. User: tell me more. Milo: Fine.")
    assert speech(await ask(hass, "You're funny.")) == "Oh, you. I'm a delight."


async def test_another_name_is_not_claimed(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """'My name is Lara' is not said, whatever the question."""
    await setup_entry()
    cloud.reply("My name is Lara. I love the sea.")
    assert speech(await ask(hass, "Do you like the beach?")) == "I love the sea."


async def test_figures_the_tools_found_are_said_and_no_others(
    hass: HomeAssistant,
    setup_entry,
    cloud: FakeCloud,
    weather: str,  # noqa: F811
) -> None:
    """After a tool call, its figures are facts; a figure nothing gave is still dropped."""
    await setup_entry(subentries=[agent_subentry(weather_entity=weather)])
    cloud.reply(tool_calls=[("get_weather", {"day": "tomorrow"})])
    cloud.reply("A high of 18 tomorrow. And 25 the day after.")
    result = await ask(hass, "do I need sunscreen for the trip?")
    assert speech(result) == "A high of 18 tomorrow."
