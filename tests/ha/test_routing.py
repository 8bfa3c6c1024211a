"""Routing: no home request is hijacked by Milo's word rules.

A real HA whose exposed devices, list, areas and sensors are named with surf, weather,
milk, dance and beat words. Each sentence goes through Milo's agent; what answered it is
read from the chat log: HA's own agent (its intent or trigger ran), the model (the
scripted server was asked), or Milo's fast path (its surf or weather tool ran, or an
easter egg or trick line was said).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    chat_session,
    entity_registry as er,
    floor_registry as fr,
    intent,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.milo import persona
from custom_components.milo.exposed_names import async_home_names
from custom_components.milo.home_names import HomeNames

from .conftest import FakeCloud, Reply, agent_subentry, spot_subentries
from .test_conversation import AGENT, ask, speech

MILO_TOOLS = {"get_surf_forecast": "surf", "get_weather": "weather", "search_notes": "notes"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Turn off the Surface lamps!", ["surface lamp"]),
        ("is the kitchen's milk frother on", ["milk frother", "kitchen"]),
        ("add milk to the to-do list", ["to do list"]),
        ("the snow-globe switches", ["snow globe switch", "snow globe"]),
        ("the snow globes", ["snow globe"]),
        ("I love surfing and surface tension", []),
        ("kitchenette", []),
        ("", []),
    ],
)
def test_names_said_as_whole_words(text: str, said: list[str]) -> None:
    """Names match whole words, in any case and punctuation, singular or plural, longest
    first; a rule word inside a longer word is no name."""
    home = HomeNames.of(
        ["Surface lamp", "Milk frother", "Kitchen", "To-do list", "Snow globe",
         "Snow globe switch", "Surf", "  ", ""]
    )  # fmt: skip
    assert home.named_in(text) == said


def _add(
    hass: HomeAssistant,
    entity_id: str,
    name: str,
    state: str,
    area: str | None = None,
    **attributes: Any,
) -> None:
    """An entity in the registry (so in an area, exposed as HA decides), with a state."""
    domain, object_id = entity_id.split(".")
    registry = er.async_get(hass)
    entry = registry.async_get_or_create(
        domain,
        "test",
        object_id,
        suggested_object_id=object_id,
        original_name=name,
        original_device_class=attributes.get("device_class"),
    )
    if area:
        area_id = ar.async_get(hass).async_get_or_create(area).id
        registry.async_update_entity(entry.entity_id, area_id=area_id)
    hass.states.async_set(entity_id, state, {"friendly_name": name, **attributes})


@pytest.fixture
async def trap_home(hass: HomeAssistant, tmp_path: Path) -> dict[str, list]:
    """A home whose names are full of Milo's rule words; returns the recorded service calls."""
    hass.config.config_dir = str(tmp_path)  # the shopping list keeps its items there
    for component in ("homeassistant", "intent", "climate", "media_player"):
        assert await async_setup_component(hass, component, {})
    shopping = MockConfigEntry(domain="shopping_list")
    shopping.add_to_hass(hass)
    assert await hass.config_entries.async_setup(shopping.entry_id)
    upstairs = fr.async_get(hass).async_create("Upstairs")
    ar.async_get(hass).async_create("Bedroom", floor_id=upstairs.floor_id)
    ar.async_get(hass).async_create("Surf shack", aliases={"board room"})
    _add(hass, "light.surface_lamp", "Surface lamp", "on", "Office")
    _add(hass, "switch.shredder", "Shredder", "off", "Office")
    _add(hass, "switch.snow_globe", "Snow globe", "off", "Living room")
    _add(hass, "switch.milk_frother", "Milk frother", "off", "Kitchen")
    _add(hass, "light.surf_shack_light", "Surf shack light", "off", "Surf shack")
    _add(hass, "light.disco_ball", "Disco ball", "off", "Living room")
    _add(hass, "light.boredom_lamp", "Boredom lamp", "off", "Living room")
    _add(
        hass,
        "media_player.beat_box",
        "Beat box",
        "playing",
        "Living room",
        supported_features=1 | 16384,  # pause, play
    )
    _add(
        hass,
        "climate.kitchen_thermostat",
        "Kitchen thermostat",
        "heat",
        "Kitchen",
        current_temperature=19,
        temperature=21,
        hvac_modes=["off", "heat"],
        supported_features=1,
    )
    _add(
        hass,
        "sensor.bedroom_temperature",
        "Bedroom temperature",
        "17.5",
        "Bedroom",
        device_class="temperature",
        unit_of_measurement="°C",
    )
    _add(
        hass,
        "media_player.surf_rock",
        "Surf rock",
        "playing",
        "Living room",
        supported_features=1 | 16384,  # pause, play
    )
    return {
        f"{domain}.{call}": async_mock_service(hass, domain, call)
        for domain, call in (
            # HA's intents turn devices on and off through homeassistant.turn_on/off,
            # once the device's own domain has the service.
            ("homeassistant", "turn_on"),
            ("homeassistant", "turn_off"),
            ("light", "turn_on"),
            ("light", "turn_off"),
            ("switch", "turn_on"),
            ("switch", "turn_off"),
            ("media_player", "media_pause"),
            ("climate", "set_temperature"),
        )
    }


