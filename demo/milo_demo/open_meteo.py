"""A local stand-in for Open-Meteo's marine and forecast APIs that serves a recorded forecast.

The demo machine has no internet, and Milo must never pass invented surf off as live. So the
demo points the Milo integration's forecast URLs (the entry's options) at this server. It
answers in Open-Meteo's format from the files in `fixtures/` (see fixtures/README.md for
where they come from), re-dated so that the recording's first day is today, and marks every
response with `"recorded": {"note": ...}`, which the integration surfaces as "RECORDED, not
live" on the sensors and in what Milo says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import json
import math
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"
RECORDINGS = {
    "marine": FIXTURES / "open_meteo_marine_portrush.json",
    "forecast": FIXTURES / "open_meteo_forecast_portrush.json",
}
NOTE = (
    "sample forecast constructed for Milo's demo in Open-Meteo's format, not a real "
    "forecast; replayed onto today's dates by the demo's local stand-in"
)
# Requests further than this from the recording's grid point get an error, not Portrush.
REACH_KM = 25.0


class OpenMeteoStandIn:
    """`/v1/marine` and `/v1/forecast` on 127.0.0.1, answered from the recordings."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.recordings = {
            name: json.loads(path.read_text(encoding="utf-8")) for name, path in RECORDINGS.items()
        }
        self.requests: list[str] = []  # "marine 200", "forecast 400 <reason>", ...
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """Open-Meteo's layout: {base}/marine and {base}/forecast."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        """Listen on loopback."""
        app = web.Application()
        for name in self.recordings:
            app.router.add_get(f"/v1/{name}", self._handler(name))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _handler(self, name: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            try:
                body = self.answer(name, request.query)
            except ValueError as err:
                self.requests.append(f"{name} 400 {err}")
                return web.json_response({"error": True, "reason": str(err)}, status=400)
            self.requests.append(f"{name} 200")
            return web.json_response(body)

        return handle

    def answer(self, name: str, query: Any, today: date | None = None) -> dict[str, Any]:
        """The recording for a query, re-dated to start today; ValueError as Open-Meteo's
        400 reasons would say it (bad coordinates, unknown variables, too many days)."""
        recording = self.recordings[name]
        try:
            latitude, longitude = float(query["latitude"]), float(query["longitude"])
        except (KeyError, ValueError) as err:
            raise ValueError("latitude and longitude are required numbers") from err
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError("Latitude must be in range of -90 to 90°")
        distance = _km(latitude, longitude, recording["latitude"], recording["longitude"])
        if distance > REACH_KM:
            raise ValueError(
                f"this stand-in only has a recorded forecast for Portrush "
                f"({recording['latitude']}, {recording['longitude']}); "
                f"{latitude}, {longitude} is {distance:.0f} km away"
            )
        recorded_hourly: dict[str, list[Any]] = recording["hourly"]
        wanted = [v for v in str(query.get("hourly", "")).split(",") if v]
        unknown = [v for v in wanted if v not in recorded_hourly]
        if unknown:
            raise ValueError(f"not in the recording: {', '.join(unknown)}")
        days = int(query.get("forecast_days", 7))
        recorded_days = len(recorded_hourly["time"]) // 24
        if not 1 <= days <= recorded_days:
            raise ValueError(f"forecast_days must be 1 to {recorded_days} here")

        offset = timedelta(seconds=recording["utc_offset_seconds"])
        today = today or (datetime.now(UTC) + offset).date()
        shift = today - date.fromisoformat(recorded_hourly["time"][0][:10])
        hours = days * 24
        hourly: dict[str, list[Any]] = {
            "time": [
                (datetime.fromisoformat(t) + shift).strftime("%Y-%m-%dT%H:%M")
                for t in recorded_hourly["time"][:hours]
            ]
        }
        for variable in wanted:
            hourly[variable] = recorded_hourly[variable][:hours]
        units = recording["hourly_units"]
        return {
            **{k: v for k, v in recording.items() if k not in ("hourly", "hourly_units")},
            "recorded": {"note": NOTE, "recording": RECORDINGS[name].name},
            "hourly_units": {k: units[k] for k in hourly},
            "hourly": hourly,
        }


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance, good enough to tell Portrush from elsewhere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))
