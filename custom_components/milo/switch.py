"""The "Greet buddies" switch on each satellite with a head (greeting.py does the greeting).

Why an entity of this integration attached to the satellite's device, not an ESPHome
switch kept in the satellite's preferences: the greeting is done here, by Milo's agent
side (the line bank, the announcement), so the setting lives with the code that acts on
it, as HA's ESPHome integration keeps its own Assist pipeline select on an ESPHome
device. An ESPHome switch would do nothing on the satellite, would still show when this
integration is not installed, and would have to be found again by name on each event.
The user still finds it where they look for it, on the satellite's device page; HA keeps
its state across restarts (RestoreEntity), and it starts on.
"""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .data import MiloConfigEntry
from .greeting import GreetingSetting, async_add_greeting_settings

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MiloConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One switch per satellite with a head, now and as they are adopted."""
    async_add_greeting_settings(entry, async_add_entities, GreetBuddiesSwitch)


class GreetBuddiesSwitch(GreetingSetting, SwitchEntity, RestoreEntity):
    """Whether Milo greets buddies arriving at this satellite."""

    _attr_translation_key = "greet_buddies"

    @property
    @override
    def is_on(self) -> bool:
        return self._satellite.enabled

    @override
    async def async_added_to_hass(self) -> None:
        if (last := await self.async_get_last_state()) is not None:
            self._satellite.enabled = last.state != STATE_OFF

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        self._satellite.enabled = True
        self.async_write_ha_state()

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        self._satellite.enabled = False
        self.async_write_ha_state()
