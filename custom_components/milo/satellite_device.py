"""The Milo satellite (an ESPHome device) as the conversation agent sees it.

Entities are found by their stable ESPHome object ids on the device (the Milo that heard the
request, see origin.py), and the head's user-defined actions by ESPHome's service naming
(`esphome.<node_name>_<action>`). When the device does not offer an action, the head numbers
are moved directly instead.
"""

from __future__ import annotations

import asyncio

from homeassistant.const import STATE_OFF, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import slugify

from .const import DOMAIN

ESPHOME = "esphome"
STRANGER = "stranger"
# Head limits the tools accept; the satellite clamps further to its own servo limits.
PAN_RANGE = (-90.0, 90.0)
TILT_RANGE = (-45.0, 45.0)
# Without the gesture action a nod or a shake is played with the head numbers.
GESTURE_STEPS = {
    "nod": (("head_tilt", 15.0), ("head_tilt", -10.0), ("head_tilt", 0.0)),
    "shake": (("head_pan", -20.0), ("head_pan", 20.0), ("head_pan", 0.0)),
}
GESTURE_STEP_SECONDS = 0.3
BALANCED = "balanced"  # the satellite's default "End of speech" (its end_of_speech select)


class Satellite:
    """Look up and drive the entities and actions of one Milo satellite device."""

    def __init__(self, hass: HomeAssistant, device_id: str) -> None:
        """Remember the device; lookups happen on use so a re-adopted device still works."""
        self.hass = hass
        self.device_id = device_id

    def entity_id(self, domain: str, object_id: str) -> str | None:
        """Return the entity id of this device's entity with an ESPHome object id."""
        registry = er.async_get(self.hass)
        for entry in er.async_entries_for_device(registry, self.device_id):
            if entry.domain != domain:
                continue
            if entry.unique_id.endswith(f"-{object_id}") or entry.entity_id.split(".", 1)[
                1
            ].endswith(object_id):
                return entry.entity_id
        return None

    def has_head(self) -> bool:
        """Whether this is a Milo: a device with the head's look action or pan number."""
        return (
            self._action("look_at") is not None or self.entity_id("number", "head_pan") is not None
        )

    def person_in_view(self) -> str:
        """Return "" (nobody), "stranger" or the name of the buddy the camera sees."""
        return (self._state("sensor", "person_in_view") or "").strip()

    def camera_on(self) -> bool | None:
        """Whether the head's camera is on (its privacy switch); None when there is no
        switch to ask (not a Milo, or it is gone), so nothing is known of what it sees."""
        state = self._state("switch", "camera_on")
        return None if state is None else state != STATE_OFF

    def _action(self, action: str) -> str | None:
        """Return the ESPHome service name of a user-defined action, if registered."""
        device = dr.async_get(self.hass).async_get(self.device_id)
        if device is None:
            return None
        names: list[str] = []
        entry = self.hass.config_entries.async_get_entry(device.config_entry_id)
        if entry and entry.domain == ESPHOME and entry.data.get("device_name"):
            names.append(str(entry.data["device_name"]))
        names.append(device.name or "")
        for name in names:
            service = f"{slugify(name.replace('-', '_'))}_{action}"
            if self.hass.services.has_service(ESPHOME, service):
                return service
        return None

    async def async_look_at(self, pan: float, tilt: float) -> None:
        """Point the head at pan/tilt degrees."""
        if service := self._action("look_at"):
            await self._call(ESPHOME, service, {"pan": pan, "tilt": tilt})
            return
        await self._set_number("head_pan", pan)
        await self._set_number("head_tilt", tilt)

    async def async_gesture(self, name: str) -> None:
        """Play a gesture: "nod" or "shake"."""
        if service := self._action("gesture"):
            await self._call(ESPHOME, service, {"name": name})
            return
        for object_id, value in GESTURE_STEPS[name]:
            await self._set_number(object_id, value)
            await asyncio.sleep(GESTURE_STEP_SECONDS)

    async def async_trick(self, action: str, seconds: float) -> bool:
        """Start the satellite's `dance` or `drop_beat` action for about `seconds`; False
        when the device has no such action (not a Milo satellite)."""
        if service := self._action(action):
            await self._call(ESPHOME, service, {"seconds": seconds})
            return True
        return False

    def end_of_speech(self) -> str:
        """Its "End of speech" select: `fast`, `balanced` or `home assistant` ("" unknown)."""
        return self._state("select", "end_of_speech") or ""

    def _state(self, domain: str, object_id: str) -> str | None:
        """The state of this device's entity, None when it is missing or unknown."""
        entity_id = self.entity_id(domain, object_id)
        state = self.hass.states.get(entity_id) if entity_id else None
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return None
        return state.state

    def ends_turns(self) -> bool:
        """Whether the satellite takes a verdict on a request's words (its `end_of_turn`
        action: a Milo satellite that ends the turn itself)."""
        return self._action("end_of_turn") is not None

    async def async_end_of_turn(self, text: str) -> None:
        """Tell the satellite that `text`, the request's words so far, is a whole request."""
        if service := self._action("end_of_turn"):
            await self._call(ESPHOME, service, {"text": text})

    async def async_look_around(self, on: bool) -> None:
        """Switch the idle look-around behaviour on or off."""
        entity_id = self._require("switch", "look_around")
        await self._call("switch", "turn_on" if on else "turn_off", {"entity_id": entity_id})

    async def _set_number(self, object_id: str, value: float) -> None:
        entity_id = self._require("number", object_id)
        await self._call("number", "set_value", {"entity_id": entity_id, "value": value})

    def _require(self, domain: str, object_id: str) -> str:
        if entity_id := self.entity_id(domain, object_id):
            return entity_id
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="satellite_entity_missing",
            translation_placeholders={"entity": f"{domain}.{object_id}"},
        )

    async def _call(self, domain: str, service: str, data: dict[str, object]) -> None:
        await self.hass.services.async_call(domain, service, data, blocking=True)
