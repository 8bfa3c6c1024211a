"""Milo greets a buddy arriving at a satellite, by name, on that satellite.

The satellite's head fires `esphome.milo_buddy` (`event`: appeared, left or stranger;
`name`; and HA adds `device_id`). A buddy back after the gap (arrivals.py) hears a line
from the bank's `buddy_greeting` topic through `assist_satellite.announce` on the Assist
satellite of the device that saw them, in the voice of the agent that serves it.

Why in the integration rather than a blueprint: an automation remembers nothing between
runs, so it can only measure the gap from the person sensor's last change, and it has
no line bank; this works out of the box. Its settings are this integration's entities on
the satellite's device (switch.py, number.py), because this integration is what acts on
them; see switch.py for why they are not ESPHome switches on the satellite itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EntityCategory
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util

from . import persona
from .arrivals import Arrivals
from .const import (
    CONF_PERSONA_NAME,
    CONF_SARCASM,
    CONF_SATELLITE_DEVICE,
    DEFAULT_NAME,
    DEFAULT_SARCASM,
    LOGGER,
    SUBENTRY_CONVERSATION,
)

BUDDY_EVENT = "esphome.milo_buddy"
ESPHOME = "esphome"
# The head's buddy event entity is what makes a device a satellite that can greet: its
# event types (kept in the entity registry) include this one.
ARRIVAL_EVENT_TYPE = "appeared"
DEFAULT_GAP_MINUTES = 10.0
# A greeting waits this long for the satellite to finish what it is saying or hearing (a
# conversation, another buddy's hello); a hello later than that would be out of place.
BUSY_WAIT_S = 20.0
# AssistSatelliteState.IDLE, without importing the Assist satellite component (and the
# pipeline it needs) into an integration that must load without it.
IDLE = "idle"


@dataclass
class SatelliteGreeting:
    """One satellite's greeting settings (its switch and number) and who is there."""

    device: dr.AnyDeviceEntry
    enabled: bool = True
    gap_minutes: float = DEFAULT_GAP_MINUTES
    arrivals: Arrivals = field(default_factory=Arrivals)
    # One hello at a time: HA refuses an announcement while another is playing.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class BuddyGreeter:
    """Finds the satellites with a head, keeps their settings, greets arriving buddies."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Nothing is watched until `async_start`."""
        self.hass = hass
        self.entry = entry
        self.satellites: dict[str, SatelliteGreeting] = {}
        self._listeners: list[Callable[[SatelliteGreeting], None]] = []

    @callback
    def async_on_satellite(self, add: Callable[[SatelliteGreeting], None]) -> CALLBACK_TYPE:
        """Call `add` for each satellite known now and each found later (the platforms
        add their entities with it)."""
        for satellite in self.satellites.values():
            add(satellite)
        self._listeners.append(add)
        return lambda: self._listeners.remove(add)

    @callback
    def async_start(self) -> None:
        """Find the satellites there are, watch for new ones and for buddy events."""
        registry = er.async_get(self.hass)
        for entity in list(registry.entities.values()):
            self._consider(entity)
        self.entry.async_on_unload(
            self.hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, self._registry_updated)
        )
        self.entry.async_on_unload(self.hass.bus.async_listen(BUDDY_EVENT, self._buddy_event))

    @callback
    def _registry_updated(self, event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        if event.data["action"] == "remove":
            return
        if entity := er.async_get(self.hass).async_get(event.data["entity_id"]):
            self._consider(entity)

    @callback
    def _consider(self, entity: er.RegistryEntry) -> None:
        """Add the device of a head's buddy event entity, once."""
        if (
            entity.platform != ESPHOME
            or entity.domain != "event"
            or entity.device_id is None
            or entity.device_id in self.satellites
            or ARRIVAL_EVENT_TYPE not in ((entity.capabilities or {}).get("event_types") or ())
        ):
            return
        device = dr.async_get(self.hass).async_get(entity.device_id)
        if device is None:
            return
        satellite = SatelliteGreeting(device)
        self.satellites[device.id] = satellite
        for add in list(self._listeners):
            add(satellite)

    @callback
    def _buddy_event(self, event: Event) -> None:
        satellite = self.satellites.get(str(event.data.get("device_id")))
        name = str(event.data.get("name", "")).strip()
        if satellite is None or not name:
            return
        now = dt_util.utcnow().timestamp()
        match event.data.get("event"):
            case "left":
                satellite.arrivals.left(name, now)
            case "appeared":
                arrived = satellite.arrivals.appeared(name, now, satellite.gap_minutes * 60)
                if arrived and satellite.enabled:
                    self.entry.async_create_background_task(
                        self.hass, self._async_greet(satellite, name), f"milo greets {name}"
                    )

    async def _async_greet(self, satellite: SatelliteGreeting, name: str) -> None:
        async with satellite.lock:
            entity_id = self._assist_satellite(satellite.device.id)
            if entity_id is None:
                LOGGER.debug("Not greeting %s: %s has no Assist satellite", name, satellite.device)
                return
            if not await self._async_idle(entity_id):
                LOGGER.info("Not greeting %s: %s stayed busy", name, entity_id)
                return
            persona_name, sarcasm = self._voice(satellite.device.id)
            text = persona.buddy_greeting(name, sarcasm, persona_name)
            LOGGER.debug("Greeting %s on %s: %s", name, entity_id, text)
            try:
                await self.hass.services.async_call(
                    "assist_satellite",
                    "announce",
                    {"entity_id": entity_id, "message": text, "preannounce": False},
                    blocking=True,
                )
            except HomeAssistantError as err:
                LOGGER.warning("Could not greet %s on %s: %s", name, entity_id, err)

    def _assist_satellite(self, device_id: str) -> str | None:
        registry = er.async_get(self.hass)
        return next(
            (
                entity.entity_id
                for entity in er.async_entries_for_device(registry, device_id)
                if entity.domain == "assist_satellite" and not entity.disabled
            ),
            None,
        )

    async def _async_idle(self, entity_id: str) -> bool:
        """Whether the satellite is idle now or within BUSY_WAIT_S (False if not, or gone)."""

        def idle() -> bool:
            state = self.hass.states.get(entity_id)
            return state is not None and state.state == IDLE

        if idle():
            return True
        became_idle = asyncio.Event()

        @callback
        def changed(_event: Event[EventStateChangedData]) -> None:
            if idle():
                became_idle.set()

        unsubscribe = async_track_state_change_event(self.hass, entity_id, changed)
        try:
            async with asyncio.timeout(BUSY_WAIT_S):
                await became_idle.wait()
        except TimeoutError:
            return False
        finally:
            unsubscribe()
        return True

    def _voice(self, device_id: str) -> tuple[str, int]:
        """The persona name and sarcasm of the agent set to this satellite, else of the
        entry's first agent, else the defaults."""
        agents = [
            s.data
            for s in self.entry.subentries.values()
            if s.subentry_type == SUBENTRY_CONVERSATION
        ]
        options = next(
            (a for a in agents if a.get(CONF_SATELLITE_DEVICE) == device_id),
            agents[0] if agents else {},
        )
        return (
            str(options.get(CONF_PERSONA_NAME) or DEFAULT_NAME),
            int(options.get(CONF_SARCASM, DEFAULT_SARCASM)),
        )


class GreetingSetting(Entity):
    """A greeting setting of one satellite, on that satellite's device (switch.py says why
    it is this integration's entity); its unique id ends in its translation key."""

    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, entry: ConfigEntry, satellite: SatelliteGreeting) -> None:
        """Attach to the satellite's own device."""
        self._satellite = satellite
        self.device_entry = satellite.device
        self._attr_unique_id = f"{entry.entry_id}-{satellite.device.id}-{self.translation_key}"


def async_add_greeting_settings(
    entry: ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    setting: Callable[[ConfigEntry, SatelliteGreeting], GreetingSetting],
) -> None:
    """One `setting` per satellite with a head, now and as they are adopted."""

    @callback
    def add(satellite: SatelliteGreeting) -> None:
        async_add_entities([setting(entry, satellite)])

    entry.async_on_unload(entry.runtime_data.greeter.async_on_satellite(add))
