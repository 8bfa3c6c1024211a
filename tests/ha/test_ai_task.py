"""Milo's AI task entity (`ai_task.generate_data`) in a real Home Assistant.

Against the scripted chat server for text, structured output, bad answers and a server
that is down; against the real milo-llm for a text task and a structured one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components import ai_task
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_MODEL, CONF_URL, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, llm
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo.ai_task import TASK_INSTRUCTIONS
from custom_components.milo.const import DEFAULT_AI_TASK_OPTIONS, DOMAIN

from .conftest import MODEL, FakeCloud, Reply, agent_subentry, spot_subentries
from .test_real_llm import milo_llm, set_up_on  # noqa: F401  (the fixture)

TASK = "ai_task.milo_ai_task"
SURF = "The surf at East Strand is 1.2 m at 9 s with a light offshore wind."
# What an automation passes as `structure`, as the action's schema turns it into one.
RATING_STRUCTURE = {
    "rating": {
        "description": "How good the surf is",
        "required": True,
        "selector": {"select": {"options": ["gnarly", "mid", "trash"]}},
    },
    "summary": {"description": "One sarcastic sentence", "selector": {"text": {}}},
}


async def generate(
    hass: HomeAssistant, instructions: str, structure: dict[str, Any] | None = None
) -> Any:
    """Run `ai_task.generate_data` on Milo's task entity; return its data."""
    data: dict[str, Any] = {
        "task_name": "Surf summary",
        "entity_id": TASK,
        "instructions": instructions,
    }
    if structure is not None:
        data["structure"] = structure
    response = await hass.services.async_call(
        "ai_task", "generate_data", data, blocking=True, return_response=True
    )
    assert response is not None
    return response["data"]


@pytest.fixture
async def milo(setup_entry: Callable[..., Any]) -> MockConfigEntry:
    """An entry from before AI tasks (1.1): set up, it has the default one."""
    entry: MockConfigEntry = await setup_entry()
    return entry


async def test_an_older_entry_gets_the_default_ai_task(
    hass: HomeAssistant, milo: MockConfigEntry
) -> None:
    """Migration to 1.2 adds the AI task subentry; its entity is named after it."""
    assert (milo.version, milo.minor_version) == (1, 2)
    tasks = [s for s in milo.subentries.values() if s.subentry_type == "ai_task_data"]
    assert [(s.title, dict(s.data)) for s in tasks] == [("Milo AI Task", DEFAULT_AI_TASK_OPTIONS)]
    entity = er.async_get(hass).async_get(TASK)
    assert entity is not None
    assert entity.unique_id == tasks[0].subentry_id
    assert entity.config_subentry_id == tasks[0].subentry_id
    state = hass.states.get(TASK)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert state.attributes["supported_features"] == ai_task.AITaskEntityFeature.GENERATE_DATA


async def test_text_task_in_milos_voice(
    hass: HomeAssistant, cloud: FakeCloud, milo: MockConfigEntry
) -> None:
    """The answer comes back as text; the model got Milo's persona and the instructions."""
    cloud.reply("Knee-high and glassy, so grab the board before the milk goes off.")
    instructions = f"Write a sarcastic one-line notification about this surf: {SURF}"

    data = await generate(hass, instructions)

    assert data == "Knee-high and glassy, so grab the board before the milk goes off."
    [request] = cloud.chat_requests()
    system, user = request["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Milo, a small desk robot")
    assert system["content"].endswith(TASK_INSTRUCTIONS)
    assert user == {"role": "user", "content": instructions}
    assert "response_format" not in request
    assert "tools" not in request
    assert request["max_tokens"] == 512
    assert request["model"] == MODEL
    # The entity's state is when it last ran.
    state = hass.states.get(TASK)
    assert state is not None
    assert state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)


async def test_structured_task_sends_the_schema_and_returns_checked_json(
    hass: HomeAssistant, cloud: FakeCloud, milo: MockConfigEntry
) -> None:
    """The structure goes out as a JSON schema; the JSON that comes back is the data."""
    cloud.reply('{"rating": "mid", "summary": "Fun if you squint."}')

    data = await generate(hass, f"Rate this surf: {SURF}", RATING_STRUCTURE)

    assert data == {"rating": "mid", "summary": "Fun if you squint."}
    [request] = cloud.chat_requests()
    schema = {
        "type": "object",
        "properties": {
            "rating": {
                "type": "string",
                "enum": ["gnarly", "mid", "trash"],
                "description": "How good the surf is",
            },
            "summary": {"type": "string", "description": "One sarcastic sentence"},
        },
        "required": ["rating"],
        "additionalProperties": False,
    }
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "surf_summary", "schema": schema},
    }
    # The schema is in the prompt too, for servers without grammars.
    assert '"enum": ["gnarly", "mid", "trash"]' in request["messages"][0]["content"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            "Mid, probably.",
            "The model's answer is not valid JSON (Expecting value: line 1 column 1 (char 0)): "
            "Mid, probably.",
        ),
        ('{"rating": "epic"}', "The model's JSON does not fit the task's structure"),
        ('["mid"]', "The model's JSON does not fit the task's structure"),
        ("", "The model gave an empty answer"),
    ],
)
async def test_a_bad_structured_answer_is_a_clear_error(
    hass: HomeAssistant, cloud: FakeCloud, milo: MockConfigEntry, answer: str, message: str
) -> None:
    """Not JSON, JSON that does not fit, or nothing: the action fails and says why."""
    cloud.reply(answer)
    with pytest.raises(HomeAssistantError) as err:
        await generate(hass, f"Rate this surf: {SURF}", RATING_STRUCTURE)
    assert str(err.value).startswith(message)


