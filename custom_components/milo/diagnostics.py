"""Diagnostics: the setup, the surf state and what milo-stt said to the home's names, with
the API key and secrets in URLs redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_KEY, CONF_URL
from homeassistant.core import HomeAssistant

from .const import CONF_FORECAST_URL, CONF_MARINE_URL
from .data import MiloConfigEntry
from .redact import redact_url

TO_REDACT = {CONF_API_KEY}
URL_KEYS = {CONF_URL, CONF_MARINE_URL, CONF_FORECAST_URL}


def _redact_urls(config: dict[str, Any]) -> dict[str, Any]:
    return {
        key: redact_url(value) if key in URL_KEYS and isinstance(value, str) else value
        for key, value in config.items()
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: MiloConfigEntry
) -> dict[str, Any]:
    """Return what helps debugging without leaking secrets."""
    entry_dict = async_redact_data(entry.as_dict(), TO_REDACT)
    for part in ("data", "options"):
        entry_dict[part] = _redact_urls(entry_dict[part])
    surf = entry.runtime_data.surf
    return {
        "entry": entry_dict,
        "milo_stt_names": entry.runtime_data.stt_names.saved,
        "surf": None
        if surf is None
        else {
            "last_update_success": surf.last_update_success,
            "consecutive_failures": surf.failures,
            "marine_url": redact_url(surf.endpoints.marine),
            "forecast_url": redact_url(surf.endpoints.forecast),
            "attribution": surf.attribution,
            "forecast_hours": {
                spot.name: len(surf.data[sid].hours) if surf.data and sid in surf.data else None
                for sid, spot in surf.spots.items()
            },
        },
    }
