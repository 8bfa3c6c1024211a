"""The fast path: the phrasings people use, and answers that keep to the facts."""

from __future__ import annotations

from collections.abc import AsyncIterator
import dataclasses
import json
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import chat_session
import pytest

from custom_components.milo import persona
from custom_components.milo.agreement import surf_truths
from custom_components.milo.answers import RECORDED_LABEL, SURF_DOWN, Facts, keep_remark
from custom_components.milo.fast_path import FastIntent, recognise
from custom_components.milo.guards import MAX_WORDS
from custom_components.milo.home_names import HomeNames
from custom_components.milo.sentences import heard, words

from .conftest import FakeCloud, Reply, agent_subentry, spot_subentries
from .test_conversation import AGENT, EAST_TODAY, ask, speech

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
        ("Is it worth paddling out this morning?", FastIntent("surf", "today", None)),
        ("Should I take my board out tomorrow?", FastIntent("surf", "tomorrow", None)),
        ("Is West Strand any good tomorrow?", FastIntent("surf", "tomorrow", "West Strand")),
        ("is whiterocks pumping", FastIntent("surf", "today", "Whiterocks")),
        # whisper tiny.en's usual mishearing of "waves".
        ("What are the ways like in Portrush today?", FastIntent("surf", "today", None)),
        ("What's the weather like?", FastIntent("weather", "today")),
        ("Is it going to rain tomorrow?", FastIntent("weather", "tomorrow")),
        ("do I need an umbrella", FastIntent("weather", "today")),
        ("how cold is it outside", FastIntent("weather", "today")),
        ("Will I need a coat?", FastIntent("weather", "today")),
        ("Is it a good day for a walk outside?", FastIntent("weather", "today")),
        ("nice day for a picnic tomorrow?", FastIntent("weather", "tomorrow")),
        ("uh so u like milk milo?", FastIntent("milk")),
        ("MILKSHAKE time", FastIntent("milk")),
        ("what do you think of troggs", FastIntent("troggs")),
        ("Trogs is where I got my board", FastIntent("troggs")),
        # Jokes asked for, also about surf or the weather: the bank's, not the forecast.
        ("Tell me a joke.", FastIntent("joke")),
        ("Do you know any surfing jokes?", FastIntent("joke")),
        ("tell me a funny story about the rain", FastIntent("joke")),
        ("Tell me something funny about robots.", FastIntent("joke")),
        ("Make me laugh.", FastIntent("joke")),
        ("Give me your best pun.", FastIntent("joke")),
        ("roast me a little", FastIntent("joke")),
        ("What about a joke?", FastIntent("joke")),
        # A plain hello or goodbye.
        ("Hi Milo!", FastIntent("greeting")),
        ("good morning", FastIntent("greeting")),
        ("Goodnight, Milo.", FastIntent("goodbye")),
        ("Thanks, bye!", FastIntent("goodbye")),
        ("see you later milo", FastIntent("goodbye")),
        # Insults aimed at Milo get a comeback.
        ("You're useless.", FastIntent("comeback")),
        ("Your jokes are terrible.", FastIntent("comeback")),
        ("You're just a toaster with a camera.", FastIntent("comeback")),
        ("I bet Alexa is smarter than you.", FastIntent("comeback")),
        ("Why are you so slow?", FastIntent("comeback")),
        ("Are you broken or just stupid?", FastIntent("comeback")),
        ("Nobody likes you, Milo.", FastIntent("comeback")),
        ("Oh, shut up.", FastIntent("comeback")),
        # What the camera sees.
        ("Can you see me?", FastIntent("see")),
        ("Who's there?", FastIntent("see")),
        ("Do you know who I am?", FastIntent("see")),
        ("milo who am i", FastIntent("see")),
        ("is anyone there", FastIntent("see")),
        # Boredom said outright.
        ("I'm bored. Any ideas?", FastIntent("bored")),
        ("ugh im so bored", FastIntent("bored")),
        ("I've got nothing to do, entertain me!", FastIntent("bored")),
        # Favourites and friends, by subject; "surf spot" is a favourite, not a forecast.
        ("What's your favourite band?", FastIntent("favourite", topic="band")),
        ("What's your favourite surf spot?", FastIntent("favourite", topic="spot")),
        ("Which food do you like best?", FastIntent("favourite", topic="food")),
        ("what's your fave drink", FastIntent("favourite", topic="drink")),
        ("Do you have a favourite film?", FastIntent("favourite", topic="film")),
        ("Who are your friends?", FastIntent("favourite", topic="friends")),
        ("Who's your best friend?", FastIntent("favourite", topic="friends")),
        ("Do you have any hobbies?", FastIntent("favourite", topic="hobby")),
        ("whats your hobby", FastIntent("favourite", topic="hobby")),
        ("Okay, sorry. Can we be friends?", FastIntent("be_friends")),
        ("will you be my friend", FastIntent("be_friends")),
    ],
)
def test_recognised(text: str, expected: FastIntent) -> None:
    """Each phrasing maps to its tool, day and spot."""
    assert recognise(text, SPOTS) == expected


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
        # More than a hello or a goodbye is small talk.
        "Hi Milo, how are you today?",
        "hey it's me",
        "Thanks for your help today.",
        # Small talk about jokes, or the user's own, and kind words: the model's.
        "I know a joke about surfers",
        "did you hear the one about the seagull",
        "You're funny.",
        "Why are you so happy?",
        "Is the slow cooker on?",
        "that lamp is useless",
        "",
        # Rule words inside names, device commands and lists: requests about the home.
        "is the surface lamp on",
        "is the shredder running",
        "turn on the snow globe",
        "can you turn on the milk frother",
        "Add milk to my shopping list",
        "put milk on the list",
        "play some surf rock",
        # A temperature indoors is the thermostat's, not the forecast's.
        "what is the temperature in the kitchen",
        "how warm is the bedroom",
        "what temperature is the thermostat set to",
        "is it cold in here",
        "play something funny",
        "turn on the joke lamp",
        # Not about Milo: a door (the danger zone's), who Milo is, what the user should do
        # (perhaps after a danger-zone question), a lamp, a favourite Milo has no lines for.
        "Who's at the door?",
        "Who am I talking to?",
        "What should I do?",
        "I'm bored of this lamp",
        "What's your favourite lamp?",
        "Can we be friends with the neighbours?",
        "Why them?",
        "add biscuits to my favourites list",
        "play my favourite song",
    ],
)
def test_left_to_the_model_or_intents(text: str) -> None:
    """Everything else is for HA's intents or the model."""
    assert recognise(text, SPOTS) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is the surf rock speaker loud", None),
        ("how's the weather station doing", None),
        ("is the surf good", FastIntent("surf")),
        ("what's the weather like", FastIntent("weather")),
        ("is it cold in the garden", None),
        ("is it cold outside", FastIntent("weather")),
        # A joke or an insult that names the home is the home's too.
        ("tell me a joke about the garden", None),
        ("the surf rock speaker is useless, you're useless", None),
        ("tell me a joke about the sea", FastIntent("joke")),
        # So do boredom, favourites and sight when the sentence names the home's.
        ("is the boredom lamp on", None),
        ("I'm bored", FastIntent("bored")),
        ("what's your favourite colour of the colour lamp", None),
        ("what's your favourite colour", FastIntent("favourite", topic="colour")),
        ("who's there in the garden", None),
    ],
)
def test_the_homes_names_are_left_to_the_home(text: str, expected: FastIntent | None) -> None:
    """A sentence that names an exposed device or an area is not Milo's to answer; the
    same rule words outside the names are."""
    home = HomeNames.of(
        ["Surf rock speaker", "Weather station", "Garden", "Boredom lamp", "Colour lamp"]
    )
    assert recognise(text, SPOTS, home) == expected


