"""Weather facts from the agent's weather entity, through HA's `weather.get_forecasts`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .spoken import number

# Attributes of the weather entity worth saying out loud about "now".
CURRENT_ATTRIBUTES = ("temperature", "apparent_temperature", "humidity", "wind_speed")


async def async_weather_report(hass: HomeAssistant, entity_id: str, day: str) -> dict[str, Any]:
    """Return today's or tomorrow's weather for `entity_id` as plain data."""
    state = hass.states.get(entity_id)
    if state is None or state.state in ("unavailable", "unknown"):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="weather_unavailable",
            translation_placeholders={"entity_id": entity_id},
        )
    try:
        response = await hass.services.async_call(
            "weather",
            "get_forecasts",
            {"type": "daily"},
            target={"entity_id": entity_id},
            blocking=True,
            return_response=True,
        )
    except HomeAssistantError:
        response = None  # no daily forecast support: "now" still works
    forecast: list[dict[str, Any]] = []
    if isinstance(response, dict) and isinstance(result := response.get(entity_id), dict):
        forecast = cast(list[dict[str, Any]], result.get("forecast") or [])

    attrs = state.attributes
    report: dict[str, Any] = {
        "day": day,
        "temperature_unit": attrs.get("temperature_unit"),
        "wind_speed_unit": attrs.get("wind_speed_unit"),
    }
    if day == "today":
        report["now"] = {"condition": state.state} | {
            key: attrs[key] for key in CURRENT_ATTRIBUTES if attrs.get(key) is not None
        }
    target = dt_util.now().date() + timedelta(days=1 if day == "tomorrow" else 0)
    for entry in forecast:
        when = dt_util.parse_datetime(str(entry.get("datetime", "")))
        if isinstance(when, datetime) and dt_util.as_local(when).date() == target:
            report["forecast"] = {
                key: entry[key]
                for key in ("condition", "temperature", "templow", "precipitation_probability",
                            "precipitation", "wind_speed")
                if entry.get(key) is not None
            }  # fmt: skip
            break
    return report


def describe_weather(report: dict[str, Any]) -> str:
    """Plain-English weather facts; the LLM (or a template) adds the attitude."""
    temp_unit = report.get("temperature_unit") or ""
    wind_unit = report.get("wind_speed_unit") or ""
    parts: list[str] = []
    if now := report.get("now"):
        text = f"Right now it is {_condition(now['condition'])}"
        if "temperature" in now:
            text += f" and {number(now['temperature'])}{temp_unit}"
        if "wind_speed" in now:
            text += f", wind {number(now['wind_speed'])} {wind_unit}"
        parts.append(text + ".")
    if forecast := report.get("forecast"):
        text = f"{report['day'].capitalize()}: {_condition(forecast.get('condition', ''))}"
        if "temperature" in forecast:
            text += f", high {number(forecast['temperature'])}{temp_unit}"
        if "templow" in forecast:
            text += f", low {number(forecast['templow'])}{temp_unit}"
        if "precipitation_probability" in forecast:
            text += f", {forecast['precipitation_probability']}% chance of rain"
        parts.append(text + ".")
    if not parts:
        return f"There is no weather forecast for {report['day']}."
    return " ".join(parts)


def _condition(condition: str) -> str:
    return condition.replace("partlycloudy", "partly cloudy").replace("-", " ") or "unknown"
