"""Milo's LLM tools (surf, weather, head, notes) and the per-message API that offers them.

Each message builds its own `MiloAPI`, because the tools depend on the agent's weather
entity and satellite, and on what was asked. It merges the HA LLM APIs the user picked (the
Assist API for device control) with Milo's tools, so HA's chat log runs every tool call the
same way, and offers only the tools the request points at, as many as the prompt budget
allows (see tool_choice.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.homeassistant.llm import async_get_exposed_entities
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, llm
import probatio

from .answers import surf_facts, weather_facts
from .const import DAYS, DOMAIN, LOGGER
from .fast_path import indoors
from .notes import without_area_line
from .notes_search import async_search_notes, has_notes
from .relevance import Device, devices
from .satellite_device import PAN_RANGE, TILT_RANGE, Satellite
from .surf import describe_days
from .tool_choice import Offer, choose
from .weather_report import async_weather_report, describe_weather

if TYPE_CHECKING:
    from .coordinator import SurfCoordinator


class MiloTool(llm.Tool):
    """A tool of this integration; validates its arguments before running."""

    integration = DOMAIN
    # Words that point at this tool beyond those of its name and description.
    keywords: tuple[str, ...] = ()

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        """Validate the arguments, then run the tool."""
        args = self.parameters(tool_input.tool_args)
        return llm.ToolResult(data=await self._async_run(args))

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


_DAY = probatio.In(DAYS)
# The result key of a report said as Milo would say it, for agents with no persona of their own.
IN_MILOS_WORDS = "in_milos_words"


class SurfForecastTool(MiloTool):
    """Surf report for a configured spot."""

    name = "get_surf_forecast"
    keywords: tuple[str, ...] = (
        "surf", "wave", "swell", "board", "beach", "sea", "ocean", "paddle", "strand",
    )  # fmt: skip
    annotations = llm.ToolAnnotations(read_only=True, destructive=False, idempotent=True)

    def __init__(self, coordinator: SurfCoordinator, sarcasm: int | None = None) -> None:
        """Describe the configured spots to the model; with a `sarcasm`, the result also
        says the report in Milo's words (for agents other than Milo)."""
        self._coordinator = coordinator
        self._sarcasm = sarcasm
        spots = ", ".join(spot.name for spot in coordinator.spots.values())
        self.keywords = (*self.keywords, spots)
        self.description = (
            f"Get the surf forecast and rating (gnarly, mid or trash). Spots: {spots}. "
            "Leave spot empty for all spots."
        )
        self.parameters = probatio.Schema(
            {
                probatio.Optional("spot"): cv.string,
                probatio.Optional("day", default="today"): _DAY,
            }
        )

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        reports = await self._coordinator.async_reports(args.get("spot"), args["day"])
        result: dict[str, Any] = {"summary": describe_days(reports), "spots": reports}
        if self._sarcasm is not None:
            result[IN_MILOS_WORDS] = surf_facts(reports, self._sarcasm).answer
        return result


class WeatherTool(MiloTool):
    """Weather from the agent's weather entity."""

    name = "get_weather"
    description = "Get the weather now and the forecast for today or tomorrow."
    keywords = (
        "weather", "forecast", "rain", "umbrella", "sun", "sunny", "sunscreen", "cloud",
        "wind", "snow", "cold", "warm", "hot", "temperature", "jacket", "coat",
    )  # fmt: skip
    annotations = llm.ToolAnnotations(read_only=True, destructive=False, idempotent=True)
    parameters = probatio.Schema({probatio.Optional("day", default="today"): _DAY})

    def __init__(self, hass: HomeAssistant, entity_id: str, sarcasm: int | None = None) -> None:
        """Use this weather entity; with a `sarcasm`, say it in Milo's words too."""
        self._hass = hass
        self._entity_id = entity_id
        self._sarcasm = sarcasm

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        report = await async_weather_report(self._hass, self._entity_id, args["day"])
        result: dict[str, Any] = {"summary": describe_weather(report), "weather": report}
        if self._sarcasm is not None:
            result[IN_MILOS_WORDS] = weather_facts(report, self._sarcasm).answer
        return result


class SearchNotesTool(MiloTool):
    """Search the user's notes folder and to-do lists (notes_search.py)."""

    name = "search_notes"
    description = (
        "Search the user's own notes and to-do lists. Returns the passages nearest to "
        "the query, each with the file or list it is from."
    )
    keywords = ("note", "notes", "wrote", "write", "written", "jot", "file", "remember")
    annotations = llm.ToolAnnotations(
        read_only=True, destructive=False, idempotent=True, open_world=False
    )
    parameters = probatio.Schema({probatio.Required("query"): cv.string})

    def __init__(self, hass: HomeAssistant) -> None:
        """Search this home's notes."""
        self._hass = hass

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        hits = await async_search_notes(self._hass, args["query"])
        return {"results": [hit.as_dict() for hit in hits]}


class HeadTool(MiloTool):
    """Base for tools that move the satellite's head."""

    annotations = llm.ToolAnnotations(destructive=False, open_world=False)

    def __init__(self, satellite: Satellite) -> None:
        """Drive this satellite."""
        self._satellite = satellite


