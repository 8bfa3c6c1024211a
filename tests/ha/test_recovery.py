"""Surf sensors recover by themselves: retries with backoff after Open-Meteo fails."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.milo.const import SURF_UPDATE_MINUTES
from custom_components.milo.coordinator import retry_delay

from .conftest import FakeCloud

SPOTS = 2  # each refresh asks the marine API once per spot
SLACK = timedelta(seconds=2)  # HA spreads refreshes over the first half second, rounds down


async def _advance(hass: HomeAssistant, freezer: Any, delta: timedelta) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _rating(hass: HomeAssistant) -> str:
    state = hass.states.get("sensor.east_strand_rating")
    assert state is not None
    return state.state


async def _refreshes_after(
    hass: HomeAssistant, freezer: Any, cloud: FakeCloud, delta: timedelta
) -> int:
    """Advance time to just before `delta` (no refresh yet), then past it; count refreshes."""
    calls = cloud.open_meteo_calls
    await _advance(hass, freezer, delta - SLACK)
    assert cloud.open_meteo_calls == calls, f"refreshed before {delta}"
    await _advance(hass, freezer, SLACK)
    return (cloud.open_meteo_calls - calls) // SPOTS


def test_retry_delays_back_off_below_the_hourly_update() -> None:
    """1, 2, 4, 8, 16 minutes, then every 30: always well inside the hourly interval."""
    minutes = [retry_delay(n) / timedelta(minutes=1) for n in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert retry_delay(1000) < timedelta(minutes=SURF_UPDATE_MINUTES)


async def test_sensors_come_back_within_two_minutes_of_recovery(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, freezer: Any
) -> None:
    """Open-Meteo down for one hourly update, up again: sensors return at the first retry."""
    entry = await setup_entry()
    surf = entry.runtime_data.surf
    cloud.weather_fails = True
    assert await _refreshes_after(hass, freezer, cloud, timedelta(minutes=SURF_UPDATE_MINUTES)) == 1
    assert _rating(hass) == STATE_UNAVAILABLE

    cloud.weather_fails = False
    assert await _refreshes_after(hass, freezer, cloud, timedelta(minutes=1)) == 1
    assert _rating(hass) == "gnarly"
    assert surf.failures == 0
    assert surf.update_interval == timedelta(minutes=SURF_UPDATE_MINUTES)
    # Back to hourly: nothing for the next hour, then one refresh.
    assert await _refreshes_after(hass, freezer, cloud, timedelta(minutes=SURF_UPDATE_MINUTES)) == 1
    assert _rating(hass) == "gnarly"


async def test_a_long_outage_backs_off_then_recovers_at_the_next_retry(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, freezer: Any
) -> None:
    """Retries 1, 2, 4, 8, 16, 30, 30 minutes apart; the first success restores the hour."""
    await setup_entry()
    cloud.weather_fails = True
    await _advance(hass, freezer, timedelta(minutes=SURF_UPDATE_MINUTES))
    for minutes in (1, 2, 4, 8, 16, 30, 30):
        assert await _refreshes_after(hass, freezer, cloud, timedelta(minutes=minutes)) == 1
        assert _rating(hass) == STATE_UNAVAILABLE

    cloud.weather_fails = False
    assert await _refreshes_after(hass, freezer, cloud, timedelta(minutes=30)) == 1
    assert _rating(hass) == "gnarly"
    assert await _refreshes_after(hass, freezer, cloud, timedelta(minutes=SURF_UPDATE_MINUTES)) == 1
