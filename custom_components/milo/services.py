"""The `milo.surf_report` action, for scripts and automations."""

from __future__ import annotations

from typing import cast

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType
import probatio

from .const import ATTR_CONFIG_ENTRY_ID, ATTR_DAY, ATTR_SPOT, DAYS, DOMAIN, SERVICE_SURF_REPORT
from .data import MiloConfigEntry
from .surf import describe_days

SURF_REPORT_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Optional(ATTR_SPOT): cv.string,
        probatio.Optional(ATTR_DAY, default="today"): probatio.In(DAYS),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register Milo's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SURF_REPORT,
        _async_surf_report,
        schema=SURF_REPORT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str | None) -> MiloConfigEntry:
    """The entry the call names, or the only/first loaded one."""
    entries: list[MiloConfigEntry] = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
        and (entry_id is None or entry.entry_id == entry_id)
    ]
    if not entries:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id or DOMAIN},
        )
    return entries[0]


async def _async_surf_report(call: ServiceCall) -> ServiceResponse:
    entry = _loaded_entry(call.hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
    coordinator = entry.runtime_data.surf
    if coordinator is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_spots")
    reports = await coordinator.async_reports(call.data.get(ATTR_SPOT), call.data[ATTR_DAY])
    return {"summary": describe_days(reports), "spots": cast(list[JsonValueType], reports)}
