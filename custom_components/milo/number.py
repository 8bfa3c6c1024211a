"""The buddy greeting's gap on each satellite with a head: minutes a buddy must have been
away to be greeted again (greeting.py). A number beside the "Greet buddies" switch, for the
reasons switch.py gives; HA keeps its value across restarts."""

from __future__ import annotations

from typing import override

from homeassistant.components.number import NumberMode, RestoreNumber
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import MiloConfigEntry
from .greeting import SatelliteGreeting

PARALLEL_UPDATES = 0
# A day: beyond it, "once a day" is what the user means, and a day is enough for that.
MAX_GAP_MINUTES = 1440.0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MiloConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One number per satellite with a head, now and as they are adopted."""

    @callback
    def add(satellite: SatelliteGreeting) -> None:
        async_add_entities([GreetingGapNumber(entry, satellite)])

    entry.async_on_unload(entry.runtime_data.greeter.async_on_satellite(add))


class GreetingGapNumber(RestoreNumber):
    """How long a buddy must have been away from this satellite to be greeted."""

    _attr_has_entity_name = True
    _attr_translation_key = "greeting_gap"
    _attr_entity_category = EntityCategory.CONFIG
    _attr_native_min_value = 0.0
    _attr_native_max_value = MAX_GAP_MINUTES
    _attr_native_step = 1.0
    _attr_native_unit_of_measurement = UnitOfTime.MINUTES
    _attr_mode = NumberMode.BOX

    def __init__(self, entry: MiloConfigEntry, satellite: SatelliteGreeting) -> None:
        """Attach to the satellite's own device."""
        self._satellite = satellite
        self.device_entry = satellite.device
        self._attr_unique_id = f"{entry.entry_id}-{satellite.device.id}-greeting_gap"

    @property
    @override
    def native_value(self) -> float:
        return self._satellite.gap_minutes

    @override
    async def async_added_to_hass(self) -> None:
        last = await self.async_get_last_number_data()
        if last is not None and last.native_value is not None:
            self._satellite.gap_minutes = min(max(last.native_value, 0.0), MAX_GAP_MINUTES)

    @override
    async def async_set_native_value(self, value: float) -> None:
        self._satellite.gap_minutes = value
        self.async_write_ha_state()
