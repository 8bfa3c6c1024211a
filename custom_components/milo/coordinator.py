"""Hourly surf forecasts for every configured spot, shared by sensors, tools and the action."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_system import US_CUSTOMARY_SYSTEM

from .const import (
    DOMAIN,
    ISSUE_SURF_API,
    LOGGER,
    SUBENTRY_SURF_SPOT,
    SURF_FAILURES_BEFORE_ISSUE,
    SURF_RETRY_MAX_MINUTES,
    SURF_UPDATE_MINUTES,
)
from .surf import (
    Endpoints,
    Spot,
    SpotForecast,
    SurfApiError,
    Units,
    async_fetch_forecast,
    day_report,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry


def retry_delay(failures: int) -> timedelta:
    """How long to wait after the given number of failures in a row: 1, 2, 4 ... 30 minutes.

    A short outage must not cost an hour of unavailable sensors, and a long one must not
    hammer Open-Meteo.
    """
    return timedelta(minutes=min(2 ** max(failures - 1, 0), SURF_RETRY_MAX_MINUTES))


class SurfCoordinator(DataUpdateCoordinator[dict[str, SpotForecast]]):
    """Fetch all spots once an hour, sooner after a failure; the data doubles as the cache."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Read the spots from the entry's surf spot subentries, the APIs from its options."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} surf",
            update_interval=timedelta(minutes=SURF_UPDATE_MINUTES),
        )
        self.spots: dict[str, Spot] = {
            subentry_id: Spot.from_config(subentry.title, subentry.data)
            for subentry_id, subentry in entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_SURF_SPOT
        }
        self.endpoints = Endpoints.from_options(entry.options)
        self.failures = 0

    @property
    def issue_id(self) -> str:
        """The repair issue raised for this entry when Open-Meteo keeps failing."""
        assert self.config_entry is not None
        return f"{ISSUE_SURF_API}_{self.config_entry.entry_id}"

    async def _async_update_data(self) -> dict[str, SpotForecast]:
        session = async_get_clientsession(self.hass)
        try:
            forecasts = await asyncio.gather(
                *(
                    async_fetch_forecast(session, spot, self.endpoints)
                    for spot in self.spots.values()
                )
            )
        except SurfApiError as err:
            self.failures += 1
            if self.failures >= SURF_FAILURES_BEFORE_ISSUE:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    self.issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key=ISSUE_SURF_API,
                    translation_placeholders={
                        "failures": str(self.failures),
                        "error": str(err),
                        "host": self.endpoints.host,
                    },
                )
            # HA's own one-off override of the next refresh; the hourly interval stays.
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="surf_update_failed",
                translation_placeholders={"error": str(err)},
                retry_after=retry_delay(self.failures).total_seconds(),
            ) from err
        if self.failures:
            self.failures = 0
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        return dict(zip(self.spots, forecasts, strict=True))

    @property
    def attribution(self) -> str:
        """Where the data comes from, and whether it is live, for the sensors."""
        recorded = next(
            (f.recorded for f in (self.data or {}).values() if f.recorded is not None), None
        )
        if recorded is not None:
            return f"RECORDED forecast, not live: {recorded} (served by {self.endpoints.host})"
        if self.endpoints.public:
            return "Weather data by Open-Meteo.com"
        return f"Open-Meteo data from {self.endpoints.host}"

    def find_spot(self, name: str | None) -> list[str]:
        """Return the subentry ids of the spots a (possibly partial) name refers to.

        No name means every spot; "east" finds "East Strand".
        """
        if not name:
            return list(self.spots)
        wanted = name.casefold().strip()
        exact = [sid for sid, spot in self.spots.items() if spot.name.casefold() == wanted]
        if exact:
            return exact
        words = set(wanted.replace("-", " ").split())
        return [
            sid
            for sid, spot in self.spots.items()
            if wanted in spot.name.casefold()
            or words & set(spot.name.casefold().split()) - {"the", "beach", "strand"}
        ]

    async def async_reports(self, spot: str | None, day: str) -> list[dict[str, Any]]:
        """Return day reports for the named spot (or all spots) in the user's units.

        Serves the hourly cache; only when there is no data at all does it fetch now.
        """
        spot_ids = self.find_spot(spot)
        if not spot_ids:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_spot",
                translation_placeholders={
                    "spot": spot or "",
                    "spots": ", ".join(s.name for s in self.spots.values()) or "-",
                },
            )
        if self.data is None or not self.last_update_success:
            await self.async_refresh()
        if self.data is None or not self.last_update_success:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="surf_unavailable")
        units = Units.for_system(self.hass.config.units is US_CUSTOMARY_SYSTEM)
        now = dt_util.now()
        return [day_report(self.data[sid], day, now, units) for sid in spot_ids]
