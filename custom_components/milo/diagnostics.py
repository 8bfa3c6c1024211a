"""Diagnostics: the setup and the surf state, with the API key redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from .data import MiloConfigEntry

TO_REDACT = {CONF_API_KEY}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: MiloConfigEntry
) -> dict[str, Any]:
    """Return what helps debugging without leaking secrets."""
    surf = entry.runtime_data.surf
    return {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
        "surf": None
        if surf is None
        else {
            "last_update_success": surf.last_update_success,
            "consecutive_failures": surf.failures,
            "marine_url": surf.endpoints.marine,
            "forecast_url": surf.endpoints.forecast,
            "attribution": surf.attribution,
            "forecast_hours": {
                spot.name: len(surf.data[sid].hours) if surf.data and sid in surf.data else None
                for sid, spot in surf.spots.items()
            },
        },
    }
