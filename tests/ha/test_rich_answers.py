"""Surf and weather answers as rich as the original robot's, in two spoken sentences."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.unit_system import US_CUSTOMARY_SYSTEM
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo.answers import (
    NO_WEATHER_ENTITY,
    async_surf_facts,
    async_weather_facts,
    surf_brief,
)
from custom_components.milo.guards import MAX_WORDS
from custom_components.milo.sentences import heard, words
from custom_components.milo.weather_report import home_weather_entity

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import EAST_TODAY, ask, speech


def _hour(day: int, hour: int, condition: str, **extra: Any) -> dict[str, Any]:
    """One hourly forecast entry in Portrush's summer time (UTC+1)."""
    return {"datetime": f"2026-06-0{day}T{hour:02d}:00:00+01:00", "condition": condition} | extra


# Today from 8am: rain till eleven, then cloud, sun in the evening; tomorrow cloud, then
# sun from midday. Wet hours carry precipitation.
HOURLY = [
    *(_hour(1, h, "rainy", temperature=12, precipitation=1.5, humidity=90) for h in range(8, 11)),
    *(_hour(1, h, "cloudy", temperature=14, humidity=80) for h in range(11, 17)),
    *(_hour(1, h, "sunny", temperature=13, humidity=75) for h in range(17, 21)),
    *(_hour(2, h, "cloudy", temperature=10, humidity=60) for h in range(6, 11)),
    *(_hour(2, h, "sunny", temperature=17, humidity=55) for h in range(11, 21)),
]
DAILY = [
    {"datetime": "2026-06-01T12:00:00+01:00", "condition": "rainy", "temperature": 15,
     "templow": 9, "precipitation_probability": 70, "precipitation": 4.5},
    {"datetime": "2026-06-02T12:00:00+01:00", "condition": "sunny", "temperature": 18,
     "templow": 8, "precipitation_probability": 10, "wind_speed": 12, "wind_bearing": 180},
]  # fmt: skip


@pytest.fixture
async def hourly_weather(hass: HomeAssistant, portrush: None) -> str:
    """A template weather entity with daily and hourly forecasts."""
    config = {
        "name": "Portrush",
        "condition": "rainy",
        "temperature": "{{ 12 }}",
        "humidity": "{{ 90 }}",
        "wind_speed": "{{ 22 }}",
        "wind_bearing": "{{ 225 }}",
        "temperature_unit": "°C",
        "wind_speed_unit": "km/h",
        "forecast_daily": f"{{{{ {DAILY} }}}}",
        "forecast_hourly": f"{{{{ {HOURLY} }}}}",
    }
    assert await async_setup_component(hass, "template", {"template": [{"weather": [config]}]})
    await hass.async_block_till_done()
    return "weather.portrush"


async def test_weather_today_now_and_later(hass: HomeAssistant, hourly_weather: str) -> None:
    """Now, then how the day changes; high and low, the chance and kind of rain, the wind,
    sticky humidity and the sunshine still to come, in two sentences."""
    facts = await async_weather_facts(hass, hourly_weather, "today", sarcasm=2)
    assert facts.line == (
        "Rainy and 12°C now, cloudy by midday, then sunny this evening. "
        "High 15°C, low 9°C, 70% chance of showers, south-westerly wind 22 km/h, sticky, "
        "4 more sunny hours."
    )
    # Room for a remark within the answer's forty words.
    assert len(words(facts.line)) + len(words(facts.quip)) <= MAX_WORDS
    report = facts.data["weather"]
    assert report["periods"]["midday"] == {"condition": "cloudy", "temperature": 14}
    assert report["humidity"] == 90
    assert facts.quip  # a line for rain, said when the model has no remark


async def test_weather_tomorrow_morning_midday_evening(
    hass: HomeAssistant, hourly_weather: str
) -> None:
    """Tomorrow: the parts of the day, grouped where the sky stays the same."""
    facts = await async_weather_facts(hass, hourly_weather, "tomorrow", sarcasm=2)
    assert facts.line == (
        "Tomorrow: cloudy morning, sunny midday and evening. "
        "High 18°C, low 8°C, 10% chance of rain, southerly wind 12 km/h, 10 sunny hours."
    )
    assert facts.data["weather"]["sticky"] is False


