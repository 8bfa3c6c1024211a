"""Milo's LLM tools (surf, weather, head) and the per-agent API that offers them.

Each conversation agent builds its own `MiloAPI`, because the tools depend on the agent's
weather entity and satellite. It merges the HA LLM APIs the user picked (the Assist API for
device control) with Milo's tools, so HA's chat log runs every tool call the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, override

from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, llm
import probatio

from .const import DAYS, DOMAIN
from .satellite import PAN_RANGE, TILT_RANGE, Satellite
from .surf import describe_days
from .weather import async_weather_report, describe_weather

if TYPE_CHECKING:
    from .coordinator import SurfCoordinator


class MiloTool(llm.Tool):
    """A tool of this integration; validates its arguments before running."""

    integration = DOMAIN

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


class SurfForecastTool(MiloTool):
    """Surf report for a configured spot."""

    name = "get_surf_forecast"
    annotations = llm.ToolAnnotations(read_only=True, destructive=False, idempotent=True)

    def __init__(self, coordinator: SurfCoordinator) -> None:
        """Describe the configured spots to the model."""
        self._coordinator = coordinator
        spots = ", ".join(spot.name for spot in coordinator.spots.values())
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
        return {"summary": describe_days(reports), "spots": reports}


class WeatherTool(MiloTool):
    """Weather from the agent's weather entity."""

    name = "get_weather"
    description = "Get the weather now and the forecast for today or tomorrow."
    annotations = llm.ToolAnnotations(read_only=True, destructive=False, idempotent=True)
    parameters = probatio.Schema({probatio.Optional("day", default="today"): _DAY})

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        """Use this weather entity."""
        self._hass = hass
        self._entity_id = entity_id

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        report = await async_weather_report(self._hass, self._entity_id, args["day"])
        return {"summary": describe_weather(report), "weather": report}


class HeadTool(MiloTool):
    """Base for tools that move the satellite's head."""

    annotations = llm.ToolAnnotations(destructive=False, open_world=False)

    def __init__(self, satellite: Satellite) -> None:
        """Drive this satellite."""
        self._satellite = satellite


class LookAtTool(HeadTool):
    """Point the head."""

    name = "look_at"
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

    def __init__(self, satellite: Satellite, name: str, gesture: str, description: str) -> None:
        """Bind the tool to one gesture."""
        super().__init__(satellite)
        self.name = name
        self.description = description
        self._gesture = gesture

    async def _async_run(self, args: dict[str, Any]) -> dict[str, Any]:
        await self._satellite.async_gesture(self._gesture)
        return {"done": True}


class LookAroundTool(HeadTool):
    """Switch the idle look-around on or off."""

    name = "look_around"
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


def milo_tools(hass: HomeAssistant, context: ToolContext) -> list[llm.Tool]:
    """The tools this agent can offer, given what it is configured with."""
    tools: list[llm.Tool] = []
    if context.coordinator is not None and context.coordinator.spots:
        tools.append(SurfForecastTool(context.coordinator))
    if context.weather_entity:
        tools.append(WeatherTool(hass, context.weather_entity))
    if satellite := context.satellite:
        tools += [
            LookAtTool(satellite),
            GestureTool(satellite, "nod", "nod", "Nod your head, to agree."),
            GestureTool(satellite, "shake_head", "shake", "Shake your head, to disagree."),
            LookAroundTool(satellite),
        ]
    return tools


class MiloAPI(llm.API):
    """The tools of one Milo agent, merged with the HA LLM APIs it may use."""

    def __init__(self, hass: HomeAssistant, hass_api_ids: list[str], context: ToolContext) -> None:
        """Set up for one message."""
        super().__init__(hass=hass, id=DOMAIN, name="Milo")
        self._hass_api_ids = hass_api_ids
        self._context = context

    @override
    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        """Return Milo's tools plus those of the chosen HA APIs."""
        tools = milo_tools(self.hass, self._context)
        prompt_parts = []
        serializer: Callable[[Any], Any] = llm.selector_serializer
        if self._hass_api_ids:
            hass_api = await llm.async_get_api(self.hass, self._hass_api_ids, llm_context)
            prompt_parts.append(hass_api.api_prompt)
            tools = [*hass_api.tools, *tools]
            serializer = hass_api.custom_serializer or serializer
        if self._context.situation:
            prompt_parts.append(self._context.situation)
        return llm.APIInstance(
            api=self,
            api_prompt="\n".join(prompt_parts),
            llm_context=llm_context,
            tools=tools,
            custom_serializer=serializer,
        )