SURF_EAST = FastIntent("surf", "today", "East Strand")
SURF_ALL_TOMORROW = FastIntent("surf", "tomorrow", None)
WEATHER_TODAY = FastIntent("weather", "today")


@pytest.mark.parametrize(
    ("text", "previous", "expected"),
    [
        # A follow-up keeps the topic, the spot and the day it does not change.
        ("And tomorrow?", SURF_EAST, FastIntent("surf", "tomorrow", "East Strand")),
        (
            "What about West Strand?",
            SURF_ALL_TOMORROW,
            FastIntent("surf", "tomorrow", "West Strand"),
        ),
        ("how about the east", SURF_ALL_TOMORROW, FastIntent("surf", "tomorrow", "East Strand")),
        ("And today?", SURF_ALL_TOMORROW, FastIntent("surf", "today", None)),
        ("Tomorrow?", SURF_EAST, FastIntent("surf", "tomorrow", "East Strand")),
        ("And what about tomorrow?", WEATHER_TODAY, FastIntent("weather", "tomorrow")),
        ("what about later", FastIntent("weather", "tomorrow"), WEATHER_TODAY),
        # Naming a spot after the weather asks about its surf.
        ("What about Whiterocks?", WEATHER_TODAY, FastIntent("surf", "today", "Whiterocks")),
        # Not follow-ups: a question of its own, or no surf or weather before it.
        ("And what about you?", SURF_EAST, None),
        ("So should I go?", SURF_EAST, None),
        # "Another one!" after a joke is another joke; after anything else, small talk.
        ("Another one, please.", FastIntent("joke"), FastIntent("joke")),
        ("go on, one more", FastIntent("joke"), FastIntent("joke")),
        ("Another one, please.", SURF_EAST, None),
        ("Another one, please.", None, None),
        ("And tomorrow?", None, None),
        ("And tomorrow?", FastIntent("milk"), None),
        ("What about the kitchen light?", SURF_EAST, None),
        # "Why them?" after a favourite asks the reason for it; "Why?" after anything
        # else is small talk.
        (
            "Why them?",
            FastIntent("favourite", topic="band"),
            FastIntent("favourite_why", topic="band"),
        ),
        (
            "so why",
            FastIntent("favourite_why", topic="food"),
            FastIntent("favourite_why", topic="food"),
        ),
        ("Why?", SURF_EAST, None),
    ],
)
def test_follow_ups_keep_the_topic(
    text: str, previous: FastIntent | None, expected: FastIntent | None
) -> None:
    """'And tomorrow?' right after a surf answer asks for tomorrow's surf."""
    home = HomeNames.of(["Kitchen light"])
    assert recognise(text, SPOTS, home, previous=previous) == expected


