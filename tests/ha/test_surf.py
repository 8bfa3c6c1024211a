"""The original Milo's surf rules on Open-Meteo responses in the documented format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from custom_components.milo.const import (
    CONF_FORECAST_URL,
    CONF_MARINE_URL,
    DEFAULT_SPOTS,
    FORECAST_API_URL,
    MARINE_API_URL,
)
from custom_components.milo.surf import (
    Endpoints,
    HourConditions,
    Rating,
    Spot,
    SurfApiError,
    Units,
    WindStatus,
    async_fetch_forecast,
    compass_point,
    day_report,
    describe_day,
    describe_days,
    parse_forecast,
)

from .conftest import FakeCloud, load_fixture

EAST, WEST = (Spot.from_config(s["name"], s) for s in DEFAULT_SPOTS)
NOW = datetime.fromisoformat("2026-06-01T08:30:00+01:00")
METRIC = Units.for_system(us_customary=False)
US = Units.for_system(us_customary=True)


def _forecast(spot: Spot):
    return parse_forecast(
        spot, load_fixture("open_meteo_marine.json"), load_fixture("open_meteo_forecast.json")
    )


@pytest.mark.parametrize(
    ("degrees", "point"),
    [(0, "N"), (359, "N"), (11.2, "N"), (11.3, "NNE"), (180, "S"), (225, "SW"), (-45, "NW")],
)
def test_compass_points(degrees: float, point: str) -> None:
    """Degrees map to 16 compass points, wrapping around north."""
    assert compass_point(degrees) == point


@pytest.mark.parametrize(
    ("spot", "degrees", "status"),
    [
        (WEST, 135, WindStatus.OFFSHORE),  # SE
        (WEST, 157.5, WindStatus.OFFSHORE),  # SSE
        (WEST, 180, WindStatus.CROSS_OFFSHORE),  # S
        (WEST, 225, WindStatus.ONSHORE),  # SW
        (EAST, 225, WindStatus.OFFSHORE),  # SW
        (EAST, 202.5, WindStatus.OFFSHORE),  # SSW
        (EAST, 180, WindStatus.CROSS_OFFSHORE),
        (EAST, 135, WindStatus.ONSHORE),
        (EAST, 0, WindStatus.ONSHORE),
    ],
)
def test_portrush_offshore_rules(spot: Spot, degrees: float, status: WindStatus) -> None:
    """West Strand wants SE/SSE, East Strand SW/SSW, and a southerly is cross-offshore."""
    assert spot.wind_status(degrees) is status


def _hour(height_m: float, period_s: float, wind: WindStatus) -> HourConditions:
    return HourConditions(
        time=NOW,
        wave_height_m=height_m,
        wave_period_s=period_s,
        wind_speed_kmh=10,
        wind_direction_deg=0,
        wind_status=wind,
    )


@pytest.mark.parametrize(
    ("height_m", "period_s", "wind", "rating"),
    [
        (1.2, 7.4, WindStatus.OFFSHORE, Rating.GNARLY),  # 4 ft, 7 s * 1.5 = 10.5 s
        (0.92, 7.0, WindStatus.OFFSHORE, Rating.GNARLY),  # 3.0 ft: lower edge
        (1.83, 7.0, WindStatus.OFFSHORE, Rating.GNARLY),  # 6.0 ft: upper edge
        (2.0, 7.0, WindStatus.OFFSHORE, Rating.TRASH),  # 6.5 ft: too big
        (1.2, 6.4, WindStatus.OFFSHORE, Rating.TRASH),  # 6 s * 1.5 = 9 s: too short
        (1.2, 7.4, WindStatus.CROSS_OFFSHORE, Rating.TRASH),  # gnarly needs offshore
        (0.75, 7.0, WindStatus.CROSS_OFFSHORE, Rating.MID),  # 2.5 ft
        (0.62, 7.0, WindStatus.OFFSHORE, Rating.MID),  # 2.0 ft: lower edge
        (0.75, 7.0, WindStatus.ONSHORE, Rating.TRASH),
        (0.5, 9.0, WindStatus.OFFSHORE, Rating.TRASH),  # 1.5 ft
    ],
)
def test_rating_thresholds(
    height_m: float, period_s: float, wind: WindStatus, rating: Rating
) -> None:
    """Gnarly 3-6 ft offshore, mid 2-3 ft (cross-)offshore, period >= 10 s, else trash."""
    assert _hour(height_m, period_s, wind).rating is rating


def test_heights_are_judged_to_the_half_foot() -> None:
    """1.2 m is 3.94 ft, judged as 4.0 ft; periods are rounded then corrected."""
    hour = _hour(1.2, 7.4, WindStatus.OFFSHORE)
    assert hour.wave_height_ft == 4.0
    assert hour.corrected_period_s == 10.5


def test_recorded_forecast_rates_the_two_strands() -> None:
    """The same swell and a south-westerly: gnarly at East Strand, trash at West."""
    east, west = _forecast(EAST), _forecast(WEST)
    assert len(east.hours) == 66  # the null hours past the horizon are dropped
    today, tomorrow = east.local_date(NOW, "today"), east.local_date(NOW, "tomorrow")
    assert [h.rating for h in east.key_times(today)] == [Rating.GNARLY, Rating.TRASH, Rating.TRASH]
    assert east.day_rating(today) is Rating.GNARLY
    assert west.day_rating(today) is Rating.TRASH
    assert east.day_rating(tomorrow) is Rating.MID
    assert west.day_rating(tomorrow) is Rating.MID
    assert east.day_rating(today + timedelta(days=5)) is None


def test_next_good_session() -> None:
    """The current hour counts; West Strand has to wait for tomorrow's 6am."""
    east, west = _forecast(EAST), _forecast(WEST)
    assert east.next_good_session(NOW).time.isoformat() == "2026-06-01T08:00:00+01:00"
    assert west.next_good_session(NOW).time.isoformat() == "2026-06-02T06:00:00+01:00"
    late = datetime.fromisoformat("2026-06-02T22:30:00+01:00")
    assert west.next_good_session(late) is None


