"""Surf forecasting: Open-Meteo marine + wind data rated with the original Milo's rules.

The rules come from the original buddy-milo robot, tuned for Portrush:
- wave height is judged in feet, rounded to the nearest half foot;
- Open-Meteo's mean wave period runs short on the North Coast, so it is rounded and
  multiplied by 1.5 before it is judged;
- the wind is offshore, cross-offshore or onshore depending on the spot's compass points;
- gnarly: 3-6 ft, period >= 10 s, offshore; mid: 2-3 ft, period >= 10 s, offshore or
  cross-offshore; anything else is trash.
A day is rated from the key surf times 9am, 2pm and 6pm, taking the best of the three.

The two APIs can live elsewhere (a self-hosted Open-Meteo, a mirror, the demo's stand-in):
`Endpoints` says where. A server that replays stored forecasts marks its responses with a
top-level `"recorded": {"note": "..."}` (not part of Open-Meteo's format; Open-Meteo itself
never sends it), and Milo then labels everything it says about them as recorded, not live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import aiohttp
from homeassistant.const import UnitOfLength, UnitOfSpeed
from homeassistant.util.unit_conversion import DistanceConverter, SpeedConverter
from yarl import URL

from .const import (
    COMPASS_POINTS,
    CONF_CROSS_OFFSHORE,
    CONF_FORECAST_URL,
    CONF_MARINE_URL,
    CONF_OFFSHORE,
    FORECAST_API_URL,
    MARINE_API_URL,
)
from .redact import redact_url
from .spoken import number

PERIOD_CORRECTION = 1.5
GNARLY_MIN_FT, GNARLY_MAX_FT = 3.0, 6.0
MID_MIN_FT = 2.0
MIN_PERIOD_S = 10.0
KEY_HOURS = (9, 14, 18)
# Surfing hours for the "next good session": nobody paddles out at 3am.
FIRST_SESSION_HOUR, LAST_SESSION_HOUR = 6, 21
REQUEST_TIMEOUT = 20
FORECAST_DAYS = 3


class SurfApiError(Exception):
    """Open-Meteo could not be reached or sent something unusable."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where Open-Meteo's marine and forecast APIs are answered."""

    marine: str
    forecast: str

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Endpoints:
        """Read the config entry's options; the public APIs unless the user chose others."""
        return cls(
            marine=options.get(CONF_MARINE_URL) or MARINE_API_URL,
            forecast=options.get(CONF_FORECAST_URL) or FORECAST_API_URL,
        )

    @property
    def public(self) -> bool:
        """Whether these are Open-Meteo's own public APIs."""
        return (self.marine, self.forecast) == (MARINE_API_URL, FORECAST_API_URL)

    @property
    def host(self) -> str:
        """The server answering, for labels ("marine-api.open-meteo.com", "127.0.0.1:8099")."""
        return URL(self.marine).host_port_subcomponent or self.marine


class Rating(StrEnum):
    """How good the surf is, in the original's words."""

    GNARLY = "gnarly"
    MID = "mid"
    TRASH = "trash"


RATING_ORDER = {Rating.TRASH: 0, Rating.MID: 1, Rating.GNARLY: 2}


class WindStatus(StrEnum):
    """Wind relative to the beach."""

    OFFSHORE = "offshore"
    CROSS_OFFSHORE = "cross-offshore"
    ONSHORE = "onshore"


@dataclass(frozen=True, slots=True)
class Spot:
    """A surf spot and which winds blow offshore there."""

    name: str
    latitude: float
    longitude: float
    offshore: tuple[str, ...]
    cross_offshore: tuple[str, ...]

    @classmethod
    def from_config(cls, name: str, data: Mapping[str, Any]) -> Spot:
        """Build a spot from a surf spot subentry's title and data."""
        return cls(
            name=name,
            latitude=float(data["latitude"]),
            longitude=float(data["longitude"]),
            offshore=tuple(data.get(CONF_OFFSHORE, ())),
            cross_offshore=tuple(data.get(CONF_CROSS_OFFSHORE, ())),
        )

    def wind_status(self, direction_deg: float) -> WindStatus:
        """Classify a wind direction (where it blows from) for this spot."""
        point = compass_point(direction_deg)
        if point in self.offshore:
            return WindStatus.OFFSHORE
        if point in self.cross_offshore:
            return WindStatus.CROSS_OFFSHORE
        return WindStatus.ONSHORE


@dataclass(frozen=True, slots=True)
class HourConditions:
    """The sea and wind at a spot for one hour, in metric units as Open-Meteo sends them."""

    time: datetime
    wave_height_m: float
    wave_period_s: float
    wind_speed_kmh: float
    wind_direction_deg: float
    wind_status: WindStatus

    @property
    def wave_height_ft(self) -> float:
        """Wave height in feet to the nearest half foot, as the rules judge it."""
        feet = DistanceConverter.convert(self.wave_height_m, UnitOfLength.METERS, UnitOfLength.FEET)
        return round(feet * 2) / 2

    @property
    def corrected_period_s(self) -> float:
        """Wave period with the original's North Coast correction."""
        return round(self.wave_period_s) * PERIOD_CORRECTION

    @property
    def rating(self) -> Rating:
        """Rate this hour."""
        height, period, wind = self.wave_height_ft, self.corrected_period_s, self.wind_status
        if period < MIN_PERIOD_S:
            return Rating.TRASH
        if GNARLY_MIN_FT <= height <= GNARLY_MAX_FT and wind is WindStatus.OFFSHORE:
            return Rating.GNARLY
        if MID_MIN_FT <= height < GNARLY_MIN_FT and wind is not WindStatus.ONSHORE:
            return Rating.MID
        return Rating.TRASH


