"""Milo's tools in HA's Assist API (llm.py), for agents other than Milo: HA's LLM API as
every agent builds it, HA's llama.cpp agent against the scripted OpenAI-compatible server,
HA's Ollama agent against a scripted Ollama server, and an MCP client through HA's MCP
server."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.components import conversation
from homeassistant.const import CONF_LLM_HASS_API
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er, llm
from homeassistant.setup import async_setup_component
from mcp import types as mcp_types
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo.tools import IN_MILOS_WORDS

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import (  # noqa: F401 (fixtures)
    EAST_TODAY,
    ask,
    milo_satellite,
    speech,
    weather,
)
from .test_notes_search import write_notes

MILO_TOOLS = {
    "milo__get_surf_forecast",
    "milo__get_weather",
    "milo__look_at",
    "milo__nod",
    "milo__shake_head",
    "milo__look_around",
    "milo__search_notes",
}


def llm_context(platform: str = "ollama", device_id: str | None = None) -> llm.LLMContext:
    """What an agent of `platform` passes when it builds the Assist API."""
    return llm.LLMContext(
        platform=platform,
        context=Context(),
        language="en",
        assistant=conversation.DOMAIN,
        device_id=device_id,
    )


@pytest.fixture
def notes(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A notes folder in a fresh config dir."""
    hass.config.config_dir = str(tmp_path)
    return write_notes(Path(hass.config.path("milo_notes")))


@pytest.fixture
async def milo(
    hass: HomeAssistant,
    setup_entry,
    weather: str,  # noqa: F811
    notes: Path,
    milo_satellite: dict,  # noqa: F811
) -> dict:
    """Milo set up with spots, a weather entity, a satellite and notes: every tool."""
    assert await async_setup_component(hass, "intent", {})
    await setup_entry(
        subentries=[
            agent_subentry(
                sarcasm=3,
                weather_entity=weather,
                satellite_device=milo_satellite["device_id"],
                llm_hass_api=[llm.LLM_API_ASSIST],
            ),
            *spot_subentries(),
        ]
    )
    return milo_satellite


async def call(api: llm.APIInstance, name: str, **args: Any) -> dict[str, Any]:
    result = await api.async_call_tool(llm.ToolInput(tool_name=name, tool_args=args))
    assert not result.error, result.data
    return dict(result.data)


async def test_any_agent_gets_milos_tools_in_milos_words(hass: HomeAssistant, milo: dict) -> None:
    """Another agent's Assist API has Milo's tools, prefixed; the reports come in Milo's
    words as well as the data, the head moves, the notes are searched."""
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context())
    names = [tool.name for tool in api.tools]
    assert set(names) >= MILO_TOOLS
    assert len(names) == len(set(names))
    assert {t.integration for t in api.tools if t.name in MILO_TOOLS} == {"milo"}

    surf = await call(api, "milo__get_surf_forecast", spot="East Strand")
    assert surf[IN_MILOS_WORDS].startswith(EAST_TODAY + " ")
    assert len(surf[IN_MILOS_WORDS]) > len(EAST_TODAY) + 10  # the quip, at sarcasm 3
    assert surf["spots"][0]["rating"] == "gnarly"

    forecast = await call(api, "milo__get_weather", day="tomorrow")
    assert forecast[IN_MILOS_WORDS].startswith(forecast["summary"])

    assert await call(api, "milo__look_at", pan=-20, tilt=5) == {
        "done": True,
        "pan": -20.0,
        "tilt": 5.0,
    }
    assert [c.data for c in milo["look_at"]] == [{"pan": -20.0, "tilt": 5.0}]

    found = await call(api, "milo__search_notes", query="Ericeira")
    assert found["results"][0]["source"] == "trips/plans.txt"


async def test_the_milo_that_heard_the_request_moves(
    hass: HomeAssistant,
    setup_entry,
    milo_satellite: dict,  # noqa: F811
) -> None:
    """No satellite configured: a request from a Milo satellite gets its head; one from
    any other device, or typed, gets no head tools."""
    await setup_entry()
    heard = await llm.async_get_api(
        hass, llm.LLM_API_ASSIST, llm_context(device_id=milo_satellite["device_id"])
    )
    await call(heard, "milo__look_at", pan=30, tilt=0)
    assert [c.data for c in milo_satellite["look_at"]] == [{"pan": 30.0, "tilt": 0.0}]

    typed = await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context())
    assert "milo__look_at" not in [tool.name for tool in typed.tools]
    assert "milo__get_surf_forecast" in [tool.name for tool in typed.tools]


async def test_milos_own_agent_gets_its_tools_once(
    hass: HomeAssistant, milo: dict, cloud: FakeCloud
) -> None:
    """Milo's agent with the Assist API: its own tools, unprefixed, and not again as
    milo__ ones through Assist."""
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context(platform="milo"))
    assert not MILO_TOOLS & {tool.name for tool in api.tools}

    cloud.reply("Fine, I'm looking.")
    await ask(hass, "look left and nod your head")
    names = [t["function"]["name"] for t in cloud.chat_requests()[0]["tools"]]
    assert {"look_at", "nod"} <= set(names)
    assert not [name for name in names if name.startswith("milo__")]
    assert len(names) == len(set(names))


async def test_no_milo_entry_no_tools(hass: HomeAssistant, setup_entry) -> None:
    """Milo unloaded: the Assist API goes on without its tools."""
    entry = await setup_entry()
    assert await hass.config_entries.async_unload(entry.entry_id)
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context())
    assert not [tool.name for tool in api.tools if tool.name.startswith("milo__")]


