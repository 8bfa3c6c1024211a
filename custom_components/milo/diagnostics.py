"""Diagnostics: the setup and the surf state, with the API key and secrets in URLs redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_API_KEY, CONF_URL
from homeassistant.core import HomeAssistant
from yarl import URL

from .const import CONF_FORECAST_URL, CONF_MARINE_URL
from .data import MiloConfigEntry

TO_REDACT = {CONF_API_KEY}
URL_KEYS = {CONF_URL, CONF_MARINE_URL, CONF_FORECAST_URL}
# Query parameters that carry credentials (compared case-insensitively, without - and _):
# a self-hosted or commercial Open-Meteo takes `apikey=`, proxies often `token=`.
SECRET_PARAMS = {"apikey", "key", "token", "accesstoken", "authtoken", "password", "secret"}


def redact_url(url: str) -> str:
    """Hide the password, user name and secret query values in a URL; keep the rest readable.

    Users paste URLs with `?apikey=...` or `user:password@` into the options, and
    diagnostics get attached to public bug reports.
    """
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return REDACTED
    redacted = parsed
    if parsed.user is not None or parsed.password is not None:
        redacted = redacted.with_user(REDACTED).with_password(
            REDACTED if parsed.password is not None else None
        )
    if any(_is_secret(name) for name in parsed.query):
        redacted = redacted.with_query(
            [
                (name, REDACTED if _is_secret(name) else value)
                for name, value in parsed.query.items()
            ]
        )
    return url if redacted is parsed else str(redacted)


def _is_secret(param: str) -> bool:
    return param.lower().replace("_", "").replace("-", "") in SECRET_PARAMS


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