async def test_weather_in_fahrenheit_is_judged_in_celsius(
    hass: HomeAssistant, portrush: None
) -> None:
    """A remark's 'cold' or 'warm' is judged on the same scale whatever the units."""
    hass.config.units = US_CUSTOMARY_SYSTEM
    assert await async_setup_component(
        hass,
        "template",
        {"template": [{"weather": [{"name": "Hot", "condition": "sunny",
                                    "temperature": "{{ 86 }}", "humidity": "{{ 40 }}",
                                    "temperature_unit": "°F"}]}]},
    )  # fmt: skip
    await hass.async_block_till_done()
    facts = await async_weather_facts(hass, "weather.hot", "today", sarcasm=2)
    assert facts.line == "Sunny and 86°F now."
    assert facts.truths.claims["warm"] == {True}
    assert facts.truths.claims["cold"] == {False}


async def test_surf_trash_day_says_the_next_good_session(hass: HomeAssistant, setup_entry) -> None:
    """West Strand is trash today: its sentence ends with when it is next worth it (the
    same hour the next-good-session sensor shows)."""
    entry = await setup_entry()
    facts = await async_surf_facts(entry.runtime_data.surf, "West Strand", "today", sarcasm=2)
    assert facts.line == (
        "West Strand today: trash, waves 1.2 metres, 10.5 second period, onshore wind; "
        "next mid session tomorrow at 6am."
    )
    sensor = hass.states.get("sensor.west_strand_next_good_session")
    assert sensor is not None
    assert sensor.state == "2026-06-02T05:00:00+00:00"


async def test_surf_many_spots_stay_two_sentences(hass: HomeAssistant, setup_entry) -> None:
    """With more spots than one, the best is said in full and the rest by rating (and
    best time, unless trash)."""
    entry = await setup_entry()
    reports = await entry.runtime_data.surf.async_reports(None, "today")
    third = reports[1] | {"spot": "Whiterocks"}
    line = surf_brief([reports[1], reports[0], third])
    assert line.startswith("East Strand today: gnarly at 9am,")
    assert line.endswith(" Also: West Strand trash, Whiterocks trash.")
    assert line.count(". ") == 1
    two = surf_brief(reports)
    assert two == f"{EAST_TODAY} Also: West Strand trash."


async def test_surf_said_again_is_not_repeated(hass: HomeAssistant, setup_entry) -> None:
    """Waves and wind already said for another spot in the latest turns are 'the same
    conditions', not the figures again, and a line's quip is not one said lately."""
    entry = await setup_entry()
    east = await async_surf_facts(entry.runtime_data.surf, "East Strand", "today", sarcasm=2)
    said = set(heard(east.answer))
    west = await async_surf_facts(
        entry.runtime_data.surf, "West Strand", "today", sarcasm=2, said=said
    )
    assert west.line.startswith("West Strand today: trash, ")
    shared = {tuple(w[i : i + 6]) for s in said for w in [list(s)] for i in range(len(w) - 5)}
    mine = words(west.answer)
    assert not {tuple(mine[i : i + 6]) for i in range(len(mine) - 5)} & shared, west.answer
    reports = await entry.runtime_data.surf.async_reports(None, "today")
    twin = reports[1] | {"spot": "Whiterocks"}
    assert surf_brief([twin], set(heard(surf_brief([reports[1]])))) == (
        "Whiterocks today: trash, same conditions; next mid session tomorrow at 6am."
    )


async def test_weather_said_again_is_a_recap(hass: HomeAssistant, hourly_weather: str) -> None:
    """'Will I need a coat?' after the day's weather: the gist, not the same two sentences."""
    first = await async_weather_facts(hass, hourly_weather, "today", sarcasm=2)
    again = await async_weather_facts(
        hass, hourly_weather, "today", sarcasm=2, said=set(heard(first.answer))
    )
    assert again.line == "Still rainy, as I said: 70% chance of showers."
    assert not set(heard(again.answer)) & set(heard(first.answer))


