"""Milo's dashboard card: served by the integration and loaded by every browser, so a user
adds `type: custom:milo-card` to a dashboard without registering a resource by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import LOGGER

CARD_FILE = Path(__file__).parent / "frontend" / "milo-card.js"
CARD_URL = "/milo/milo-card.js"


async def async_register_card(hass: HomeAssistant) -> None:
    """Serve the card and add it to the frontend's extra modules.

    Without a frontend (an HA without `default_config:` or `frontend:`) there is no
    dashboard to show it on, so nothing is registered. The URL carries the file's hash:
    browsers keep the old card only until the file changes.
    """
    if "frontend" not in hass.config.components:
        LOGGER.debug("No frontend loaded: Milo's dashboard card is not registered")
        return
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=True)]
    )
    content = await hass.async_add_executor_job(CARD_FILE.read_bytes)
    add_extra_js_url(hass, f"{CARD_URL}?v={hashlib.sha256(content).hexdigest()[:12]}")
