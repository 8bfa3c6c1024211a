"""Weather facts from a weather entity, through HA's `weather.get_forecasts`.

The report (tool results, the chat log) carries everything the entity offers; what Milo
says is two sentences, like the original robot's answer: the condition now and later in
the day, then high and low, chance and kind of rain, wind, "sticky" above 65 % humidity
and the hours of sunshine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, cast

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .spoken import number

# Attributes of the weather entity worth saying out loud about "now".
CURRENT_ATTRIBUTES = (
    "temperature",
    "apparent_temperature",
    "humidity",
    "wind_speed",
    "wind_bearing",
)
DAILY_KEYS = (
    "condition", "temperature", "templow", "precipitation_probability", "precipitation",
    "wind_speed", "wind_bearing", "humidity",
)  # fmt: skip
# Parts of the day as the original said them, with their local hours [start, end).
PERIODS = {"morning": (6, 11), "midday": (11, 15), "evening": (17, 21)}
PERIOD_PHRASES = {
    "today": {"morning": "this morning", "midday": "by midday", "evening": "this evening"},
    "tomorrow": {"morning": "morning", "midday": "midday", "evening": "evening"},
}
# The original's "sticky" warning.
STICKY_ABOVE = 65
# Hourly sunshine: a sunny hour counts whole, a partly cloudy one half.
SUNSHINE_SHARE = {"sunny": 1.0, "partlycloudy": 0.5}
# Rain amounts for a day (mm) from which it is called rain or heavy rain, not light rain.
RAIN_MM, HEAVY_RAIN_MM = 2.5, 10.0
# At most this many rainy hours in a day are showers, not rain.
SHOWER_HOURS = 4
CONDITION_WORDS = {
    "partlycloudy": "partly cloudy",
    "clear-night": "clear",
    "lightning": "stormy",
    "lightning-rainy": "stormy",
    "pouring": "pouring",
    "snowy-rainy": "sleety",
    "windy-variant": "windy and cloudy",
    "exceptional": "wild",
}
RAIN_KINDS = {
    "lightning-rainy": "thunderstorms",
    "lightning": "thunderstorms",
    "hail": "hail",
    "snowy-rainy": "sleet",
    "snowy": "snow",
    "pouring": "heavy rain",
}
WIND_FROM = (
    "northerly", "north-easterly", "easterly", "south-easterly",
    "southerly", "south-westerly", "westerly", "north-westerly",
)  # fmt: skip
# Onboarding's home forecast: a met.no entry that follows the home's location.
MET_DOMAIN = "met"


def home_weather_entity(hass: HomeAssistant) -> str | None:
    """The home's forecast, for an agent with no weather entity chosen.

    Onboarding creates met.no's home forecast (`weather.forecast_home`); failing that, the
    first weather entity.
    """
    entity_ids = sorted(hass.states.async_entity_ids("weather"))
    registry = er.async_get(hass)
    for entity_id in entity_ids:
        entry = registry.async_get(entity_id)
        if entry is None or entry.platform != MET_DOMAIN or not entry.config_entry_id:
            continue
        config = hass.config_entries.async_get_entry(entry.config_entry_id)
        if config is not None and config.data.get("track_home"):
            return entity_id
    return entity_ids[0] if entity_ids else None


async def async_weather_report(hass: HomeAssistant, entity_id: str, day: str) -> dict[str, Any]:
    """Return today's or tomorrow's weather for `entity_id` as plain data."""
    state = hass.states.get(entity_id)
    if state is None or state.state in ("unavailable", "unknown"):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="weather_unavailable",
            translation_placeholders={"entity_id": entity_id},
        )
    daily, hourly = await asyncio.gather(
        _async_forecast(hass, entity_id, "daily"), _async_forecast(hass, entity_id, "hourly")
    )
    attrs = state.attributes
    report: dict[str, Any] = {
        "entity_id": entity_id,
        "day": day,
        "temperature_unit": attrs.get("temperature_unit"),
        "wind_speed_unit": attrs.get("wind_speed_unit"),
        "precipitation_unit": attrs.get("precipitation_unit"),
    }
    if day == "today":
        report["now"] = {"condition": state.state} | {
            key: attrs[key] for key in CURRENT_ATTRIBUTES if attrs.get(key) is not None
        }
    now = dt_util.now()
    target = now.date() + timedelta(days=1 if day == "tomorrow" else 0)
    for entry in daily:
        if _local_date(entry) == target:
            report["forecast"] = {k: entry[k] for k in DAILY_KEYS if entry.get(k) is not None}
            break
    hours = [entry for entry in hourly if _local_date(entry) == target]
    if hours:
        report |= _from_hours(hours, now if day == "today" else None)
    report |= _rain_and_humidity(report, hours)
    return report


async def _async_forecast(hass: HomeAssistant, entity_id: str, kind: str) -> list[dict[str, Any]]:
    """One kind of forecast; empty when the entity does not offer it."""
    try:
        response = await hass.services.async_call(
            "weather",
            "get_forecasts",
            {"type": kind},
            target={"entity_id": entity_id},
            blocking=True,
            return_response=True,
        )
    except HomeAssistantError:
        return []  # this kind is not supported: the rest still works
    if isinstance(response, dict) and isinstance(result := response.get(entity_id), dict):
        return cast(list[dict[str, Any]], result.get("forecast") or [])
    return []


def _local_date(entry: Mapping[str, Any]) -> date | None:
    when = dt_util.parse_datetime(str(entry.get("datetime", "")))
    return dt_util.as_local(when).date() if isinstance(when, datetime) else None


def _hour(entry: Mapping[str, Any]) -> int:
    when = dt_util.parse_datetime(str(entry["datetime"]))
    assert when is not None  # only entries with a date get here
    return dt_util.as_local(when).hour


def _from_hours(hours: list[dict[str, Any]], now: datetime | None) -> dict[str, Any]:
    """Morning, midday and evening (today: those still to come), and the sunshine hours."""
    periods: dict[str, dict[str, Any]] = {}
    for name, (start, end) in PERIODS.items():
        if now is not None and start <= now.hour:
            continue  # today: "now" already covers it
        inside = [h for h in hours if start <= _hour(h) < end and h.get("condition")]
        if inside:
            temperatures = [h["temperature"] for h in inside if h.get("temperature") is not None]
            periods[name] = {
                "condition": Counter(h["condition"] for h in inside).most_common(1)[0][0]
            } | ({"temperature": max(temperatures)} if temperatures else {})
    ahead = [h for h in hours if now is None or _hour(h) >= now.hour]
    sunshine = sum(SUNSHINE_SHARE.get(h.get("condition", ""), 0.0) for h in ahead)
    return {"periods": periods, "sunshine_hours": round(sunshine)}


def _rain_and_humidity(report: Mapping[str, Any], hours: list[dict[str, Any]]) -> dict[str, Any]:
    """The chance and kind of rain, the humidity and whether that is sticky."""
    forecast = report.get("forecast", {})
    out: dict[str, Any] = {}
    chances = [h["precipitation_probability"] for h in hours if "precipitation_probability" in h]
    if (chance := forecast.get("precipitation_probability")) is None and chances:
        chance = max(chances)
    if chance is not None:
        out["rain_chance"] = chance
    conditions = [forecast.get("condition"), report.get("now", {}).get("condition")]
    conditions += [h.get("condition") for h in hours]
    kind = next((RAIN_KINDS[c] for c in conditions if c in RAIN_KINDS), None)
    if kind is None:
        amount = forecast.get("precipitation")
        if amount is None and hours:
            amount = sum(h.get("precipitation") or 0 for h in hours)
        if amount is not None and report.get("precipitation_unit") == "in":
            amount *= 25.4
        wet_hours = sum(1 for h in hours if (h.get("precipitation") or 0) > 0)
        if 0 < wet_hours <= SHOWER_HOURS:
            kind = "showers"
        elif amount is not None and amount >= HEAVY_RAIN_MM:
            kind = "heavy rain"
        elif amount is not None and 0 < amount < RAIN_MM:
            kind = "light rain"
        else:
            kind = "rain"
    out["rain_kind"] = kind
    humidity = report.get("now", {}).get("humidity", forecast.get("humidity"))
    if humidity is None and (values := [h["humidity"] for h in hours if "humidity" in h]):
        humidity = sum(values) / len(values)
    if humidity is not None:
        out["humidity"] = round(humidity)
        out["sticky"] = humidity > STICKY_ABOVE
    return out


def describe_weather(report: Mapping[str, Any]) -> str:
    """The weather in at most two spoken sentences: the sky now and later, then figures."""
    temp_unit = report.get("temperature_unit") or ""
    day = report["day"]
    forecast = report.get("forecast", {})
    periods: dict[str, dict[str, Any]] = report.get("periods", {})
    sky = ""
    if now := report.get("now"):
        sky = condition_words(now["condition"]).capitalize()
        if "temperature" in now:
            sky += f" and {number(now['temperature'])}{temp_unit}"
        sky += " now"
        later, last = [], now["condition"]
        for name, period in periods.items():
            if period["condition"] != last:
                later.append(f"{condition_words(period['condition'])} {PERIOD_PHRASES[day][name]}")
                last = period["condition"]
        if later:
            sky += ", " + ", then ".join(later)
        elif "condition" in forecast and forecast["condition"] != now["condition"] and not periods:
            sky += f"; {day} {condition_words(forecast['condition'])} overall"
    elif periods:
        sky = f"{day.capitalize()}: {_day_parts(periods, day)}"
    elif "condition" in forecast:
        sky = f"{day.capitalize()}: {condition_words(forecast['condition'])}"
    figures = _figures(report, temp_unit)
    if not sky and not figures:
        return f"There is no weather forecast for {day}."
    return " ".join(f"{text}." for text in (sky, figures) if text)


def recap_weather(report: Mapping[str, Any]) -> str:
    """The gist of a report said in the latest turns, in other words: the sky, then the
    chance of rain ("Still rainy, as I said: 70% chance of showers.")."""
    sky = condition_words(main_condition(report) or "unknown")
    head = f"Still {sky}" if "now" in report else f"{report['day'].capitalize()} {sky}"
    if "rain_chance" not in report:
        return f"{head}, as I said."
    return f"{head}, as I said: {number(report['rain_chance'])}% chance of {report['rain_kind']}."


def main_condition(report: Mapping[str, Any]) -> str | None:
    """The weather a report is mostly about: now for today, the day's forecast for
    tomorrow, else its most common part of the day."""
    if "now" in report:
        return str(report["now"]["condition"])
    if condition := report.get("forecast", {}).get("condition"):
        return str(condition)
    periods = [p["condition"] for p in report.get("periods", {}).values()]
    return max(periods, key=periods.count) if periods else None


def _day_parts(periods: Mapping[str, Mapping[str, Any]], day: str) -> str:
    """'rainy morning and midday, sunny evening', or 'rainy all day'."""
    if len(periods) == len(PERIODS) and len({p["condition"] for p in periods.values()}) == 1:
        return f"{condition_words(next(iter(periods.values()))['condition'])} all day"
    groups: list[tuple[str, list[str]]] = []
    for name, period in periods.items():
        if groups and groups[-1][0] == period["condition"]:
            groups[-1][1].append(PERIOD_PHRASES[day][name])
        else:
            groups.append((period["condition"], [PERIOD_PHRASES[day][name]]))
    return ", ".join(f"{condition_words(c)} {' and '.join(when)}" for c, when in groups)


def _figures(report: Mapping[str, Any], temp_unit: str) -> str:
    """High and low, rain, wind, sticky, sunshine: the second sentence."""
    forecast = report.get("forecast", {})
    parts: list[str] = []
    if "temperature" in forecast:
        parts.append(f"High {number(forecast['temperature'])}{temp_unit}")
    if "templow" in forecast:
        parts.append(f"low {number(forecast['templow'])}{temp_unit}")
    if "rain_chance" in report:
        parts.append(f"{number(report['rain_chance'])}% chance of {report['rain_kind']}")
    wind = report["now"] if "wind_speed" in report.get("now", {}) else forecast
    if "wind_speed" in wind:
        text = f"wind {number(round(wind['wind_speed']))} {report.get('wind_speed_unit') or ''}"
        if "wind_bearing" in wind and isinstance(wind["wind_bearing"], int | float):
            text = f"{WIND_FROM[round(wind['wind_bearing'] % 360 / 45) % 8]} {text}"
        parts.append(text.strip())
    if report.get("sticky"):
        parts.append("sticky")
    if hours := report.get("sunshine_hours"):
        more = " more" if "now" in report else ""
        parts.append(f"{hours}{more} sunny hour{'s' if hours != 1 else ''}")
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def condition_words(condition: str) -> str:
    """A weather condition as it is said ("partlycloudy": "partly cloudy")."""
    return CONDITION_WORDS.get(condition, condition.replace("-", " ")) or "unknown"