@dataclass(frozen=True, slots=True)
class SpotForecast:
    """Hourly conditions for a spot, oldest first, with times in the spot's timezone.

    `recorded` is the server's note when it replays a stored forecast; None means live.
    """

    spot: Spot
    hours: tuple[HourConditions, ...]
    recorded: str | None = None

    def at(self, moment: datetime) -> HourConditions | None:
        """Return the hour that contains `moment`."""
        for hour in self.hours:
            if hour.time <= moment < hour.time + timedelta(hours=1):
                return hour
        return None

    def local_date(self, moment: datetime, day: str) -> date:
        """Return the spot's local date for "today" or "tomorrow" seen from `moment`."""
        tz = self.hours[0].time.tzinfo if self.hours else timezone.utc
        today = moment.astimezone(tz).date()
        return today + timedelta(days=1) if day == "tomorrow" else today

    def key_times(self, on: date) -> list[HourConditions]:
        """Return the 9am, 2pm and 6pm conditions of a day."""
        return [h for h in self.hours if h.time.date() == on and h.time.hour in KEY_HOURS]

    def day_rating(self, on: date) -> Rating | None:
        """Rate a day by its best key time; None when the forecast does not cover it."""
        times = self.key_times(on)
        if not times:
            return None
        return max((h.rating for h in times), key=RATING_ORDER.__getitem__)

    def next_good_session(self, now: datetime) -> HourConditions | None:
        """Return the first gnarly or mid hour from now until the end of tomorrow."""
        last_day = self.local_date(now, "tomorrow")
        current = now.replace(minute=0, second=0, microsecond=0)
        for hour in self.hours:
            if hour.time < current or hour.time.date() > last_day:
                continue
            if not FIRST_SESSION_HOUR <= hour.time.hour <= LAST_SESSION_HOUR:
                continue
            if hour.rating is not Rating.TRASH:
                return hour
        return None


def compass_point(direction_deg: float) -> str:
    """Map degrees (0 = from the north) to one of 16 compass points."""
    return COMPASS_POINTS[round((direction_deg % 360) / 22.5) % 16]


def parse_forecast(spot: Spot, marine: Mapping[str, Any], wind: Mapping[str, Any]) -> SpotForecast:
    """Join Open-Meteo's marine and forecast responses hour by hour.

    Hours where either response has no value (past the forecast horizon) are dropped.
    """
    try:
        offset = timezone(timedelta(seconds=int(marine.get("utc_offset_seconds", 0))))
        sea = marine["hourly"]
        air = wind["hourly"]
        wind_by_time = {
            t: (speed, direction)
            for t, speed, direction in zip(
                air["time"], air["wind_speed_10m"], air["wind_direction_10m"], strict=True
            )
        }
        hours = []
        for t, height, period in zip(
            sea["time"], sea["wave_height"], sea["wave_period"], strict=True
        ):
            speed, direction = wind_by_time.get(t, (None, None))
            if None in (height, period, speed, direction):
                continue
            hours.append(
                HourConditions(
                    time=datetime.fromisoformat(t).replace(tzinfo=offset),
                    wave_height_m=float(height),
                    wave_period_s=float(period),
                    wind_speed_kmh=float(speed),
                    wind_direction_deg=float(direction),
                    wind_status=spot.wind_status(float(direction)),
                )
            )
    except (KeyError, TypeError, ValueError) as err:
        raise SurfApiError(f"unexpected Open-Meteo response: {err!r}") from err
    if not hours:
        raise SurfApiError("Open-Meteo returned no usable hours")
    recorded = _recorded_note(marine) or _recorded_note(wind)
    return SpotForecast(spot=spot, hours=tuple(hours), recorded=recorded)


def _recorded_note(body: Mapping[str, Any]) -> str | None:
    """The note of a response marked as a recorded (not live) forecast, else None."""
    marker = body.get("recorded")
    if not marker:
        return None
    note = marker.get("note") if isinstance(marker, Mapping) else None
    return str(note).strip() if note and str(note).strip() else "recorded forecast"


async def async_fetch_forecast(
    session: aiohttp.ClientSession, spot: Spot, endpoints: Endpoints
) -> SpotForecast:
    """Fetch a spot's waves and wind from Open-Meteo (or the server `endpoints` name)."""
    common = {
        "latitude": spot.latitude,
        "longitude": spot.longitude,
        "timezone": "auto",
        "forecast_days": FORECAST_DAYS,
    }
    marine_params = {**common, "hourly": "wave_height,wave_period,wave_direction"}
    wind_params = {
        **common,
        "hourly": "wind_speed_10m,wind_direction_10m",
        "wind_speed_unit": "kmh",
    }
    marine, wind = await asyncio.gather(
        _get_json(session, endpoints.marine, marine_params),
        _get_json(session, endpoints.forecast, wind_params),
    )
    return parse_forecast(spot, marine, wind)