async def _agent_of(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """Set up another integration's entry; its conversation entity's id."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == "conversation"
    )


async def test_llama_cpp_agent_asks_milo_for_the_surf(
    hass: HomeAssistant, milo: dict, cloud: FakeCloud
) -> None:
    """HA's llama.cpp agent, on the scripted OpenAI-compatible server with the Assist API,
    calls Milo's surf report and reads Milo's words in the result."""
    agent = await _agent_of(
        hass,
        MockConfigEntry(
            domain="llama_cpp",
            data={"base_url": cloud.base_url, "streaming": True},
            subentries_data=[
                {
                    "subentry_type": "conversation",
                    "title": "llama.cpp",
                    "unique_id": None,
                    "data": {
                        "recommended": True,
                        "chat_model": "local-model",
                        CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
                    },
                }
            ],
        ),
    )
    cloud.reply(tool_calls=[("milo__get_surf_forecast", {"spot": "East Strand"})])
    cloud.reply("Gnarly at nine. Go.")
    result = await conversation.async_converse(
        hass, "how's the surf at East Strand?", None, Context(), language="en", agent_id=agent
    )
    assert speech(result) == "Gnarly at nine. Go."
    first, second = cloud.chat_requests()
    assert {tool["function"]["name"] for tool in first["tools"]} >= MILO_TOOLS
    tool_result = json.loads(second["messages"][-1]["content"])
    assert tool_result["data"][IN_MILOS_WORDS].startswith(EAST_TODAY)


# --- HA's Ollama agent --------------------------------------------------------------------


class ScriptedOllama:
    """A local server speaking Ollama's API: answers from a script, records the requests."""

    def __init__(self) -> None:
        """Nothing scripted yet."""
        self.script: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/chat", self._chat)
        return app

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [{"model": "qwen3:4b", "name": "qwen3:4b"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        message = {"role": "assistant", "content": "", **self.script.pop(0)}
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for chunk in (
            {"message": message, "done": False},
            {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"},
        ):
            line = {"model": "qwen3:4b", "created_at": "2026-06-01T07:30:00Z", **chunk}
            await response.write(json.dumps(line).encode() + b"\n")
        await response.write_eof()
        return response


@pytest.fixture
async def ollama_server(socket_enabled: None) -> AsyncIterator[ScriptedOllama]:
    server = ScriptedOllama()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield server
    await runner.cleanup()


async def test_ollama_agent_asks_milo_for_the_surf(
    hass: HomeAssistant, milo: dict, ollama_server: ScriptedOllama
) -> None:
    """HA's Ollama agent, given the Assist API, sees Milo's tools, calls the surf report,
    and reads Milo's words in the result."""
    agent = await _agent_of(
        hass,
        MockConfigEntry(
            domain="ollama",
            version=3,
            minor_version=3,
            data={"url": ollama_server.url},
            subentries_data=[
                {
                    "subentry_type": "conversation",
                    "title": "Ollama Conversation",
                    "unique_id": None,
                    "data": {"model": "qwen3:4b", CONF_LLM_HASS_API: [llm.LLM_API_ASSIST]},
                }
            ],
        ),
    )
    ollama_server.script = [
        {
            "tool_calls": [
                {"function": {"name": "milo__get_surf_forecast", "arguments": {"spot": "East"}}}
            ]
        },
        {"content": "East Strand is gnarly at 9, go."},
    ]
    result = await conversation.async_converse(
        hass, "how's the surf at East Strand?", None, Context(), language="en", agent_id=agent
    )
    assert speech(result) == "East Strand is gnarly at 9, go."
    first, second = ollama_server.requests
    assert {tool["function"]["name"] for tool in first["tools"]} >= MILO_TOOLS
    tool_result = json.loads(second["messages"][-1]["content"])
    assert tool_result["error"] is False
    assert tool_result["data"][IN_MILOS_WORDS].startswith(EAST_TODAY)


# --- An MCP client through HA's MCP server -------------------------------------------------


async def test_mcp_client_lists_and_calls_milos_tools(
    hass: HomeAssistant, milo: dict, hass_client: Any
) -> None:
    """HA's MCP server (stateless streamable HTTP) serves the Assist API: Milo's tools are
    listed, with their annotations, and a call returns Milo's words."""
    entry = MockConfigEntry(
        domain="mcp_server",
        data={
            "all_llm_apis": False,
            CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
            "require_admin": True,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client()

    async def rpc(request_id: int, method: str, params: dict[str, Any]) -> Any:
        message = mcp_types.JSONRPCRequest(
            jsonrpc="2.0", id=request_id, method=method, params=params
        )
        response = await client.post(
            "/api/mcp",
            json=message.model_dump(by_alias=True, exclude_none=True),
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert response.status == 200, await response.text()
        return mcp_types.JSONRPCResponse.model_validate(await response.json()).result

    listed = mcp_types.ListToolsResult.model_validate(await rpc(1, "tools/list", {}))
    tools = {tool.name: tool for tool in listed.tools}
    assert tools.keys() >= MILO_TOOLS
    annotations = tools["milo__search_notes"].annotations
    assert annotations is not None
    assert annotations.readOnlyHint is True

    called = mcp_types.CallToolResult.model_validate(
        await rpc(2, "tools/call", {"name": "milo__get_surf_forecast", "arguments": {}})
    )
    assert not called.isError
    text = called.content[0]
    assert isinstance(text, mcp_types.TextContent)
    assert json.loads(text.text)[IN_MILOS_WORDS].startswith(EAST_TODAY)
