"""The buddy greeting's gap on each satellite with a head: minutes a buddy must have been
away to be greeted again (greeting.py). A number beside the "Greet buddies" switch, for the
reasons switch.py gives; HA keeps its value across restarts."""

from __future__ import annotations

from typing import override

from homeassistant.components.number import NumberMode, RestoreNumber
from homeassistant.const import UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import MiloConfigEntry
from .greeting import GreetingSetting, async_add_greeting_settings

PARALLEL_UPDATES = 0
# A day: beyond it, "once a day" is what the user means, and a day is enough for that.
MAX_GAP_MINUTES = 1440.0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MiloConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One number per satellite with a head, now and as they are adopted."""
    async_add_greeting_settings(entry, async_add_entities, GreetingGapNumber)


class GreetingGapNumber(GreetingSetting, RestoreNumber):
    """How long a buddy must have been away from this satellite to be greeted."""

    _attr_translation_key = "greeting_gap"
    _attr_native_min_value = 0.0
    _attr_native_max_value = MAX_GAP_MINUTES
    _attr_native_step = 1.0
    _attr_native_unit_of_measurement = UnitOfTime.MINUTES
    _attr_mode = NumberMode.BOX

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
