"""The dashboard card: served by the integration and loaded by the frontend at setup."""

from __future__ import annotations

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.milo.card import CARD_FILE, CARD_URL
from custom_components.milo.const import DOMAIN


async def test_card_is_served_and_loaded(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """With a frontend, every browser loads the card from the integration's own URL."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "frontend", {})
    assert await async_setup_component(hass, DOMAIN, {})

    urls = [u for u in hass.data[DATA_EXTRA_MODULE_URL].urls if u.startswith(f"{CARD_URL}?v=")]
    assert len(urls) == 1
    client = await hass_client()
    response = await client.get(urls[0])
    assert response.status == 200
    assert await response.text() == CARD_FILE.read_text()


async def test_no_frontend_no_card(hass: HomeAssistant) -> None:
    """Without a frontend there is no dashboard: Milo loads and registers no card."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, DOMAIN, {})
    assert "frontend" not in hass.config.components
    assert DATA_EXTRA_MODULE_URL not in hass.data