def test_east_and_west_need_the_default_spots() -> None:
    """'East' only means East Strand when East Strand is configured."""
    assert recognise("surf in the east", ["Bundoran"]) == FastIntent("surf", "today", None)


async def _words(*chunks: str, closed: list[bool] | None = None) -> AsyncIterator[dict[str, Any]]:
    """A model's stream as chat log deltas, split where a real stream might split."""
    try:
        yield {"role": "assistant"}
        for chunk in chunks:
            yield {"content": chunk}
    finally:
        if closed is not None:
            closed.append(True)


async def _remark(facts: Facts, *chunks: str, prompt: str = "", question: str = "") -> str:
    stream = keep_remark(_words(*chunks), facts, prompt, question)
    return "".join([d.get("content") or "" async for d in stream])


SURF_FACTS = Facts(
    line="East Strand today: gnarly at 9am, waves 0.8 to 1.2 metres, 10.5 second period, "
    "offshore wind.",
    data={},
    quip="Surf's up, you toads!",
    truths=surf_truths(["gnarly"], [3.9, 2.6], ["offshore"], [16.0]),
)


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        # Split mid-sentence: whole sentences still come through unchanged.
        (("Get out ", "there! Wax", " up."), "Get out there! Wax up."),
        # A figure, invented or not: the facts line said the figures. The remark stops at
        # the first sentence that fails, and nothing left means the line for the rating.
        (("Six foot, maybe 8 foot sets! ", "Paddle out."), "Surf's up, you toads!"),
        (("Waves of 1.", "2 metres! Wax up."), "Surf's up, you toads!"),
        (("Paddle out. ", "Maybe 8 foot sets!"), "Paddle out."),
        # A rating the facts do not have, or a claim they contradict.
        (("Total trash. Stay in bed",), "Surf's up, you toads!"),
        (("Wax up. Flat as a pond, though.",), "Wax up."),
        (("Sunny too!",), "Surf's up, you toads!"),
        # What no answer may say: swearing, a fragment cut off mid-phrase (the model ran
        # out of tokens), the user's next line of a script.
        (("Fuck, I'm just a little drunk.",), "Surf's up, you toads!"),
        (("Wax up. Tease one little bit about the",), "Wax up."),
        (("Wax up. User: is it big?",), "Wax up."),
        # Attitude, not a second report: two sentences at most.
        (("Go. Now. Seriously.",), "Go. Now."),
        # Nothing usable at all: the template's quip.
        (("Perfect 10 out of 10!",), "Surf's up, you toads!"),
        (("",), "Surf's up, you toads!"),
    ],
)
async def test_keep_remark(chunks: tuple[str, ...], said: str) -> None:
    """The model's remark passes sentence by sentence while it agrees with the facts."""
    assert await _remark(SURF_FACTS, *chunks) == said


