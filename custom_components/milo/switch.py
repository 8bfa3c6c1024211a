"""The "Greet buddies" switch on each satellite with a head (greeting.py does the greeting),
and each agent's "Start answers early" (speculation.py: the model starts on milo-stt's
speculative transcript; off, it starts when HA ends the turn, as before).

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
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_OFF, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .const import SUBENTRY_CONVERSATION
from .data import MiloConfigEntry
from .entity import subentry_device
from .greeting import GreetingSetting, async_add_greeting_settings

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MiloConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One switch per satellite with a head, now and as they are adopted, and one per
    conversation agent."""
    async_add_greeting_settings(entry, async_add_entities, GreetBuddiesSwitch)
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_CONVERSATION:
            async_add_entities(
                [StartEarlySwitch(entry, subentry)], config_subentry_id=subentry.subentry_id
            )


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


class StartEarlySwitch(SwitchEntity, RestoreEntity):
    """Whether the agent starts the model on milo-stt's speculative transcript; starts on."""

    _attr_has_entity_name = True
    _attr_translation_key = "start_answers_early"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, entry: MiloConfigEntry, subentry: ConfigSubentry) -> None:
        self._speculations = entry.runtime_data.speculations
        self._agent = subentry.subentry_id
        self._attr_unique_id = f"{subentry.subentry_id}_start_answers_early"
        self._attr_device_info = subentry_device(entry, subentry)

    @property
    @override
    def is_on(self) -> bool:
        return self._agent not in self._speculations.agents_off

    @override
    async def async_added_to_hass(self) -> None:
        if (last := await self.async_get_last_state()) is not None and last.state == STATE_OFF:
            self._speculations.agents_off.add(self._agent)

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        self._speculations.agents_off.discard(self._agent)
        self.async_write_ha_state()

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        self._speculations.agents_off.add(self._agent)
        self.async_write_ha_state()