async def test_server_errors_are_clear(
    hass: HomeAssistant, cloud: FakeCloud, milo: MockConfigEntry
) -> None:
    """A server error names the server; a rejected key also asks the user for a new one."""
    cloud.script.append(Reply(status=500))
    with pytest.raises(
        HomeAssistantError, match=r"Milo's chat server at http://.+ failed: HTTP 500"
    ):
        await generate(hass, "Say hi.")

    cloud.api_key = "new-key"
    with pytest.raises(HomeAssistantError, match="The chat server rejected the API key"):
        await generate(hass, "Say hi.")
    await hass.async_block_till_done()
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"


@pytest.mark.usefixtures("portrush", "socket_enabled")
async def test_server_down(hass: HomeAssistant, unused_tcp_port_factory: Any) -> None:
    """Nothing listens at the URL: the entity still loads, and the task says it cannot reach it."""
    url = f"http://127.0.0.1:{unused_tcp_port_factory()}/v1"
    entry = MockConfigEntry(
        domain=DOMAIN, data={CONF_URL: url, CONF_MODEL: MODEL}, subentries_data=[]
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError, match=f"Cannot reach Milo's chat server at {url}: "):
        await generate(hass, "Say hi.")


async def test_tools_are_refused(hass: HomeAssistant, milo: MockConfigEntry) -> None:
    """A caller that passes an LLM API is told the task has no tools, not silently ignored."""
    with pytest.raises(HomeAssistantError, match="cannot use an LLM API's tools"):
        await ai_task.async_generate_data(
            hass,
            task_name="Lights",
            entity_id=TASK,
            instructions="Which lights are on?",
            llm_api=next(a for a in llm.async_get_apis(hass) if a.id == llm.LLM_API_ASSIST),
        )


async def test_unload_makes_the_entity_unavailable(
    hass: HomeAssistant, milo: MockConfigEntry
) -> None:
    """Unloading the entry takes the task entity down with it."""
    assert await hass.config_entries.async_unload(milo.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(TASK)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_add_and_reconfigure_an_ai_task(
    hass: HomeAssistant, cloud: FakeCloud, milo: MockConfigEntry
) -> None:
    """A second, polite AI task from the subentry flow; then it is made sarcastic again."""
    result = await hass.config_entries.subentries.async_init(
        (milo.entry_id, "ai_task_data"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    options = {
        "name": "Polite Milo",
        "persona_name": "Milo",
        "sarcasm": 0.0,
        "temperature": 0.2,
        "max_tokens": 100.0,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], options)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    subentry = next(s for s in milo.subentries.values() if s.title == "Polite Milo")
    assert dict(subentry.data) == {
        "persona_name": "Milo",
        "sarcasm": 0,
        "temperature": 0.2,
        "max_tokens": 100,
    }

    cloud.reply("Hello.")
    response = await hass.services.async_call(
        "ai_task",
        "generate_data",
        {"task_name": "Hi", "entity_id": "ai_task.polite_milo", "instructions": "Say hi."},
        blocking=True,
        return_response=True,
    )
    assert response == {"conversation_id": response["conversation_id"], "data": "Hello."}
    [request] = cloud.chat_requests()
    assert "Be warm and plain; no sarcasm." in request["messages"][0]["content"]
    assert (request["max_tokens"], request["temperature"]) == (100, 0.2)

    result = await milo.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    changed = {key: value for key, value in options.items() if key != "name"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], changed | {"sarcasm": 3.0}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert milo.subentries[subentry.subentry_id].data["sarcasm"] == 3


@pytest.mark.slow
@pytest.mark.usefixtures("portrush", "cloud")
async def test_text_and_structured_tasks_with_the_real_milo_llm(
    hass: HomeAssistant,
    make_entry: Callable[..., MockConfigEntry],
    milo_llm: str,  # noqa: F811
) -> None:
    """The embedded model writes a text answer, and JSON held to a small schema."""
    entry = make_entry(subentries=[agent_subentry(), *spot_subentries()])
    await set_up_on(hass, entry, milo_llm)

    text = await generate(hass, f"Write a one-line notification about this surf: {SURF}")
    assert isinstance(text, str)
    assert text.strip()

    data = await generate(
        hass,
        f"Rate this surf as gnarly, mid or trash: {SURF}",
        {
            "rating": {
                "required": True,
                "selector": {"select": {"options": ["gnarly", "mid", "trash"]}},
            },
            "offshore": {"required": True, "selector": {"boolean": {}}},
        },
    )
    assert set(data) == {"rating", "offshore"}
    assert data["rating"] in ("gnarly", "mid", "trash")
    assert isinstance(data["offshore"], bool)