async def _get_json(
    session: aiohttp.ClientSession, url: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            async with session.get(url, params=dict(params)) as resp:
                if resp.status >= 400:
                    reason = await resp.text()
                    raise SurfApiError(f"HTTP {resp.status} from {redact_url(url)}: {reason[:200]}")
                body = await resp.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError) as err:
        raise SurfApiError(f"cannot fetch {redact_url(url)}: {err or type(err).__name__}") from err
    if not isinstance(body, dict):
        raise SurfApiError("Open-Meteo sent something that is not a JSON object")
    if body.get("error"):
        raise SurfApiError(f"Open-Meteo error: {body.get('reason')}")
    return body


@dataclass(frozen=True, slots=True)
class Units:
    """The units Milo speaks in: feet and mph for US customary, metres and km/h otherwise."""

    length: str
    speed: str

    @classmethod
    def for_system(cls, us_customary: bool) -> Units:
        """Pick the units for Home Assistant's unit system."""
        if us_customary:
            return cls(UnitOfLength.FEET, UnitOfSpeed.MILES_PER_HOUR)
        return cls(UnitOfLength.METERS, UnitOfSpeed.KILOMETERS_PER_HOUR)

    def height(self, meters: float) -> float:
        """Convert a wave height."""
        value = DistanceConverter.convert(meters, UnitOfLength.METERS, self.length)
        return round(value, 1)

    def speed_of(self, kmh: float) -> float:
        """Convert a wind speed."""
        value = SpeedConverter.convert(kmh, UnitOfSpeed.KILOMETERS_PER_HOUR, self.speed)
        return round(value)


def hour_report(hour: HourConditions, units: Units) -> dict[str, Any]:
    """Describe one hour as tool/action data."""
    return {
        "time": hour.time.isoformat(),
        "rating": str(hour.rating),
        "wave_height": units.height(hour.wave_height_m),
        "wave_height_unit": units.length,
        "wave_period_s": hour.corrected_period_s,
        "wind_speed": units.speed_of(hour.wind_speed_kmh),
        "wind_speed_unit": units.speed,
        "wind_from": compass_point(hour.wind_direction_deg),
        "wind": str(hour.wind_status),
    }


def day_report(forecast: SpotForecast, day: str, now: datetime, units: Units) -> dict[str, Any]:
    """Summarise a spot for today or tomorrow as tool/action data."""
    on = forecast.local_date(now, day)
    rating = forecast.day_rating(on)
    report: dict[str, Any] = {
        "spot": forecast.spot.name,
        "day": day,
        "date": on.isoformat(),
        "rating": str(rating) if rating else None,
        "key_times": [hour_report(h, units) for h in forecast.key_times(on)],
        "live": forecast.recorded is None,
    }
    if forecast.recorded is not None:
        report["recorded"] = forecast.recorded
    if session := forecast.next_good_session(now):
        report["next_good_session"] = hour_report(session, units)
    return report


def describe_day(report: Mapping[str, Any]) -> str:
    """Plain-English facts for one spot's day report; the LLM (or a template) adds attitude."""
    spot, day = report["spot"], report["day"]
    if report["rating"] is None:
        return f"There is no forecast for {spot} {day} yet."
    parts = [f"The surf at {spot} is {report['rating']} {day}."]
    for hour in report["key_times"]:
        parts.append(
            f"At {clock(hour['time'])}, {hour['rating']}: "
            f"{number(hour['wave_height'])} {hour['wave_height_unit']} waves, "
            f"{number(hour['wave_period_s'])} second period, "
            f"{hour['wind_speed']} {hour['wind_speed_unit']} wind from the "
            f"{hour['wind_from']} ({hour['wind']})."
        )
    if session := report.get("next_good_session"):
        parts.append(f"Next decent session: {clock(session['time'], with_day=True)}.")
    return " ".join(parts)


def describe_days(reports: Sequence[Mapping[str, Any]]) -> str:
    """Join several spots' descriptions, saying first when the data is not live."""
    text = " ".join(describe_day(report) for report in reports)
    if note := recorded_note(reports):
        text = f"This is a recorded forecast, not live ({note}). {text}"
    return text


def recorded_note(reports: Sequence[Mapping[str, Any]]) -> str | None:
    """The recording's note when any of these reports is not live data."""
    return next((str(r["recorded"]) for r in reports if not r.get("live", True)), None)


def clock(iso: str, *, with_day: bool = False) -> str:
    """An ISO time as it is said: '9am', 'Monday 6pm'."""
    moment = datetime.fromisoformat(iso)
    hour = moment.hour % 12 or 12
    text = f"{hour}{'am' if moment.hour < 12 else 'pm'}"
    return f"{moment.strftime('%A')} {text}" if with_day else text