def test_reports_follow_the_unit_system() -> None:
    """Metric speaks metres and km/h, US customary feet and mph."""
    east = _forecast(EAST)
    metric = day_report(east, "today", NOW, METRIC)
    us = day_report(east, "today", NOW, US)
    assert metric["rating"] == "gnarly"
    first_metric, first_us = metric["key_times"][0], us["key_times"][0]
    assert (first_metric["wave_height"], first_metric["wave_height_unit"]) == (1.2, "m")
    assert (first_us["wave_height"], first_us["wave_height_unit"]) == (3.9, "ft")
    assert (first_metric["wind_speed"], first_metric["wind_speed_unit"]) == (16, "km/h")
    assert (first_us["wind_speed"], first_us["wind_speed_unit"]) == (10, "mph")
    assert first_us["wind_from"] == "SW"
    assert first_us["wind"] == "offshore"
    assert metric["next_good_session"]["rating"] == "gnarly"


def test_describe_day() -> None:
    """The facts sentence names the spot, the rating and the key times."""
    text = describe_day(day_report(_forecast(EAST), "today", NOW, US))
    assert text.startswith("The surf at East Strand is gnarly today.")
    assert (
        "At 9am, gnarly: 3.9 ft waves, 10.5 second period, 10 mph wind from the SW (offshore)."
        in text
    )
    assert "Next decent session: Monday 8am." in text
    empty = day_report(_forecast(EAST), "today", NOW + timedelta(days=9), US)
    assert describe_day(empty) == "There is no forecast for East Strand today yet."


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"hourly": {"time": ["2026-06-01T00:00"], "wave_height": [1.0]}},
        {"hourly": {"time": ["yesterday"], "wave_height": [1.0], "wave_period": [8]}},
        {"hourly": {"time": ["2026-06-01T00:00"], "wave_height": [None], "wave_period": [8]}},
    ],
)
def test_malformed_responses_raise(broken: dict) -> None:
    """Anything but the documented shape is a SurfApiError, never a crash."""
    with pytest.raises(SurfApiError):
        parse_forecast(EAST, broken, load_fixture("open_meteo_forecast.json"))


async def test_fetch_from_server(cloud: FakeCloud) -> None:
    """Both APIs are fetched over HTTP and joined; an API error becomes SurfApiError."""
    endpoints = Endpoints.from_options(
        {CONF_MARINE_URL: f"{cloud.url}/v1/marine", CONF_FORECAST_URL: f"{cloud.url}/v1/forecast"}
    )
    async with aiohttp.ClientSession() as session:
        forecast = await async_fetch_forecast(session, EAST, endpoints)
        assert forecast.hours[0].time == datetime(2026, 5, 31, 23, tzinfo=UTC)
        assert forecast.recorded is None
        cloud.weather_fails = True
        with pytest.raises(SurfApiError, match="HTTP 400"):
            await async_fetch_forecast(session, EAST, endpoints)
        cloud.weather_fails = False
        cloud.marine = {"error": True, "reason": "Latitude must be in range"}
        with pytest.raises(SurfApiError, match="Latitude must be in range"):
            await async_fetch_forecast(session, EAST, endpoints)
        cloud.marine = ["not", "an", "object"]
        with pytest.raises(SurfApiError):
            await async_fetch_forecast(session, EAST, endpoints)
        unreachable = Endpoints("http://127.0.0.1:9/v1/marine", "http://127.0.0.1:9/v1/forecast")
        with pytest.raises(SurfApiError, match="cannot fetch"):
            await async_fetch_forecast(session, EAST, unreachable)


def test_endpoints_default_to_the_public_apis() -> None:
    """No options: Open-Meteo's own APIs; options name a self-hosted server or a mirror."""
    public = Endpoints.from_options({})
    assert (public.marine, public.forecast) == (MARINE_API_URL, FORECAST_API_URL)
    assert public.public
    assert public.host == "marine-api.open-meteo.com"
    mirror = Endpoints.from_options(
        {
            CONF_MARINE_URL: "http://meteo.lan:8080/v1/marine",
            CONF_FORECAST_URL: "http://meteo.lan:8080/v1/forecast",
        }
    )
    assert not mirror.public
    assert mirror.host == "meteo.lan:8080"


@pytest.mark.parametrize(
    ("marker", "note"),
    [
        ({"note": "Portrush, 20 Nov 2026, replayed"}, "Portrush, 20 Nov 2026, replayed"),
        (True, "recorded forecast"),
        ({"note": "  "}, "recorded forecast"),
    ],
)
def test_recorded_forecasts_are_never_live(marker: object, note: str) -> None:
    """A response marked "recorded" is labelled in the reports and their summary."""
    marine = load_fixture("open_meteo_marine.json") | {"recorded": marker}
    forecast = parse_forecast(EAST, marine, load_fixture("open_meteo_forecast.json"))
    assert forecast.recorded == note
    report = day_report(forecast, "today", NOW, METRIC)
    assert report["live"] is False
    assert report["recorded"] == note
    assert describe_days([report]).startswith(
        f"This is a recorded forecast, not live ({note}). The surf at East Strand is gnarly"
    )
    live = day_report(_forecast(EAST), "today", NOW, METRIC)
    assert live["live"] is True
    assert "recorded" not in live
    assert describe_days([live]).startswith("The surf at East Strand")
