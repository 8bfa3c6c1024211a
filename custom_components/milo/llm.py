"""Milo's tools in Home Assistant's Assist API, for any conversation agent.

HA asks every loaded integration's `llm` platform for tools when an agent builds the Assist
API: HA's OpenAI, Ollama or llama.cpp agents, or an MCP client through HA's MCP server.
Milo offers the same tools its own agent has (tools.py): the surf and weather reports,
here with Milo's words in the result, the head, and the notes search; named `milo__...`,
as HA asks. Milo's own agent gets them from its own API, behind its fast path, so none here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.llm import LLMTools
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import llm

from .const import (
    CONF_SARCASM,
    CONF_SATELLITE_DEVICE,
    CONF_WEATHER_ENTITY,
    DEFAULT_SARCASM,
    DOMAIN,
    SUBENTRY_CONVERSATION,
)
from .data import MiloConfigEntry
from .origin import async_origin
from .tools import ToolContext, milo_tools
from .weather_report import home_weather_entity


@callback
def async_get_tools(
    hass: HomeAssistant, llm_context: llm.LLMContext, api_id: str
) -> LLMTools | None:
    """Milo's tools for the Assist API of an agent other than Milo's own."""
    if api_id != llm.LLM_API_ASSIST or llm_context.platform == DOMAIN:
        return None
    entries: list[MiloConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    if not entries:
        return None
    # One Milo per home is the usual case; the first entry's spots and first agent's
    # options (weather entity, satellite, sarcasm) serve everyone else's agents.
    entry = entries[0]
    agent: Mapping[str, Any] = next(
        (s.data for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CONVERSATION),
        {},
    )
    context = ToolContext(
        coordinator=entry.runtime_data.surf,
        weather_entity=agent.get(CONF_WEATHER_ENTITY) or home_weather_entity(hass),
        # The Milo that heard the request; a typed chat's, the agent's configured one.
        satellite=async_origin(
            hass, device_id=llm_context.device_id, fallback=agent.get(CONF_SATELLITE_DEVICE)
        ).satellite,
        sarcasm=int(agent.get(CONF_SARCASM, DEFAULT_SARCASM)),
    )
    return LLMTools(tools=[llm.NamespacedTool(DOMAIN, tool) for tool in milo_tools(hass, context)])