class LookAtTool(HeadTool):
    """Point the head."""

    name = "look_at"
    keywords = ("look", "head", "face", "eye", "see", "watch", "left", "right")
    description = (
        "Turn your head. pan: degrees, negative is left, positive is right; "
        "tilt: degrees, negative is down, positive is up; 0, 0 looks straight ahead."
    )
    parameters = probatio.Schema(
        {
            probatio.Required("pan"): probatio.All(
                probatio.Coerce(float), probatio.Clamp(min=PAN_RANGE[0], max=PAN_RANGE[1])
            ),
            probatio.Required("tilt"): probatio.All(
                probatio.Coerce(float), probatio.Clamp(min=TILT_RANGE[0], max=TILT_RANGE[1])
            ),
        }
    )

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        await self._satellite.async_look_at(args["pan"], args["tilt"])
        return {"done": True, "pan": args["pan"], "tilt": args["tilt"]}


class GestureTool(HeadTool):
    """Nod or shake the head."""

    parameters = probatio.Schema({})

    def __init__(
        self, satellite: Satellite, name: str, gesture: str, description: str, keyword: str
    ) -> None:
        """Bind the tool to one gesture."""
        super().__init__(satellite)
        self.name = name
        self.description = description
        self.keywords = ("head", keyword)
        self._gesture = gesture

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        await self._satellite.async_gesture(self._gesture)
        return {"done": True}


class LookAroundTool(HeadTool):
    """Switch the idle look-around on or off."""

    name = "look_around"
    keywords = ("look", "head", "room")
    description = "Start (on=true) or stop (on=false) looking around the room."
    parameters = probatio.Schema({probatio.Optional("on", default=True): cv.boolean})

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        await self._satellite.async_look_around(args["on"])
        return {"done": True, "looking_around": args["on"]}


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What one agent's tools work with."""

    coordinator: SurfCoordinator | None
    weather_entity: str | None
    satellite: Satellite | None
    # Extra system prompt lines that change per message, like who the camera sees.
    situation: str = ""
    # The area the request was heard in (origin.py): its devices come first when named.
    area: str | None = None
    # Set for agents other than Milo: reports also come in Milo's words, at this sarcasm.
    sarcasm: int | None = None


def milo_tools(hass: HomeAssistant, context: ToolContext) -> list[llm.Tool]:
    """The tools this agent can offer, given what it is configured with."""
    tools: list[llm.Tool] = []
    if context.coordinator is not None and context.coordinator.spots:
        tools.append(SurfForecastTool(context.coordinator, context.sarcasm))
    if context.weather_entity:
        tools.append(WeatherTool(hass, context.weather_entity, context.sarcasm))
    if satellite := context.satellite:
        tools += [
            LookAtTool(satellite),
            GestureTool(satellite, "nod", "nod", "Nod your head, to agree.", "agree"),
            GestureTool(
                satellite, "shake_head", "shake", "Shake your head, to disagree.", "disagree"
            ),
            LookAroundTool(satellite),
        ]
    if has_notes(hass):
        tools.append(SearchNotesTool(hass))
    return tools


def format_tool(tool: llm.Tool, serializer: Callable[[Any], Any] | None) -> dict[str, Any]:
    """An HA tool in the OpenAI `tools` format."""
    function: dict[str, Any] = {
        "name": tool.name,
        "parameters": probatio.to_openapi(
            tool.parameters, custom_serializer=serializer, openapi_version="3.1.0"
        ),
    }
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


class MiloAPI(llm.API):
    """The tools for one message: Milo's and the chosen HA APIs', those the request needs."""

    def __init__(
        self,
        hass: HomeAssistant,
        hass_api_ids: list[str],
        context: ToolContext,
        request: str,
        allowance: int,
    ) -> None:
        """Set up for one message: its text, and the prompt tokens tools may use."""
        super().__init__(hass=hass, id=DOMAIN, name="Milo")
        self._hass_api_ids = hass_api_ids
        self._context = context
        self._request = request
        self._allowance = allowance

    @override
    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        """Return the relevant tools, and HA's device prompt if a device tool is among them."""
        tools = milo_tools(self.hass, self._context)
        if indoors(self._request):
            # "How warm is the bedroom": a sensor or the thermostat (Assist), not the forecast.
            tools = [tool for tool in tools if not isinstance(tool, WeatherTool)]
        device_prompt = ""
        known: list[Device] = []
        serializer: Callable[[Any], Any] = llm.selector_serializer
        if self._hass_api_ids:
            hass_api = await llm.async_get_api(self.hass, self._hass_api_ids, llm_context)
            # The note says the room (origin.py): the system prompt stays the same everywhere.
            device_prompt = without_area_line(hass_api.api_prompt)
            tools = [*hass_api.tools, *tools]
            serializer = hass_api.custom_serializer or serializer
            if llm.LLM_API_ASSIST in self._hass_api_ids:
                known = devices(
                    async_get_exposed_entities(
                        self.hass, llm_context.assistant, include_state=False
                    )
                )
        specs = [format_tool(tool, serializer) for tool in tools]
        choice = choose(
            self._request,
            [
                Offer(spec, getattr(tool, "keywords", ()), not isinstance(tool, MiloTool))
                for tool, spec in zip(tools, specs, strict=True)
            ],
            known,
            self._allowance,
            device_prompt=device_prompt,
            area=self._context.area,
        )
        chosen = [tools[index] for index in choice.chosen]
        LOGGER.debug(
            "Tools for %r: %s of %d (%d prompt tokens allowed)",
            self._request,
            [tool.name for tool in chosen],
            len(tools),
            self._allowance,
        )
        return llm.APIInstance(
            api=self,
            api_prompt=choice.prompt,
            llm_context=llm_context,
            tools=chosen,
            custom_serializer=serializer,
        )