async def test_an_empty_remark_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    """A model that says nothing at all after the facts: the line for the rating, and a
    warning in the log (a filtered remark is only a debug message)."""
    assert await _remark(SURF_FACTS, "", " ") == "Surf's up, you toads!"
    assert "The model had no remark to add" in caplog.text
    caplog.clear()
    assert await _remark(SURF_FACTS, "Total trash.") == "Surf's up, you toads!"
    assert "The model had no remark to add" not in caplog.text


@pytest.mark.parametrize(
    "recital",
    [
        "How is the surf at East Strand?",
        "You are Milo, a desk robot.",
        "East Strand today: gnarly at last.",
    ],
)
async def test_keep_remark_refuses_recited_prompt_facts_and_parroted_question(
    recital: str,
) -> None:
    """A tiny model reciting its instructions, the facts or the question doesn't say it."""
    said = await _remark(
        SURF_FACTS,
        f"{recital} Lucky you.",
        prompt="You are Milo, a desk robot. Be sarcastic but friendly: tease a little.",
        question="how is the surf at east strand",
    )
    assert said == "Surf's up, you toads!"


async def test_keep_remark_says_nothing_of_the_latest_turns_again() -> None:
    """A remark sentence said in the latest turns, or six words in a row of one, is not
    said again."""
    said = set(heard("Wax up, buddy. You have got the whole beach to yourself today."))
    for chunks in (("Wax up, buddy.",), ("Got the whole beach to yourself today, buddy!",)):
        stream = keep_remark(_words(*chunks), SURF_FACTS, "", "", said_before=said)
        assert "".join([d["content"] async for d in stream]) == SURF_FACTS.quip


async def test_keep_remark_keeps_the_answer_within_forty_words() -> None:
    """The facts line and the remark together stay within the spoken limit: a remark
    that would pass it is not said, the facts' (short) quip is."""
    long_facts = dataclasses.replace(SURF_FACTS, line=" ".join(["wave"] * 30) + ".")
    remark = "Wax up, buddy, because the whole North Coast is calling your name today."
    said = "".join([d["content"] async for d in keep_remark(_words(remark), long_facts, "", "")])
    assert said == SURF_FACTS.quip
    assert len(words(long_facts.line)) + len(words(said)) <= MAX_WORDS


async def test_keep_remark_stops_the_model_when_it_has_said_enough() -> None:
    """Two sentences kept: the model's stream is closed rather than read to the end."""
    closed: list[bool] = []
    stream = keep_remark(_words("Go. Now.", " Three.", closed=closed), SURF_FACTS, "", "")
    assert [d["content"] async for d in stream] == ["Go.", " Now."]
    assert closed == [True]


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
    """Recorded data: the label comes first, then the facts, then the remark."""
    cloud.marine["recorded"] = {"note": "demo sample"}
    entry = await setup_entry()
    cloud.reply("Go!")
    result = await ask(hass, "surf at east strand today?")
    assert speech(result) == f"{RECORDED_LABEL} {EAST_TODAY} Go!"

    # Said once in a conversation: a follow-up has it already.
    cloud.reply("Send it.")
    again = speech(await ask(hass, "And tomorrow?", result.conversation_id))
    assert again.startswith("East Strand tomorrow: "), again

    entry.runtime_data.client.base_url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    answer = speech(await ask(hass, "surf at east strand today?"))
    assert answer == f"{RECORDED_LABEL} {EAST_TODAY} {persona.OFFLINE_SENTENCE}"


