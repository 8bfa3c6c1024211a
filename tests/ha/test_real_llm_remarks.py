"""The real embedded model's remarks after surf and weather facts agree with the forecast."""

from __future__ import annotations

import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo import persona
from custom_components.milo.answers import surf_brief
from custom_components.milo.weather_report import async_weather_report, describe_weather

from .conftest import agent_subentry, spot_subentries
from .test_conversation import ask, speech
from .test_real_llm import milo_llm, set_up_on  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

SKY = "sensor.test_sky"
# A weather entity that shows whatever the test puts in SKY's attributes.
TEMPLATE_WEATHER = {
    "template": [
        {
            "weather": [
                {
                    "name": "Test sky",
                    "condition": f"{{{{ state_attr('{SKY}', 'condition') }}}}",
                    "temperature": f"{{{{ state_attr('{SKY}', 'temperature') }}}}",
                    "humidity": f"{{{{ state_attr('{SKY}', 'humidity') }}}}",
                    "wind_speed": f"{{{{ state_attr('{SKY}', 'wind_speed') }}}}",
                    "temperature_unit": "°C",
                    "wind_speed_unit": "km/h",
                    "forecast_daily": f"{{{{ state_attr('{SKY}', 'daily') }}}}",
                }
            ]
        }
    ]
}
RAIN = {"rain", "rainy", "raining", "shower", "showers", "drizzle", "umbrella", "downpour"}
SUN = {"sun", "sunny", "sunshine", "sunscreen", "sunglasses"}
HEAT = {"hot", "warm", "scorching", "boiling", "heatwave", "balmy"}
COLD = {"cold", "freezing", "chilly", "icy", "frosty"}
# Forecasts, and the words a remark about each must not use.
WEATHER_TABLE = [
    ("partlycloudy", 15, 20, 12, RAIN | HEAT | COLD | {"snow", "windy", "gale"}),
    ("pouring", 9, 90, 40, SUN | HEAT | {"dry", "calm", "snow"}),
    ("sunny", 27, 0, 8, RAIN | COLD | {"snow", "cloudy", "grey", "windy", "gale"}),
    ("snowy", -1, 70, 15, SUN | HEAT | {"windy", "gale"}),
]
QUESTIONS = ("What's the weather like today?", "Will it rain today?")


def _remark(answer: str, facts: str) -> str:
    """What followed the facts line: there is one, in character, with no number."""
    assert answer.startswith(facts), answer
    remark = answer[len(facts) :].strip()
    assert remark, answer
    assert persona.OFFLINE_SENTENCE not in remark, answer
    assert not re.search(r"\d", remark), answer
    return remark


def _words(text: str) -> set[str]:
    """The words a remark claims. One plainly negated ("will not rain" on a dry day) says
    the opposite, which agrees (agreement.py reads plain negation too), so it is left out."""
    said = re.findall(r"[a-z']+", text.casefold())
    return {
        word
        for i, word in enumerate(said)
        if not any(
            w in {"no", "not", "never"} or w.endswith("n't") for w in said[max(0, i - 2) : i]
        )
    }


async def _setup(hass: HomeAssistant, make_entry, url: str, **options: Any) -> MockConfigEntry:
    entry = make_entry(subentries=[agent_subentry(**options), *spot_subentries()])
    await set_up_on(hass, entry, url)
    return entry


@pytest.mark.usefixtures("portrush", "cloud")
async def test_weather_remarks_agree_with_the_forecast(
    hass: HomeAssistant,
    make_entry,
    milo_llm: str,  # noqa: F811
) -> None:
    """Over a table of forecasts, nothing the model adds says rain on a dry day, sun in a
    downpour, heat in the snow or any number."""
    hass.states.async_set(SKY, "on", {"condition": "sunny"})
    assert await async_setup_component(hass, "template", TEMPLATE_WEATHER)
    await hass.async_block_till_done()
    await _setup(hass, make_entry, milo_llm, weather_entity="weather.test_sky")
    for condition, temperature, rain, wind, forbidden in WEATHER_TABLE:
        daily = [
            {
                "datetime": "2026-06-01T12:00:00+01:00",
                "condition": condition,
                "temperature": temperature,
                "templow": temperature - 5,
                "precipitation_probability": rain,
            }
        ]
        hass.states.async_set(
            SKY,
            condition,
            {"condition": condition, "temperature": temperature, "humidity": 60,
             "wind_speed": wind, "daily": daily},
        )  # fmt: skip
        await hass.async_block_till_done()
        facts = describe_weather(await async_weather_report(hass, "weather.test_sky", "today"))
        for question in QUESTIONS:
            remark = _remark(speech(await ask(hass, question)), facts)
            assert not _words(remark) & forbidden, (facts, remark)


@pytest.mark.usefixtures("portrush", "cloud")
async def test_surf_remarks_agree_with_the_rating(
    hass: HomeAssistant,
    make_entry,
    milo_llm: str,  # noqa: F811
) -> None:
    """Gnarly East Strand is never called trash or flat, trash West Strand never pumping."""
    entry = await _setup(hass, make_entry, milo_llm)
    table = [
        ("East Strand", {"trash", "mid", "flat", "rubbish", "mush"}),
        ("West Strand", {"gnarly", "mid", "pumping", "epic", "firing"}),
    ]
    for spot, forbidden in table:
        reports = await entry.runtime_data.surf.async_reports(spot, "today")
        facts = surf_brief(reports)
        for question in (f"How's the surf at {spot} today?", f"Is {spot} any good today?"):
            remark = _remark(speech(await ask(hass, question)), facts)
            assert not _words(remark) & forbidden, (facts, remark)
