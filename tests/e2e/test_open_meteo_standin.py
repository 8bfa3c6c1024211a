"""The demo's recorded-forecast stand-in answers like Open-Meteo, re-dated, and labelled."""

from __future__ import annotations

from datetime import date

from milo_demo.open_meteo import NOTE, OpenMeteoStandIn
import pytest

from custom_components.milo.const import DEFAULT_SPOTS
from custom_components.milo.surf import Spot, parse_forecast

EAST = DEFAULT_SPOTS[0]
MARINE = {
    "latitude": str(EAST["latitude"]),
    "longitude": str(EAST["longitude"]),
    "hourly": "wave_height,wave_period,wave_direction",
    "timezone": "auto",
    "forecast_days": "3",
}
WIND = MARINE | {"hourly": "wind_speed_10m,wind_direction_10m", "wind_speed_unit": "kmh"}
TODAY = date(2027, 2, 3)


def test_the_recording_is_replayed_from_today_and_marked_recorded() -> None:
    """The first recorded day becomes today; the integration reads it as recorded."""
    stand_in = OpenMeteoStandIn(0)
    marine = stand_in.answer("marine", MARINE, TODAY)
    wind = stand_in.answer("forecast", WIND, TODAY)
    assert marine["hourly"]["time"][0] == "2027-02-03T00:00"
    assert marine["hourly"]["time"][-1] == "2027-02-05T23:00"
    assert marine["recorded"]["note"] == NOTE
    assert set(wind["hourly"]) == {"time", "wind_speed_10m", "wind_direction_10m"}
    forecast = parse_forecast(Spot.from_config(EAST["name"], EAST), marine, wind)
    assert forecast.recorded == NOTE
    assert str(forecast.day_rating(TODAY)) == "gnarly"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"latitude": "40.7", "longitude": "-74.0"}, "only has a recorded forecast for Portrush"),
        ({"latitude": "north"}, "latitude and longitude are required numbers"),
        ({"latitude": "95", "longitude": "0"}, "Latitude must be in range"),
        ({"hourly": "swell_wave_height"}, "not in the recording: swell_wave_height"),
        ({"forecast_days": "7"}, "forecast_days must be 1 to 3 here"),
    ],
)
def test_questions_it_has_no_recording_for_get_open_meteo_style_errors(
    query: dict[str, str], reason: str
) -> None:
    """Anywhere else, or anything else, is a 400 reason, never made-up data."""
    with pytest.raises(ValueError, match=reason):
        OpenMeteoStandIn(0).answer("marine", MARINE | query, TODAY)