async def _route(hass: HomeAssistant, cloud: FakeCloud, text: str) -> str:
    """Which part of Milo answered `text`: intents, model, surf, weather, milk, troggs,
    disco, trick (a dance or a beat, which this home has no satellite for), or the bank's
    joke, comeback, sight, bored, favourite or be_friends line."""
    asked = len(cloud.chat_requests())
    result = await ask(hass, text)
    with (
        chat_session.async_get_chat_session(hass, result.conversation_id) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        tools = [
            call.tool_name
            for content in chat_log.content
            if isinstance(content, conversation.AssistantContent)
            for call in content.tool_calls or ()
        ]
    if len(cloud.chat_requests()) > asked:
        return "model"
    if tools:
        return MILO_TOOLS.get(tools[0], "intents")
    said = speech(result)
    if said in persona.lines("milk"):
        return "milk"
    if said in persona.lines("troggs"):
        return "troggs"
    if said in persona.lines("disco"):
        return "disco"
    if said in persona.lines("no_dance"):
        return "trick"
    for topic in ("joke", "comeback", "sight", "bored", "favourite", "be_friends"):
        if said in persona.lines(topic):
            return topic
    return f"unexpected answer {said!r}"


# Names with surf, weather and milk words in them; indoor temperatures.
TRAPS = [
    ("Add milk to my shopping list", "intents"),
    ("add oat milk to the shopping list", "intents"),
    ("Turn on the shredder", "intents"),
    ("turn off the surface lamp", "intents"),
    ("Turn the surface lamps on", "intents"),
    ("turn on the snow globe", "intents"),
    ("switch on the milk frother", "intents"),
    ("Is the milk frother on?", "intents"),
    ("is the snow globe on", "intents"),
    ("pause surf rock", "intents"),
    ("play some surf rock", "model"),
    ("what is the temperature in the kitchen", "intents"),
    ("how warm is the bedroom", "model"),
    ("what temperature is the thermostat set to", "model"),
    ("what's the bedroom temperature", "intents"),
    ("set the kitchen thermostat to 22 degrees", "intents"),
    ("is it cold in the surf shack", "model"),
    ("what's the weather like in the board room", "model"),
    ("is it warm upstairs", "model"),
    ("how hot is it in here", "model"),
    ("is the shredder shredding", "intents"),
    ("will the snow globe snow", "model"),
    ("play dance music in the kitchen", "model"),
    ("turn on the disco ball", "intents"),
    ("is the disco ball on", "intents"),
    ("pause the beat box", "intents"),
    ("drop a beat on the beat box", "intents"),  # HA's fuzzy matching: turn it on
    ("add a note to my shopping list", "intents"),
    ("put surf wax in my notes", "model"),
    ("tell me a joke about the surface lamp", "intents"),
    ("the snow globe is useless", "intents"),
    ("turn on the boredom lamp", "intents"),
    ("is the boredom lamp on", "intents"),
    ("I'm bored, is the boredom lamp on?", "intents"),
    ("add my favourite biscuits to the shopping list", "intents"),
]
# Surf, weather and the easter eggs, in the same home.
GENUINE = [
    ("What's the surf like today?", "surf"),
    ("How's the surf at East Strand tomorrow?", "surf"),
    ("any waves at west strand", "surf"),
    ("Should I go surfing?", "surf"),
    ("is east strand pumping", "surf"),
    ("surf's up?", "surf"),
    ("time to shred?", "surf"),
    ("how big is the swell today", "surf"),
    ("What's the weather like?", "weather"),
    ("Will it rain tomorrow?", "weather"),
    ("do I need an umbrella today", "weather"),
    ("is it going to snow tomorrow", "weather"),
    ("what's the forecast", "weather"),
    ("is it sunny out", "weather"),
    ("how cold is it outside", "weather"),
    ("do I need a jacket", "weather"),
    ("is it raining in portrush", "weather"),
    ("Do you like milk, Milo?", "milk"),
    ("milkshake time", "milk"),
    ("got any milk?", "milk"),
    ("what do you think of troggs", "troggs"),
    ("Troggs is where I got my board", "troggs"),
    ("Milo, dance!", "trick"),
    ("get jiggy", "trick"),
    ("let's boogie", "trick"),
    ("Drop a beat", "trick"),
    ("Disco biscuits!", "disco"),
    ("What did I write about the surf shack?", "notes"),
    ("what's in my notes about the snow globe", "notes"),
    ("Tell me a joke about surfing", "joke"),
    ("You're useless.", "comeback"),
    ("Can you see me?", "sight"),
    ("I'm bored. Any ideas?", "bored"),
    ("What's your favourite surf spot?", "favourite"),
    ("Can we be friends?", "be_friends"),
]


@pytest.fixture
async def milo(
    hass: HomeAssistant, setup_entry: Callable[..., Any], cloud: FakeCloud, trap_home: dict
) -> FakeCloud:
    """Milo at sarcasm 0 (its fast path asks no model) in the trap home."""
    hass.states.async_set(
        "weather.home",
        "sunny",
        {"temperature": 21, "temperature_unit": "°C", "friendly_name": "Forecast Home"},
    )
    await setup_entry(
        subentries=[agent_subentry(sarcasm=0, weather_entity="weather.home"), *spot_subentries()]
    )
    cloud.default = Reply("Sure.")
    return cloud


def test_the_table_is_half_traps() -> None:
    """At least 40 sentences, half of them traps."""
    assert len(TRAPS) >= 20
    assert len(GENUINE) >= 20
    assert abs(len(TRAPS) - len(GENUINE)) <= 2


@pytest.mark.parametrize(("text", "expected"), TRAPS + GENUINE)
async def test_route(hass: HomeAssistant, milo: FakeCloud, text: str, expected: str) -> None:
    """Traps reach HA's intents or the model; surf, weather and milk reach the fast path."""
    assert await _route(hass, milo, text) == expected


async def test_traps_act_on_the_home(
    hass: HomeAssistant, milo: FakeCloud, trap_home: dict[str, list]
) -> None:
    """HA's intents did what was asked, and Milo said so in its own voice."""
    await ask(hass, "Turn on the shredder")
    await ask(hass, "turn off the surface lamp")
    assert [c.data["entity_id"] for c in trap_home["homeassistant.turn_on"]] == ["switch.shredder"]
    assert [c.data["entity_id"] for c in trap_home["homeassistant.turn_off"]] == [
        "light.surface_lamp"
    ]
    answer = speech(await ask(hass, "Add milk to my shopping list"))
    assert answer.endswith("Added milk")
    state = hass.states.get("todo.shopping_list")
    assert state is not None
    assert state.state == "1"


async def test_indoor_temperature_gets_the_assist_tools(
    hass: HomeAssistant, milo: FakeCloud
) -> None:
    """An indoor temperature HA's intents don't answer goes to the model with HA's tools,
    and without the outdoor forecast's."""
    await ask(hass, "how warm is the bedroom")
    [request] = milo.chat_requests()
    tools = [tool["function"]["name"] for tool in request.get("tools", [])]
    assert "homeassistant__GetLiveContext" in tools
    assert "get_weather" not in tools


async def test_milos_own_satellite_name_is_not_a_trap(hass: HomeAssistant, milo: FakeCloud) -> None:
    """A media player called Milo doesn't turn "do you like milk, Milo?" into a home request;
    neither does the weather entity, whose questions the fast path answers."""
    _add(hass, "media_player.milo", "Milo", "idle")
    home = async_home_names(hass, persona_name="Milo", own_device_id=None)
    assert home.named_in("do you like milk milo") == []
    assert home.named_in("what's the forecast home") == []
    assert home.named_in("is the board room warm") == ["board room"]
    assert await _route(hass, milo, "Do you like milk, Milo?") == "milk"


async def test_a_declined_sentence_leaves_no_trace(hass: HomeAssistant, milo: FakeCloud) -> None:
    """HA's agent declining small talk leaves nothing of its try in the chat log."""
    result = await ask(hass, "what do penguins dream about")
    with (
        chat_session.async_get_chat_session(hass, result.conversation_id) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        roles = [content.role for content in chat_log.content]
    assert roles == ["system", "user", "assistant"]
    assert speech(result) == "Sure."


async def test_wordings_only_has_fuzzy_matching_knows(
    hass: HomeAssistant, milo: FakeCloud, trap_home: dict[str, list]
) -> None:
    """ "The plug in the kitchen" is the Kitchen plug to HA's gazetteer, not to its strict
    intents (the pipeline's "prefer local"): Milo uses the gazetteer too, as HA alone does."""
    _add(hass, "switch.kitchen_plug", "Kitchen plug", "on", "Kitchen")
    text = "Switch off the plug in the kitchen"
    with (
        chat_session.async_get_chat_session(hass) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        strict = await conversation.async_handle_intents(
            hass,
            conversation.ConversationInput(
                text=text,
                context=Context(),
                conversation_id=session.conversation_id,
                device_id=None,
                satellite_id=None,
                language="en",
                agent_id=AGENT,
            ),
            chat_log,
        )
    assert strict is None
    await ask(hass, text)
    assert [c.data["entity_id"] for c in trap_home["homeassistant.turn_off"]] == [
        "switch.kitchen_plug"
    ]
    assert milo.chat_requests() == []


async def test_weather_is_milos_even_when_ha_could_answer(
    hass: HomeAssistant, milo: FakeCloud
) -> None:
    """With its weather entity exposed, HA's intents can answer the weather in a line; Milo
    leaves its own fuller answer in charge."""
    assert await async_setup_component(hass, "weather", {})
    async_expose_entity(hass, conversation.DOMAIN, "weather.home", True)
    ha_alone = await conversation.async_converse(
        hass, "what's the weather like", None, Context(), language="en"
    )
    assert ha_alone.response.response_type is intent.IntentResponseType.QUERY_ANSWER
    assert await _route(hass, milo, "what's the weather like") == "weather"