async def test_a_follow_up_answers_the_same_topic(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """'And tomorrow?' after East Strand's surf is East Strand's surf tomorrow, and
    'What about West Strand?' then keeps tomorrow; the conversation's earlier questions
    come from HA's chat log, not from anything Milo keeps."""
    await setup_entry()
    cloud.default = Reply("Wax up.")
    first = await ask(hass, "How's the surf at East Strand today?")
    assert speech(first).startswith(EAST_TODAY)
    tomorrow = speech(await ask(hass, "And tomorrow?", first.conversation_id))
    assert tomorrow.startswith("East Strand tomorrow: ")
    west = speech(await ask(hass, "What about West Strand?", first.conversation_id))
    assert west.startswith("West Strand tomorrow: ")
    # A new conversation has no topic to follow.
    cloud.default = Reply("No idea, buddy.")
    assert speech(await ask(hass, "And tomorrow?")) == "No idea, buddy."


async def test_weather_facts_come_first(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """A weather answer starts with the facts line; the model only adds attitude."""
    hass.states.async_set(
        "weather.home",
        "sunny",
        {"temperature": 21, "temperature_unit": "°C", "wind_speed_unit": "km/h"},
    )
    await setup_entry(subentries=[agent_subentry(weather_entity="weather.home")])
    cloud.reply("Enjoy the sunshine while it lasts. It is 25 degrees.")
    result = await ask(hass, "what's the weather like")
    assert speech(result) == "Sunny and 21°C now. Enjoy the sunshine while it lasts."


async def test_facts_line_streams_before_the_model_is_asked(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The facts reach streaming TTS first, as a finished sentence: its trailing space is
    what tells a sentence splitter the sentence ended, so audio needn't wait for the model."""
    await setup_entry()
    cloud.reply("Wax that board.")
    first: list[tuple[str, int]] = []

    def listen(_log: conversation.ChatLog, delta: dict[str, Any]) -> None:
        if delta.get("content") and not first:
            first.append((delta["content"], len(cloud.chat_requests())))

    with (
        chat_session.async_get_chat_session(hass) as session,
        conversation.async_get_chat_log(hass, session, chat_log_delta_listener=listen),
    ):
        result = await conversation.async_converse(
            hass, "surf at east strand today?", session.conversation_id, Context(), agent_id=AGENT
        )
    assert first == [(f"{EAST_TODAY} ", 0)]
    assert speech(result) == f"{EAST_TODAY} Wax that board."


async def test_model_failing_mid_remark_keeps_what_was_said(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A stream that breaks after a sentence of remark: that sentence stays, and nothing
    says the brain is offline, since the server is up."""
    await setup_entry()
    chunk = {"choices": [{"delta": {"content": "Wax up. Seriously"}}]}
    failure = {"error": {"message": "model exploded"}}
    cloud.reply(raw=[f"data: {json.dumps(chunk)}\n\n", f"data: {json.dumps(failure)}\n\n"])
    result = await ask(hass, "surf at east strand today?")
    assert speech(result) == f"{EAST_TODAY} Wax up."


@pytest.mark.parametrize("reply", [{"status": 500}, {"text": ""}, {"text": "   "}])
async def test_a_server_that_is_up_never_leaves_milo_offline_or_silent(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, reply: dict[str, Any]
) -> None:
    """An error from the server, or an empty remark: the line for the rating follows the
    facts, never the offline sentence."""
    await setup_entry()
    cloud.reply(**reply)
    answer = speech(await ask(hass, "surf at east strand today?"))
    assert answer.startswith(f"{EAST_TODAY} ")
    assert answer.removeprefix(f"{EAST_TODAY} ") in persona.lines("surf", "gnarly")


async def test_sarcasm_zero_says_the_plain_facts(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """No attitude wanted: the facts line alone, and no model asked."""
    await setup_entry(subentries=[agent_subentry(sarcasm=0), *spot_subentries()])
    result = await ask(hass, "surf at east strand today?")
    assert speech(result) == EAST_TODAY
    assert cloud.chat_requests() == []


async def test_chat_log_keeps_the_summary_and_history_sends_what_was_said(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """HA's chat log holds a one-sentence-per-spot summary; the next turn sends only the
    question and the answer, not the surf report."""
    await setup_entry()
    cloud.reply("Wax that board.")
    first = await ask(hass, "surf at east strand today?")
    with (
        chat_session.async_get_chat_session(hass, first.conversation_id) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        [tool] = [c for c in chat_log.content if isinstance(c, conversation.ToolResultContent)]
    assert list(tool.result.data) == ["summary"]
    summary = tool.result.data["summary"]
    assert summary.startswith("The surf at East Strand is gnarly today. At 9am, gnarly:")
    cloud.reply("Beep boop.")
    await ask(hass, "how was your day", first.conversation_id)
    messages = cloud.chat_requests()[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"].endswith("surf at east strand today?")
    assert messages[2]["content"] == f"{EAST_TODAY} Wax that board."