async def test_surf_action_carries_the_full_detail(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """The action's answer has every key time; only the spoken line is short."""
    await setup_entry()
    response = await hass.services.async_call(
        "milo", "surf_report", {"spot": "East Strand"}, blocking=True, return_response=True
    )
    assert response is not None
    [report] = response["spots"]  # type: ignore[misc]
    assert [t["rating"] for t in report["key_times"]] == ["gnarly", "trash", "trash"]
    assert [t["wind"] for t in report["key_times"]] == ["offshore", "onshore", "onshore"]
    assert "At 2pm, trash:" in str(response["summary"])


def _met_home(hass: HomeAssistant, entity_id: str) -> None:
    """What onboarding leaves: a met.no entry that follows the home, and its entity."""
    met = MockConfigEntry(domain="met", data={"track_home": True}, title="Home")
    met.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "weather", "met", "home", suggested_object_id=entity_id.split(".")[1],
        config_entry=met,
    )  # fmt: skip
    hass.states.async_set(entity_id, "cloudy", {"friendly_name": "Forecast Home"})


async def test_home_weather_entity_prefers_the_onboarding_forecast(hass: HomeAssistant) -> None:
    """met.no's home forecast wins over other weather entities; else the first one."""
    assert home_weather_entity(hass) is None
    hass.states.async_set("weather.garden_station", "sunny")
    hass.states.async_set("weather.aardvark", "sunny")
    assert home_weather_entity(hass) == "weather.aardvark"
    _met_home(hass, "weather.forecast_home")
    assert home_weather_entity(hass) == "weather.forecast_home"


async def test_no_weather_entity_chosen_uses_the_home_forecast(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, hourly_weather: str
) -> None:
    """An agent without a weather entity answers from the home's forecast."""
    await setup_entry(subentries=[agent_subentry(), *spot_subentries()])
    cloud.reply("Wrap up.")
    answer = speech(await ask(hass, "is it going to rain tomorrow?"))
    assert answer.startswith("Tomorrow: cloudy morning, sunny midday")
    assert NO_WEATHER_ENTITY not in answer


async def test_options_form_names_the_home_forecast(hass: HomeAssistant, setup_entry) -> None:
    """The agent's form says which forecast Milo uses when none is chosen."""
    entry = await setup_entry(subentries=[agent_subentry(), *spot_subentries()])
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "conversation"), context={"source": "user"}
    )
    assert result["description_placeholders"] == {
        "home_weather": "none: this home has no weather entity yet"
    }
    _met_home(hass, "weather.forecast_home")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "conversation"), context={"source": "user"}
    )
    assert result["description_placeholders"] == {
        "home_weather": "Forecast Home (weather.forecast_home)"
    }


@pytest.mark.parametrize(
    ("daily", "hours", "said"),
    [
        # The kind of rain: from the sky's condition first, then the amount and how many
        # hours it falls in.
        ({"condition": "lightning-rainy", "precipitation_probability": 90}, [],
         "90% chance of thunderstorms"),
        ({"condition": "pouring", "precipitation_probability": 95}, [], "95% chance of heavy rain"),
        ({"condition": "rainy", "precipitation_probability": 60, "precipitation": 1.0}, [],
         "60% chance of light rain"),
        ({"condition": "rainy", "precipitation_probability": 60, "precipitation": 12}, [],
         "60% chance of heavy rain"),
        ({"condition": "cloudy", "precipitation_probability": 40},
         [_hour(2, 15, "rainy", precipitation=0.8), _hour(2, 16, "cloudy")],
         "40% chance of showers"),
        ({"condition": "snowy", "precipitation_probability": 70}, [], "70% chance of snow"),
        # Sticky above 65 % humidity, not at it.
        ({"condition": "cloudy", "humidity": 66}, [], "sticky"),
    ],
)  # fmt: skip
async def test_kinds_of_rain_and_sticky(
    hass: HomeAssistant, portrush: None, daily: dict, hours: list, said: str
) -> None:
    """What the second sentence calls the rain, and when it says sticky."""
    entry = {"datetime": "2026-06-02T12:00:00+01:00", "temperature": 14, **daily}
    config = {
        "name": "Sky",
        "condition": "cloudy",
        "temperature": "{{ 14 }}",
        "humidity": "{{ 65 }}",
        "forecast_daily": f"{{{{ {[entry]} }}}}",
        "forecast_hourly": f"{{{{ {hours} }}}}",
    }
    assert await async_setup_component(hass, "template", {"template": [{"weather": [config]}]})
    await hass.async_block_till_done()
    facts = await async_weather_facts(hass, "weather.sky", "tomorrow", sarcasm=2)
    assert said in facts.line
    assert ("sticky" in facts.line) is (said == "sticky")
