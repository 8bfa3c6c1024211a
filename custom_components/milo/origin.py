"""Where a request came from: the Milo that heard it, and the room it was heard in.

With a Milo in several rooms, the head that moves and the camera that says who is talking
are those of the satellite that heard the request. The pipeline names it twice: the
assist_satellite entity (`satellite_id`) and its device (`device_id`); the entity wins, as
in HA's own agent, since it may have an area of its own. A request heard by a device with
no head (a phone, another voice satellite) moves no head and asks no camera. Only a text
chat, heard by no device, falls back to the satellite picked in the agent's options.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er

from .satellite_device import Satellite


@dataclass(frozen=True, slots=True)
class Origin:
    """The Milo to act on, and the area's name where the request was heard."""

    satellite: Satellite | None
    area: str | None

    def area_note(self) -> str:
        """The line that tells the model its room, for the note in front of the question.

        HA's intents already prefer devices in this area when a tool call names no room;
        this lets the model name the right one and answer "where are you".
        """
        if not self.area:
            return ""
        return (
            f"You are in {self.area}: a device named without a room means the one in {self.area}."
        )


@callback
def async_origin(
    hass: HomeAssistant,
    *,
    device_id: str | None,
    satellite_id: str | None = None,
    fallback: str | None = None,
) -> Origin:
    """The Milo and area of the device that heard a request; `fallback` when none did.

    `device_id` and `satellite_id` as a ConversationInput (or an LLMContext's device) has them.
    """
    area_id: str | None = None
    if satellite_id and (entity := er.async_get(hass).async_get(satellite_id)):
        device_id = entity.device_id or device_id
        area_id = entity.area_id
    if device_id is None:
        return Origin(Satellite(hass, fallback) if fallback else None, None)
    if area_id is None and (device := dr.async_get(hass).async_get(device_id)):
        area_id = dr.async_get_effective_area_id(hass, device)
    area = ar.async_get(hass).async_get_area(area_id) if area_id else None
    heard_by = Satellite(hass, device_id)
    return Origin(heard_by if heard_by.has_head() else None, area.name if area else None)
